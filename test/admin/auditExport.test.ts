// The audit log's CSV export: read back by a CSV parser (csv-parse, the one
// the profile import uses) it gives every field as recorded, quotes and line
// breaks included; cells a spreadsheet would run as formulas are defused;
// on every test database, all matching events come out once each across
// pages, also while new events are recorded during the export.
import { expect } from 'chai';
import { parse as parseCsv } from 'csv-parse/sync';
import { auditCsvColumns, csvCell } from '../../src/admin/auditExport.ts';
import { DirectoryAdministration } from '../../src/admin/directoryAdministration.ts';
import { suiteStore, testDatabases } from '../support/databases.ts';
import { buildAuditEvent, uniqueName } from '../support/factories.ts';

const exported = async (lines: AsyncIterable<string>): Promise<string> => {
  let text = '';
  for await (const line of lines) text += line;
  return text;
};

describe('a CSV cell', () => {
  it('is quoted when it holds a quote, comma or line break, quotes doubled', () => {
    expect(csvCell('plain')).to.equal('plain');
    expect(csvCell('a,b')).to.equal('"a,b"');
    expect(csvCell('say "hi"')).to.equal('"say ""hi"""');
    expect(csvCell('two\nlines')).to.equal('"two\nlines"');
    expect(csvCell(undefined)).to.equal('');
    expect(csvCell(42)).to.equal('42');
  });

  it('starts with an apostrophe when a spreadsheet would read it as a formula', () => {
    for (const formula of ['=HYPERLINK("http://evil.example","x")', '+1+1', '-2+3', '@SUM(A1)', '\tcmd', '\rcmd']) expect(csvCell(formula), formula).to.match(/^"?'/);
    expect(csvCell('=1+1')).to.equal("'=1+1");
    expect(csvCell(-5), 'a number is not text anyone typed').to.equal('-5');
  });
});

for (const testDatabase of testDatabases()) {
  describe(`the audit CSV export on ${testDatabase.name}`, function () {
    this.timeout(60_000);
    const suite = suiteStore(testDatabase);
    const directory = () => new DirectoryAdministration(suite.store);

    it('gives every field back through a CSV parser, formulas defused, with the same filters as the list', async () => {
      const actor = uniqueName('admin');
      await suite.store.auditEvents.record(buildAuditEvent({ type: 'binding.created', actor, accountId: 'acc-1', profileId: 'P-1', ip: '203.0.113.9', details: { reason: 'ticket "42", line one\nline two' } }));
      await suite.store.auditEvents.record(buildAuditEvent({ type: 'binding.created', actor, profileId: '=cmd|"/c calc"!A1' }));
      await suite.store.auditEvents.record(buildAuditEvent({ type: 'sign_in', actor }));

      const rows = parseCsv(await exported(directory().exportAuditEvents({ actor, type: 'binding.created' })), { columns: true, record_delimiter: '\r\n' }) as Array<Record<string, string>>;

      expect(rows).to.have.length(2);
      expect(Object.keys(rows[0]!)).to.deep.equal([...auditCsvColumns]);
      const [formula, first] = rows;
      expect(formula!.profile_id).to.equal(`'=cmd|"/c calc"!A1`);
      expect(first).to.include({ type: 'binding.created', actor, account_id: 'acc-1', profile_id: 'P-1', ip: '203.0.113.9', client_id: '' });
      expect(JSON.parse(first!.details!)).to.deep.equal({ reason: 'ticket "42", line one\nline two' });
      expect(Date.parse(first!.occurred_at!)).to.be.a('number').and.not.NaN;
    });

    it('exports every matching event once across pages, newest first, while new ones are recorded', async () => {
      const type = uniqueName('bulk');
      const total = 1_201;
      await suite.database.batchInsert('audit_events', Array.from({ length: total }, (_, index) => ({ type, outcome: 'success', occurred_at: Date.now(), actor: `n${index}` })), 200);
      const lines = directory().exportAuditEvents({ type })[Symbol.asyncIterator]();
      let text = '';
      let chunk = await lines.next();
      text += chunk.value;
      // The header, then the first page: events recorded now do not shift the pages still to come.
      chunk = await lines.next();
      for (let index = 0; index < 3; index += 1) await suite.store.auditEvents.record(buildAuditEvent({ type }));
      while (!chunk.done) {
        text += chunk.value;
        chunk = await lines.next();
      }

      const rows = parseCsv(text, { columns: true }) as Array<Record<string, string>>;
      const ids = rows.map((row) => Number(row.id));
      expect(new Set(ids).size).to.equal(ids.length);
      expect(ids).to.deep.equal([...ids].sort((a, b) => b - a));
      expect(rows.filter((row) => row.actor.startsWith('n'))).to.have.length(total);
    });
  });
}
