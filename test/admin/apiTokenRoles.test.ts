// Admin API tokens carry the console's roles: ADMIN_TOKEN acts as admin, a
// stored support token reaches people, bindings, links and emails but not
// clients or keys, an auditor token reads the audit log only, and a revoked
// token nothing. Changes made with a stored token are audited with its id.
import { expect } from 'chai';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { buildProfile } from '../support/factories.ts';

const adminToken = 'api-token-roles-admin-token';

describe('admin API token roles', function () {
  this.timeout(60_000);
  let running: RunningBroker;
  let tokens: Record<'support' | 'auditor', { token: string; id: string }>;

  before(async () => {
    running = await startBroker({ ADMIN_TOKEN: adminToken });
    const access = running.broker.administration({ surface: 'cli' }).access;
    const support = await access.issueToken('support', 'help desk');
    const auditor = await access.issueToken('auditor', 'compliance');
    tokens = { support: { token: support.token, id: support.record.id }, auditor: { token: auditor.token, id: auditor.record.id } };
  });
  after(() => running.stop());

  const call = (token: string, method: string, path: string, body?: unknown) =>
    fetch(`${running.issuer}/admin/api${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });

  it('refuses a support token on clients and keys, with nothing changed', async () => {
    const keysBefore = (await running.broker.keys.list()).map((key) => key.kid);
    for (const [method, path, body] of [
      ['GET', '/clients'],
      ['POST', '/clients', { id: 'support-made', portal: 'both', redirectUris: ['https://support.example/cb'] }],
      ['GET', '/signing-keys'],
      ['POST', '/signing-keys/rotate'],
      ['POST', '/cookie-keys/rotate'],
      ['POST', '/initial-access-tokens', { portal: 'both' }],
      ['DELETE', '/profiles/MBS-ANY'],
    ] as Array<[string, string, unknown?]>) {
      const answer = await call(tokens.support.token, method, path, body);
      expect(answer.status, `${method} ${path}`).to.equal(403);
      expect(((await answer.json()) as { error: string }).error).to.equal('forbidden');
    }
    expect(await running.broker.store.clients.find('support-made')).to.equal(undefined);
    expect((await running.broker.keys.list()).map((key) => key.kid)).to.deep.equal(keysBefore);
  });

  it('lets a support token read and unbind, audited with the token’s id', async () => {
    const profile = buildProfile();
    await running.broker.store.profiles.upsert(profile);
    const accountId = await running.broker.administration({ surface: 'cli' }).access.grantIdentity({ issuer: 'https://login.example', subject: 'api-token-roles-person' }, 'auditor').then((role) => role.accountId);
    await running.broker.store.profileBindings.bind({ profileId: profile.id, accountId, identityId: undefined, method: 'admin' });
    expect((await call(tokens.support.token, 'GET', `/bindings?profile=${profile.id}`)).status).to.equal(200);
    expect((await call(tokens.support.token, 'GET', '/outbox')).status).to.equal(200);
    expect((await call(tokens.support.token, 'DELETE', `/bindings/${profile.id}`)).status).to.equal(204);
    const removed = (await running.broker.store.auditEvents.list({ type: 'binding.removed', profileId: profile.id })).items[0];
    expect(removed).to.include({ actor: 'admin-api' });
    expect(removed?.details).to.deep.include({ adminToken: tokens.support.id });
  });

  it('lets an auditor token read the audit log and nothing else', async () => {
    expect((await call(tokens.auditor.token, 'GET', '/audit-events')).status).to.equal(200);
    expect((await call(tokens.auditor.token, 'GET', '/bindings')).status).to.equal(403);
    expect((await call(tokens.auditor.token, 'DELETE', '/bindings/MBS-ANY')).status).to.equal(403);
  });

  it('declares each route’s roles in the OpenAPI document', async () => {
    const document = (await (await fetch(`${running.issuer}/admin/api/openapi.json`)).json()) as { paths: Record<string, Record<string, { 'x-mbs-roles': string[] }>> };
    expect(document.paths['/bindings']!.get!['x-mbs-roles']).to.deep.equal(['admin', 'support']);
    expect(document.paths['/audit-events']!.get!['x-mbs-roles']).to.deep.equal(['admin', 'support', 'auditor']);
    expect(document.paths['/signing-keys/rotate']!.post!['x-mbs-roles']).to.deep.equal(['admin']);
  });

  it('keeps ADMIN_TOKEN as admin, and refuses a revoked token', async () => {
    expect((await call(adminToken, 'GET', '/signing-keys')).status).to.equal(200);
    const { token, record } = await running.broker.administration({ surface: 'cli' }).access.issueToken('admin', 'short-lived');
    expect((await call(token, 'GET', '/clients')).status).to.equal(200);
    await running.broker.administration({ surface: 'cli' }).access.revokeToken(record.id);
    const refused = await call(token, 'GET', '/clients');
    expect(refused.status).to.equal(401);
    expect(refused.headers.get('www-authenticate')).to.contain('Bearer');
  });
});
