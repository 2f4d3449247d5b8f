// The admin API as an admin's script uses it: every endpoint, with its 401,
// 400 (naming the field), 404 and paging; the OpenAPI document covering
// exactly the routes served; and the admin changes in the audit log.
import { expect } from 'chai';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { buildProfile } from '../support/factories.ts';

const token = 'admin-token-for-tests-1';
const rotatedToken = 'admin-token-for-tests-2';

interface Answer {
  status: number;
  body: Record<string, unknown> & { items?: Array<Record<string, unknown>>; total?: number; fields?: Record<string, string> };
}

describe('admin API', function () {
  this.timeout(30_000);
  let running: RunningBroker;

  before(async () => {
    running = await startBroker({ ADMIN_TOKEN: `${token}, ${rotatedToken}` });
  });
  after(() => running.stop());

  async function call(method: string, path: string, body?: unknown, options: { token?: string | null; contentType?: string } = {}): Promise<Answer> {
    const headers: Record<string, string> = {};
    if (options.token !== null) headers.authorization = `Bearer ${options.token ?? token}`;
    if (body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
    const response = await fetch(`${running.issuer}/admin/api${path}`, { method, headers, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
    const text = await response.text();
    // Every answer with a body is JSON; only a body-less one (204) may go without a type.
    if (text) expect(response.headers.get('content-type'), `${method} ${path}`).to.match(/^application\/json/);
    return { status: response.status, body: text ? (JSON.parse(text) as Answer['body']) : {} };
  }

  it('refuses every route without a valid token, and accepts each configured token', async () => {
    for (const [method, path] of [['GET', '/clients'], ['POST', '/clients'], ['GET', '/profiles'], ['DELETE', '/bindings/x'], ['GET', '/audit-events'], ['GET', '/outbox'], ['GET', '/link-requests']] as const) {
      const anonymous = await call(method, path, undefined, { token: null });
      expect(anonymous.status, `${method} ${path}`).to.equal(401);
      expect(anonymous.body.error).to.equal('unauthorized');
      expect((await call(method, path, undefined, { token: 'admin-token-for-tests-3' })).status).to.equal(401);
    }
    expect((await call('GET', '/clients', undefined, { token: rotatedToken })).status).to.equal(200);
  });

  it('manages clients: create (secret once), list, show, update, rotate, disable, enable, delete', async () => {
    const bad = await call('POST', '/clients', { portal: 'elsewhere', redirectUris: ['https://rp.example/cb'] });
    expect(bad.status).to.equal(400);
    expect(bad.body.fields).to.have.keys('body.portal');
    const badUri = await call('POST', '/clients', { portal: 'both', redirectUris: ['ftp://rp.example/cb'] });
    expect(badUri.status).to.equal(400);
    expect(badUri.body.fields).to.have.keys('redirectUris.0');
    const unknownField = await call('POST', '/clients', { portal: 'both', redirectUris: ['https://rp.example/cb'], colour: 'blue' });
    expect(unknownField.status).to.equal(400);
    expect(JSON.stringify(unknownField.body.fields)).to.contain('colour');
    expect((await call('POST', '/clients', '{not json')).status).to.equal(400);

    const created = await call('POST', '/clients', { id: 'reports-app', name: 'Reports', portal: 'customersource', redirectUris: ['https://reports.example/cb'], grantTypes: ['client_credentials'] });
    expect(created.status).to.equal(201);
    const secret = String(created.body.client_secret);
    expect(secret).to.have.length.greaterThan(40);
    expect((await call('POST', '/clients', { id: 'reports-app', portal: 'both', redirectUris: ['https://reports.example/cb'] })).status).to.equal(409);

    const listed = await call('GET', '/clients');
    expect(listed.body.items!.map((client) => client.client_id)).to.include('reports-app');
    expect(JSON.stringify(listed.body)).to.not.contain(secret).and.not.contain('sha256:');
    expect((await call('GET', '/clients/reports-app')).body).to.include({ portal: 'customersource', client_name: 'Reports', disabled: false });
    expect((await call('GET', '/clients/nobody')).status).to.equal(404);

    const updated = await call('PATCH', '/clients/reports-app', { portal: 'both', redirectUris: ['https://reports.example/callback'] });
    expect(updated.body).to.deep.include({ portal: 'both', redirect_uris: ['https://reports.example/callback'] });
    expect((await call('PATCH', '/clients/reports-app', { redirectUris: [] })).body.fields).to.have.key('body.redirectUris');
    expect((await call('PATCH', '/clients/nobody', { name: 'x' })).status).to.equal(404);

    // The profile picker per client: ask (the default) or all, and nothing else.
    expect((await call('GET', '/clients/reports-app')).body).to.not.have.key('profile_selection');
    expect((await call('PATCH', '/clients/reports-app', { profileSelection: 'all' })).body).to.include({ profile_selection: 'all' });
    expect((await call('PATCH', '/clients/reports-app', { profileSelection: 'sometimes' })).status).to.equal(400);
    expect((await call('POST', '/clients', { portal: 'both', redirectUris: ['https://rp.example/cb'], profileSelection: 'first' })).status).to.equal(400);

    const tokenWith = (clientSecret: string) =>
      fetch(`${running.issuer}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`reports-app:${clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
    expect((await tokenWith(secret)).status).to.equal(200);
    const rotated = await call('POST', '/clients/reports-app/rotate-secret');
    expect((await tokenWith(secret)).status).to.equal(401);
    const newSecret = String(rotated.body.client_secret);
    expect((await tokenWith(newSecret)).status).to.equal(200);

    expect((await call('POST', '/clients/reports-app/disable')).body.disabled).to.equal(true);
    expect((await tokenWith(newSecret)).status, 'a disabled client gets no token').to.equal(401);
    expect((await call('POST', '/clients/reports-app/enable')).body.disabled).to.equal(false);
    expect((await tokenWith(newSecret)).status).to.equal(200);

    expect((await call('DELETE', '/clients/reports-app')).status).to.equal(204);
    expect((await call('DELETE', '/clients/reports-app')).status).to.equal(404);

    const changes = await call('GET', '/audit-events?client=reports-app&limit=20');
    expect(changes.body.items!.map((event) => event.type)).to.include.members(['client.created', 'client.updated', 'client.secret_rotated', 'client.disabled', 'client.enabled', 'client.removed']);
    expect(changes.body.items!.every((event) => event.actor === 'admin-api')).to.equal(true);
  });

  it('manages profiles: CSV and JSON import, upsert one, list with paging and email search, delete with its binding', async () => {
    const csv = 'id,portal,email,display_name,organization,roles\nAPI-1,partnersource,Ann@Contoso.example,Ann,Contoso,admin\nAPI-2,partnersource,nope,Bad,Contoso,\n';
    const imported = await call('POST', '/profiles/import', csv, { contentType: 'text/csv' });
    expect(imported.status).to.equal(200);
    expect(imported.body).to.include({ created: 1 });
    expect((imported.body.rejected as unknown[]).length).to.equal(1);
    const json = await call('POST', '/profiles/import', [buildProfile({ id: 'API-3', email: 'ann@contoso.example' }), buildProfile({ id: 'API-4' })]);
    expect(json.body).to.include({ created: 2 });
    expect((await call('POST', '/profiles/import', { not: 'an array' })).status).to.equal(400);

    const upserted = await call('PUT', '/profiles/API-5', { portal: 'customersource', email: 'Zoe@Fabrikam.example', displayName: 'Zoe', organization: 'Fabrikam', roles: ['member'] });
    expect(upserted.status).to.equal(201);
    expect(upserted.body).to.include({ id: 'API-5', email: 'zoe@fabrikam.example' });
    expect((await call('PUT', '/profiles/API-5', { portal: 'customersource', email: 'zoe@fabrikam.example', displayName: 'Zoe Q', organization: 'Fabrikam', roles: [] })).status).to.equal(200);
    const invalid = await call('PUT', '/profiles/API-6', { portal: 'customersource', email: 'not-an-email', displayName: 'X', organization: 'Y' });
    expect(invalid.status).to.equal(400);
    expect(invalid.body.fields).to.have.key('email');

    const byEmail = await call('GET', '/profiles?email=ann@contoso.example');
    expect(byEmail.body.items!.map((profile) => profile.id)).to.have.members(['API-1', 'API-3']);
    // As a person types it: the address is normalised, as the CLI does.
    expect((await call('GET', `/profiles?email=${encodeURIComponent(' Ann@Contoso.EXAMPLE ')}`)).body.total).to.equal(2);
    const first = await call('GET', '/profiles?limit=2&offset=0');
    const second = await call('GET', '/profiles?limit=2&offset=2');
    expect(first.body.items).to.have.length(2);
    expect(first.body).to.include({ limit: 2, offset: 0 });
    expect(first.body.total).to.be.at.least(4);
    expect(second.body.items![0]!.id).to.not.equal(first.body.items![0]!.id);
    expect((await call('GET', '/profiles?limit=0')).body.fields).to.have.key('query.limit');

    // A bound profile: deleting it removes its binding.
    await running.broker.store.transaction(async (repositories) => {
      const account = await repositories.accounts.create({ email: 'zoe@fabrikam.example' });
      const identity = await repositories.identities.create({ accountId: account.id, issuer: 'https://up.example', subject: 'zoe' });
      await repositories.profileBindings.bind({ profileId: 'API-5', accountId: account.id, identityId: identity.id, method: 'admin' });
    });
    expect((await call('GET', '/bindings?profile=API-5')).body.total).to.equal(1);
    expect((await call('DELETE', '/profiles/API-5')).status).to.equal(204);
    expect((await call('GET', '/bindings?profile=API-5')).body.total).to.equal(0);
    expect((await call('DELETE', '/profiles/API-5')).status).to.equal(404);
  });

  it('lists and removes bindings by account, profile or email', async () => {
    const accountId = await running.broker.store.transaction(async (repositories) => {
      await repositories.profiles.upsert(buildProfile({ id: 'BIND-1', email: 'bo@contoso.example' }));
      const account = await repositories.accounts.create({ email: 'bo@contoso.example' });
      const identity = await repositories.identities.create({ accountId: account.id, issuer: 'https://up.example', subject: 'bo' });
      await repositories.profileBindings.bind({ profileId: 'BIND-1', accountId: account.id, identityId: identity.id, method: 'admin' });
      return account.id;
    });
    expect((await call('GET', `/bindings?account=${accountId}`)).body.total).to.equal(1);
    expect((await call('GET', '/bindings?email=bo@contoso.example')).body.total).to.equal(1);
    expect((await call('GET', '/bindings?email=Bo@Contoso.Example')).body.total).to.equal(1);
    expect((await call('DELETE', '/bindings/BIND-1')).status).to.equal(204);
    expect((await call('DELETE', '/bindings/BIND-1')).status).to.equal(404);
    expect((await call('GET', `/bindings?account=${accountId}`)).body.total).to.equal(0);
  });

  it('lists and revokes pending link requests, and lists and retries the outbox', async () => {
    const link = await running.broker.store.transaction(async (repositories) => {
      await repositories.profiles.upsert(buildProfile({ id: 'LINK-1' }));
      return repositories.linkRequests.create({ tokenHash: 'sha256:abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ', flowId: undefined, profileId: 'LINK-1', issuer: 'https://up.example', subject: 'li', interactionUid: undefined, expiresAt: Date.now() + 60_000 });
    });
    const pending = await call('GET', '/link-requests');
    expect(pending.body.items!.map((item) => item.id)).to.include(link.id);
    expect(JSON.stringify(pending.body)).to.not.contain('sha256:');
    expect((await call('POST', `/link-requests/${link.id}/revoke`)).status).to.equal(204);
    expect((await call('POST', `/link-requests/${link.id}/revoke`)).status).to.equal(404);

    await running.broker.outboxWorker.stop();
    const id = await running.broker.outbox.queue(running.broker.database, { kind: 'test', recipient: 'ops@contoso.example', subject: 'Held', html: '<p>secret link</p>', text: 'secret link' });
    const outbox = await call('GET', '/outbox?pending=true');
    expect(outbox.body.items!.map((item) => item.id)).to.include(id);
    expect(JSON.stringify(outbox.body)).to.not.contain('secret link');
    expect((await call('POST', `/outbox/${id}/retry`)).status).to.equal(204);
    expect((await call('POST', '/outbox/no-such-message/retry')).status).to.equal(404);
  });

  it('filters audit events by type, client and time range, with paging', async () => {
    const now = Date.now();
    const since = new Date(now - 60 * 60 * 1000).toISOString();
    const all = await call('GET', `/audit-events?since=${encodeURIComponent(since)}&limit=500`);
    expect(all.body.total).to.be.greaterThan(5);
    const typed = await call('GET', '/audit-events?type=client.created');
    expect(typed.body.items!.every((event) => event.type === 'client.created')).to.equal(true);
    const future = await call('GET', `/audit-events?since=${encodeURIComponent(new Date(now + 3_600_000).toISOString())}`);
    expect(future.body.total).to.equal(0);
    const page = await call('GET', '/audit-events?limit=1&offset=1');
    expect(page.body.items).to.have.length(1);
    expect((await call('GET', '/audit-events?until=tomorrow')).body.fields).to.have.key('query.until');
  });

  it('searches clients by id, name, portal or redirect URI', async () => {
    await call('POST', '/clients', { id: 'search-me', name: 'Quarterly Reports', portal: 'customersource', redirectUris: ['https://quarterly.example/cb'] });
    for (const text of ['SEARCH-me', 'quarterly reports', 'quarterly.example']) {
      expect((await call('GET', `/clients?search=${encodeURIComponent(text)}`)).body.items!.map((client) => client.client_id), text).to.deep.equal(['search-me']);
    }
    expect((await call('GET', '/clients?search=nothing-like-it')).body.items).to.deep.equal([]);
  });

  it('previews a profile import without writing, and the import then reports the same counts', async () => {
    const csv = 'id,portal,email,display_name,organization,roles\nPREVIEW-1,partnersource,p1@contoso.example,P One,Contoso,\nPREVIEW-2,elsewhere,p2@contoso.example,P Two,Contoso,\n';
    const preview = await call('POST', '/profiles/import/preview', csv, { contentType: 'text/csv' });
    expect(preview.body).to.deep.include({ created: 1, updated: 0, unchanged: 0 });
    expect((preview.body.rejected as Array<{ line: number }>).map((row) => row.line)).to.deep.equal([3]);
    expect((await call('GET', '/profiles?email=p1@contoso.example')).body.total).to.equal(0);
    expect((await call('POST', '/profiles/import', csv, { contentType: 'text/csv' })).body).to.deep.equal(preview.body);
  });

  it('finds a person, shows them, binds on their behalf with a reason, unbinds and revokes their sessions', async () => {
    const { accountId } = await running.broker.store.transaction(async (repositories) => {
      await repositories.profiles.upsert(buildProfile({ id: 'DESK-1', email: 'desk@contoso.example' }));
      await repositories.profiles.upsert(buildProfile({ id: 'DESK-2', email: 'desk@contoso.example' }));
      const account = await repositories.accounts.create({ email: 'desk@contoso.example', emailVerified: true });
      const identity = await repositories.identities.create({ accountId: account.id, issuer: 'https://up.example', subject: 'desk-subject' });
      await repositories.profileBindings.bind({ profileId: 'DESK-1', accountId: account.id, identityId: identity.id, method: 'association' });
      return { accountId: account.id };
    });
    const found = await call('GET', '/people?email=Desk@Contoso.Example');
    expect((found.body.people as Array<{ account_id: string }>).map((person) => person.account_id)).to.deep.equal([accountId]);
    expect((found.body.unbound_profiles as Array<{ id: string }>).map((profile) => profile.id)).to.deep.equal(['DESK-2']);
    expect((await call('GET', '/people?subject=desk-subject')).body.people).to.have.length(1);
    expect((await call('GET', '/people')).body.fields).to.have.key('query');
    const shown = await call('GET', `/people/${accountId}`);
    expect(shown.body).to.include({ account_id: accountId, email: 'desk@contoso.example' });
    expect(shown.body).to.have.keys('account_id', 'email', 'email_verified', 'name', 'created_at', 'identities', 'profiles', 'sign_ins', 'sessions');
    expect((await call('GET', '/people/nobody')).status).to.equal(404);

    const noReason = await call('POST', `/people/${accountId}/bindings`, { profileId: 'DESK-2', reason: '' });
    expect(noReason.status).to.equal(400);
    expect(noReason.body.fields).to.have.key('reason');
    expect((await call('POST', `/people/${accountId}/bindings`, { profileId: 'DESK-2', reason: 'confirmed by phone' })).status).to.equal(201);
    const [bound] = (await call('GET', '/audit-events?type=binding.created&profile=DESK-2')).body.items!;
    expect(bound).to.deep.include({ actor: 'admin-api', accountId, details: { method: 'admin', onBehalf: true, reason: 'confirmed by phone' } });
    expect((await call('DELETE', `/people/${accountId}/bindings/DESK-2`)).status).to.equal(204);
    expect((await call('DELETE', `/people/${accountId}/bindings/DESK-2`)).status).to.equal(404);
    expect((await call('POST', `/people/${accountId}/revoke-sessions`)).body).to.deep.equal({ removed: 0 });
  });

  it('shows the emails and pending links of an address, and resends a link as a new one', async () => {
    const link = await running.broker.store.transaction(async (repositories) => {
      await repositories.profiles.upsert(buildProfile({ id: 'MAIL-1', email: 'mail@contoso.example' }));
      return repositories.linkRequests.create({ tokenHash: 'sha256:mailmailmailmailmailmailmailmailmailmail', flowId: undefined, profileId: 'MAIL-1', issuer: 'https://up.example', subject: 'mail', interactionUid: undefined, expiresAt: Date.now() + 60_000 });
    });
    const before = await call('GET', '/emails?address=MAIL@contoso.example');
    expect(before.body).to.deep.include({ email: 'mail@contoso.example', email_total: 0 });
    expect((before.body.pending_links as Array<{ id: string }>).map((pending) => pending.id)).to.deep.equal([link.id]);
    expect((await call('GET', '/emails')).body.fields).to.have.key('query.address');

    const resent = await call('POST', `/link-requests/${link.id}/resend`, { locale: 'fr' });
    expect(resent.status).to.equal(201);
    expect(resent.body).to.include({ profile_id: 'MAIL-1', subject: 'mail' });
    const after = await call('GET', '/emails?address=mail@contoso.example');
    expect((after.body.pending_links as Array<{ id: string }>).map((pending) => pending.id)).to.deep.equal([resent.body.id]);
    expect((after.body.emails as Array<{ kind: string }>).map((email) => email.kind)).to.deep.equal(['association_link']);
    expect((await call('POST', `/link-requests/${link.id}/resend`, {})).status).to.equal(404);
    expect((await call('POST', `/link-requests/${String(resent.body.id)}/resend`, { locale: 'xx' })).body.fields).to.have.key('body.locale');
  });

  it('exports the filtered audit log as CSV', async () => {
    const response = await fetch(`${running.issuer}/admin/api/audit-events.csv?type=client.created`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).to.equal(200);
    expect(response.headers.get('content-type')).to.match(/^text\/csv/);
    expect(response.headers.get('content-disposition')).to.contain('audit-events.csv');
    const [header, ...rows] = (await response.text()).trim().split('\r\n');
    expect(header).to.equal('id,occurred_at,type,outcome,actor,account_id,profile_id,client_id,ip,details');
    expect(rows.length).to.be.greaterThan(0);
    expect(rows.every((row) => row.split(',')[2] === 'client.created')).to.equal(true);
    expect((await fetch(`${running.issuer}/admin/api/audit-events.csv`)).status).to.equal(401);
  });

  it('reports the dashboard: sign-ins per day, the funnel, email delivery and sessions', async () => {
    const dashboard = await call('GET', '/dashboard?days=3');
    expect(dashboard.body).to.have.keys('days', 'sign_ins', 'funnel', 'email', 'active_sessions');
    expect(dashboard.body.sign_ins).to.have.length(3);
    expect(((dashboard.body.funnel as { steps: Array<{ step: string }> }).steps).map((step) => step.step)).to.deep.equal(['asked', 'sent', 'opened', 'bound']);
    expect((await call('GET', '/dashboard?days=0')).body.fields).to.have.key('query.days');
  });

  it('rotates signing keys: this instance publishes the new keys at once, old keys stay, nothing private is shown', async () => {
    const before = await call('GET', '/signing-keys');
    expect(before.body.items).to.have.length(3);
    const rotated = await call('POST', '/signing-keys/rotate');
    expect(rotated.status).to.equal(200);
    const items = rotated.body.items!;
    expect(items).to.have.length(6);
    expect(JSON.stringify(rotated.body)).to.not.match(/"d"|private/);
    const fresh = items.filter((key) => key.status === 'active').map((key) => String(key.kid));
    expect(fresh).to.have.length(3).and.not.include.members(before.body.items!.map((key) => String(key.kid)));
    const jwks = (await (await fetch(`${running.issuer}/jwks`)).json()) as { keys: Array<{ kid: string; d?: string }> };
    expect(jwks.keys.map((key) => key.kid)).to.include.members([...fresh, ...before.body.items!.map((key) => String(key.kid))]);
    expect(jwks.keys.every((key) => key.d === undefined)).to.equal(true);

    expect((await call('POST', '/cookie-keys/rotate')).status).to.equal(204);
    const audit = await call('GET', '/audit-events?limit=500');
    expect(audit.body.items!.map((event) => event.type)).to.include.members(['signing_keys.rotated', 'cookie_keys.rotated']);
  });

  it('answers unknown admin routes with a JSON 404', async () => {
    const missing = await call('GET', '/nothing-here');
    expect(missing.status).to.equal(404);
    expect(missing.body.error).to.equal('not_found');
  });

  it('publishes an OpenAPI 3.1 document with exactly the routes it serves', async () => {
    const response = await fetch(`${running.issuer}/admin/api/openapi.json`);
    const document = (await response.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(document.openapi).to.equal('3.1.0');
    const documented = Object.entries(document.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`));
    expect(documented).to.have.members([
      'POST /clients', 'GET /clients', 'GET /clients/{clientId}', 'PATCH /clients/{clientId}', 'POST /clients/{clientId}/rotate-secret',
      'POST /clients/{clientId}/disable', 'POST /clients/{clientId}/enable', 'DELETE /clients/{clientId}',
      'POST /profiles/import', 'PUT /profiles/{profileId}', 'GET /profiles', 'DELETE /profiles/{profileId}',
      'GET /bindings', 'DELETE /bindings/{profileId}', 'GET /link-requests', 'POST /link-requests/{linkId}/revoke',
      'GET /outbox', 'POST /outbox/{messageId}/retry', 'GET /audit-events', 'POST /initial-access-tokens',
      'GET /signing-keys', 'POST /signing-keys/rotate', 'POST /cookie-keys/rotate',
      'POST /profiles/import/preview', 'GET /people', 'GET /people/{accountId}', 'POST /people/{accountId}/bindings',
      'DELETE /people/{accountId}/bindings/{profileId}', 'POST /people/{accountId}/revoke-sessions', 'GET /emails',
      'POST /link-requests/{linkId}/resend', 'GET /audit-events.csv', 'GET /dashboard',
      'POST /apis', 'GET /apis', 'GET /apis/{identifier}', 'PATCH /apis/{identifier}', 'DELETE /apis/{identifier}',
    ]);
    // Every documented route answers (401 without a token, never 404).
    for (const entry of documented) {
      const [method, path] = entry.split(' ') as [string, string];
      const answer = await call(method, path.replace(/\{\w+\}/g, 'x'), undefined, { token: null });
      expect(answer.status, entry).to.equal(401);
    }
  });
});
