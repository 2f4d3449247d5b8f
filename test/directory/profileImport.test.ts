import { expect } from 'chai';
import { normalizeEmail, parseEmail } from '../../src/directory/email.ts';
import { parseProfileCsv, parseProfileFile, parseProfileJson } from '../../src/directory/profileImport.ts';

describe('MBS email addresses', () => {
  it('are compared trimmed and lower-cased', () => {
    expect(normalizeEmail('  Jane.Doe@Contoso.COM ')).to.equal('jane.doe@contoso.com');
    expect(parseEmail(' Jane.Doe@Contoso.COM')).to.equal('jane.doe@contoso.com');
  });

  it('reject what is not an address', () => {
    for (const value of ['', 'jane', 'jane@', '@contoso.com', 'a b@c.com', 42, undefined]) {
      expect(parseEmail(value), String(value)).to.equal(undefined);
    }
  });
});

describe('profile import files', () => {
  it('read CSV with a header row, normalising emails and splitting roles', () => {
    const { profiles, rejected } = parseProfileCsv(
      'id,portal,email,display_name,organization,roles\nP-1,PartnerSource, Jane@Contoso.com ,Jane Doe,Contoso,admin;billing\nC-2,customersource,jane@contoso.com,Jane Doe,Fabrikam,\n',
    );
    expect(rejected).to.deep.equal([]);
    expect(profiles).to.deep.equal([
      { id: 'P-1', portal: 'partnersource', email: 'jane@contoso.com', displayName: 'Jane Doe', organization: 'Contoso', roles: ['admin', 'billing'] },
      { id: 'C-2', portal: 'customersource', email: 'jane@contoso.com', displayName: 'Jane Doe', organization: 'Fabrikam', roles: [] },
    ]);
  });

  it('reject bad CSV rows with their line numbers and keep the good ones', () => {
    const { profiles, rejected } = parseProfileCsv(
      'id,portal,email,display_name,organization,roles\nP-1,partnersource,jane@contoso.com,Jane,Contoso,\nP-2,intranet,jane@contoso.com,Jane,Contoso,\nP-3,partnersource,not-an-email,Jane,Contoso,\nP-1,partnersource,jane@contoso.com,Jane,Contoso,\n',
    );
    expect(profiles.map((profile) => profile.id)).to.deep.equal(['P-1']);
    expect(rejected.map((row) => row.line)).to.deep.equal([3, 4, 5]);
    expect(rejected[0]!.reason).to.contain('portal');
    expect(rejected[1]!.reason).to.contain('not-an-email');
    expect(rejected[2]!.reason).to.contain('first on line 2');
  });

  it('report broken CSV instead of throwing', () => {
    const { profiles, rejected } = parseProfileCsv('id,portal,email\n"unterminated,partnersource,x@y.z\n');
    expect(profiles).to.deep.equal([]);
    expect(rejected[0]!.reason).to.contain('not valid CSV');
  });

  it('read a JSON array (or {profiles: [...]}) and number bad entries from 1', () => {
    const good = { id: 'P-1', portal: 'partnersource', email: 'a@b.com', displayName: 'A', organization: 'B', roles: ['x'] };
    const parsed = parseProfileJson(JSON.stringify({ profiles: [good, { ...good, id: '' }, 'nonsense'] }));
    expect(parsed.profiles).to.have.length(1);
    expect(parsed.rejected.map((row) => row.line)).to.deep.equal([2, 3]);
  });

  it('report JSON that does not parse or is not a list', () => {
    expect(parseProfileJson('{').rejected[0]!.reason).to.contain('not valid JSON');
    expect(parseProfileJson('{"a":1}').rejected[0]!.reason).to.contain('expected a JSON array');
  });

  it('choose the parser from the file name or the content', () => {
    const json = '[{"id":"P-1","portal":"partnersource","email":"a@b.com","display_name":"A","organization":"B","roles":"x|y"}]';
    expect(parseProfileFile('profiles.txt', json).profiles[0]!.roles).to.deep.equal(['x', 'y']);
    expect(parseProfileFile('profiles.json', json).profiles).to.have.length(1);
  });
});
