// The console's audit log over HTTP with a real broker: every role reads it,
// filters narrow it, a bad day is shown beside its field, and the CSV
// download carries the same filters with formula cells defused.
import { expect } from 'chai';
import { parse as parseCsv } from 'csv-parse/sync';
import { startBroker, type RunningBroker } from '../../support/broker.ts';
import { consoleUser } from '../../support/console.ts';
import { buildAuditEvent, uniqueName } from '../../support/factories.ts';

describe('the console’s audit log', function () {
  this.timeout(60_000);
  let running: RunningBroker;

  before(async () => {
    running = await startBroker();
  });
  after(() => running.stop());

  it('lets an auditor filter the events and download them as CSV, formulas defused', async () => {
    const type = uniqueName('test.event');
    await running.broker.store.auditEvents.record(buildAuditEvent({ type, actor: 'cli', profileId: 'AUD-1' }));
    await running.broker.store.auditEvents.record(buildAuditEvent({ type, actor: 'console', profileId: '=HYPERLINK("http://evil.example")' }));
    await running.broker.store.auditEvents.record(buildAuditEvent({ type: 'sign_in', actor: 'user', profileId: 'AUD-2' }));
    const { person, page } = await consoleUser(running, uniqueName('auditor'), 'auditor');
    expect(page.body).to.contain('href="/admin/audit"');

    const filtered = await person.browser.get(`${running.issuer}/admin/audit?type=${encodeURIComponent(type)}&actor=cli`);
    expect(filtered.status).to.equal(200);
    expect(filtered.body).to.contain('AUD-1').and.not.contain('AUD-2').and.not.contain('HYPERLINK');
    const today = new Date().toISOString().slice(0, 10);
    const byDay = await person.browser.get(`${running.issuer}/admin/audit?type=${encodeURIComponent(type)}&since=${today}&until=${today}`);
    expect(byDay.body).to.contain('AUD-1').and.contain('HYPERLINK');
    const bad = await person.browser.get(`${running.issuer}/admin/audit?since=yesterday`);
    expect(bad.status).to.equal(400);
    expect(bad.body).to.match(/id="filter-since"[^>]*aria-invalid="true"/).and.contain('Enter a day as YYYY-MM-DD.');

    const csv = await person.browser.get(`${running.issuer}/admin/audit.csv?type=${encodeURIComponent(type)}`);
    expect(csv.status).to.equal(200);
    expect(csv.headers.get('content-type')).to.match(/^text\/csv/);
    const rows = parseCsv(csv.body, { columns: true }) as Array<Record<string, string>>;
    expect(rows.map((row) => row.profile_id)).to.deep.equal([`'=HYPERLINK("http://evil.example")`, 'AUD-1']);
  });

  it('is open to support too, and refuses a POST from anyone', async () => {
    const { person } = await consoleUser(running, uniqueName('desk'), 'support');
    expect((await person.browser.get(`${running.issuer}/admin/audit`)).status).to.equal(200);
    expect((await person.browser.post(`${running.issuer}/admin/audit`, { type: 'x' })).status).to.be.oneOf([404, 405]);
  });
});
