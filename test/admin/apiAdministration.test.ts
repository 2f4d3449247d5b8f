// Registering APIs as resource servers: the service's validation and audit
// events on each database, and the admin API's /apis routes (admin only,
// identifiers URL-encoded in paths, declared in the OpenAPI document).
import { expect } from 'chai';
import { ApiAdministration } from '../../src/admin/apiAdministration.ts';
import { BrokerError } from '../../src/errors.ts';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { suiteStore, testDatabases } from '../support/databases.ts';
import { buildClient } from '../support/factories.ts';

const identifier = 'https://orders.partnersource.example/api';

async function refusal(work: Promise<unknown>): Promise<BrokerError> {
  const failure = await work.then(() => undefined, (error: unknown) => error);
  expect(failure).to.be.instanceOf(BrokerError);
  return failure as BrokerError;
}

for (const testDatabase of testDatabases()) {
  describe(`API administration on ${testDatabase.name}`, () => {
    const suite = suiteStore(testDatabase);
    const service = () => new ApiAdministration({ apis: suite.store.resourceServers, clients: suite.store.clients, audit: suite.store.auditEvents }, 'cli');

    it('registers with defaults (JWT, 300 s, no clients), updates and removes, each an audit event', async () => {
      const client = buildClient({ id: 'orders-backend' });
      await suite.store.clients.create(client);
      const api = await service().register({ identifier, name: 'Orders', scopes: ['orders:read', 'orders:read'] });
      expect(api).to.deep.include({ identifier, scopes: ['orders:read'], tokenFormat: 'jwt', accessTokenTtl: 300, allowedClients: [] });
      const updated = await service().update(identifier, { tokenFormat: 'opaque', allowedClients: ['orders-backend'] });
      expect(updated).to.deep.include({ tokenFormat: 'opaque', allowedClients: ['orders-backend'], name: 'Orders' });
      await service().remove(identifier);
      expect((await refusal(service().show(identifier))).code).to.equal('not_found');
      const events = await suite.store.auditEvents.list({ actor: 'cli' });
      expect(events.items.map((event) => event.type).reverse()).to.deep.equal(['resource_server.created', 'resource_server.updated', 'resource_server.removed']);
      expect(events.items.every((event) => event.details?.identifier === identifier)).to.equal(true);
    });

    it('refuses identifiers that are not https URIs without fragment, bad scopes and lifetimes, unknown clients and a taken identifier', async () => {
      const cases: Array<[Parameters<ApiAdministration['register']>[0], string]> = [
        [{ identifier: 'orders', name: 'x', scopes: ['a'] }, 'identifier'],
        [{ identifier: 'http://orders.example/api', name: 'x', scopes: ['a'] }, 'identifier'],
        [{ identifier: 'https://orders.example/api#part', name: 'x', scopes: ['a'] }, 'identifier'],
        [{ identifier, name: 'x', scopes: [] }, 'scopes'],
        [{ identifier, name: 'x', scopes: ['two words'] }, 'scopes.0'],
        [{ identifier, name: 'x', scopes: ['openid'] }, 'scopes.0'],
        [{ identifier, name: 'x', scopes: ['a'], accessTokenTtl: 5 }, 'accessTokenTtl'],
        [{ identifier, name: 'x', scopes: ['a'], allowedClients: ['nobody'] }, 'allowedClients'],
      ];
      for (const [input, field] of cases) {
        const error = await refusal(service().register(input));
        expect(error.code, JSON.stringify(input)).to.equal('invalid_request');
        expect(error.fields, JSON.stringify(input)).to.have.property(field);
      }
      // Loopback APIs may use http (development).
      await service().register({ identifier: 'http://127.0.0.1:4000/api', name: 'Local', scopes: ['a'] });
      await service().register({ identifier: 'https://taken.example/', name: 'x', scopes: ['a'] });
      expect((await refusal(service().register({ identifier: 'https://taken.example/', name: 'y', scopes: ['b'] }))).code).to.equal('conflict');
      expect((await refusal(service().update('https://nowhere.example/', { name: 'z' }))).code).to.equal('not_found');
    });
  });
}

describe('the admin API’s /apis routes', function () {
  this.timeout(30_000);
  const token = 'admin-token-for-api-tests';
  let running: RunningBroker;
  before(async () => {
    running = await startBroker({ ADMIN_TOKEN: token });
  });
  after(() => running.stop());

  async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(`${running.issuer}/admin/api${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }

  it('registers, shows (identifier URL-encoded), changes, lists and removes an API', async () => {
    const path = `/apis/${encodeURIComponent(identifier)}`;
    const created = await call('POST', '/apis', { identifier, name: 'Orders', scopes: ['orders:read'], accessTokenTtl: 600 });
    expect(created.status).to.equal(201);
    expect(created.body).to.include({ identifier, token_format: 'jwt', access_token_ttl: 600 });
    expect((await call('POST', '/apis', { identifier, name: 'Again', scopes: ['x'] })).status).to.equal(409);
    const invalid = await call('POST', '/apis', { identifier: 'ftp://orders.example/', name: 'x', scopes: ['a'] });
    expect(invalid.status).to.equal(400);
    expect(invalid.body.fields).to.have.property('identifier');
    expect((await call('GET', path)).body).to.include({ identifier, name: 'Orders' });
    expect((await call('PATCH', path, { scopes: ['orders:read', 'orders:write'] })).body).to.deep.include({ scopes: ['orders:read', 'orders:write'] });
    expect(((await call('GET', '/apis')).body.items as Array<{ identifier: string }>).map((api) => api.identifier)).to.deep.equal([identifier]);
    expect((await call('DELETE', path)).status).to.equal(204);
    expect((await call('GET', path)).status).to.equal(404);
  });

  it('admits admins only, as its OpenAPI document declares', async () => {
    const document = (await (await fetch(`${running.issuer}/admin/api/openapi.json`)).json()) as { paths: Record<string, Record<string, { 'x-mbs-roles': string[] }>> };
    for (const [path, method] of [['/apis', 'post'], ['/apis', 'get'], ['/apis/{identifier}', 'patch'], ['/apis/{identifier}', 'delete']] as const) {
      expect(document.paths[path]![method]!['x-mbs-roles'], `${method} ${path}`).to.deep.equal(['admin']);
    }
  });
});
