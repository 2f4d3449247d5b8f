// The console's clients pages over HTTP with a real broker: an admin
// registers a client (the secret shown once, and it works at the token
// endpoint), searches, edits redirect URIs and grant types, disables,
// rotates the secret, deletes after confirming, issues an initial access
// token; bad input comes back beside its field and registers nothing; a
// support admin cannot open the pages nor post their forms; registering
// through the console and through the API gives the same client and audit event.
import { expect } from 'chai';
import { hiddenField, type Page } from '../../support/browser.ts';
import { startBroker, type RunningBroker } from '../../support/broker.ts';
import { consoleUser } from '../../support/console.ts';
import { uniqueName } from '../../support/factories.ts';

const adminToken = 'clients-page-admin-token';

describe('the console’s clients pages', function () {
  this.timeout(60_000);
  let running: RunningBroker;

  before(async () => {
    running = await startBroker({ ADMIN_TOKEN: adminToken });
  });
  after(() => running.stop());

  const csrfOf = (page: Page): string => hiddenField(page.body, 'csrf')!;
  const registration = (id: string, extra: Record<string, string> = {}) => ({ id, name: 'Reports', portal: 'customersource', redirectUris: 'https://reports.example/cb\nhttps://reports.example/cb2', postLogoutRedirectUris: '', backchannelLogoutUri: '', grantTypes: 'client_credentials', ...extra });
  const secretOf = (page: Page): string => /id="secret" readonly value="([^"]+)"/.exec(page.body)![1]!;
  const clientCredentials = (id: string, secret: string) =>
    fetch(`${running.issuer}/token`, { method: 'POST', headers: { authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });

  it('registers a client and shows its secret once, which works; searches, edits, disables, rotates and deletes it', async () => {
    const { person } = await consoleUser(running, uniqueName('admin'), 'admin');
    const form = await person.browser.get(`${running.issuer}/admin/clients/new`);
    expect(form.status).to.equal(200);
    const id = uniqueName('reports');

    const registered = await person.browser.post(`${running.issuer}/admin/clients`, { csrf: csrfOf(form), ...registration(id) });
    expect(registered.status).to.equal(200);
    expect(registered.body).to.contain('data-copy="secret"').and.contain('/static/console.js');
    const secret = secretOf(registered);
    expect((await clientCredentials(id, secret)).status).to.equal(200);
    const shown = await person.browser.get(`${running.issuer}/admin/clients/${id}`);
    expect(shown.body, 'never shown again').to.not.contain(secret);

    const found = await person.browser.get(`${running.issuer}/admin/clients?search=${encodeURIComponent('reports.example/cb2')}`);
    expect(found.body).to.contain(`/admin/clients/${id}"`);

    const changes = new URLSearchParams({ csrf: csrfOf(shown), name: 'Quarterly reports', portal: 'both', redirectUris: 'https://reports.example/callback', postLogoutRedirectUris: 'https://reports.example/bye', backchannelLogoutUri: '' });
    changes.append('grantTypes', 'client_credentials');
    changes.append('grantTypes', 'authorization_code');
    const edited = await person.browser.post(`${running.issuer}/admin/clients/${id}`, changes);
    expect(edited.status).to.equal(302);
    const client = await running.broker.store.clients.find(id);
    expect(client).to.deep.include({ portal: 'both' });
    expect(client!.metadata).to.deep.include({ client_name: 'Quarterly reports', redirect_uris: ['https://reports.example/callback'], post_logout_redirect_uris: ['https://reports.example/bye'] });
    expect(client!.metadata.grant_types).to.have.members(['client_credentials', 'authorization_code']);

    expect((await person.browser.post(`${running.issuer}/admin/clients/${id}/disable`, { csrf: csrfOf(shown) })).status).to.equal(302);
    expect((await clientCredentials(id, secret)).status, 'a disabled client gets no token').to.equal(401);
    await person.browser.post(`${running.issuer}/admin/clients/${id}/enable`, { csrf: csrfOf(shown) });

    const rotated = await person.browser.post(`${running.issuer}/admin/clients/${id}/rotate-secret`, { csrf: csrfOf(shown) });
    expect(rotated.status).to.equal(200);
    const newSecret = secretOf(rotated);
    expect((await clientCredentials(id, secret)).status).to.equal(401);
    expect((await clientCredentials(id, newSecret)).status).to.equal(200);

    const confirmation = await person.browser.get(`${running.issuer}/admin/clients/${id}/delete`);
    expect(confirmation.body).to.contain('cannot be undone');
    expect(await running.broker.store.clients.find(id), 'the confirmation page deletes nothing').to.not.equal(undefined);
    expect((await person.browser.post(`${running.issuer}/admin/clients/${id}/delete`, { csrf: csrfOf(confirmation) })).status).to.equal(302);
    expect(await running.broker.store.clients.find(id)).to.equal(undefined);
  });

  it('shows bad input beside its field and registers nothing', async () => {
    const { person } = await consoleUser(running, uniqueName('admin'), 'admin');
    const form = await person.browser.get(`${running.issuer}/admin/clients/new`);
    const id = uniqueName('bad');
    const bad = await person.browser.post(`${running.issuer}/admin/clients`, { csrf: csrfOf(form), ...registration(id, { redirectUris: 'ftp://nowhere.example/cb', grantTypes: 'authorization_code' }) });
    expect(bad.status).to.equal(400);
    expect(bad.body).to.match(/id="redirectUris"[^>]*aria-invalid="true"/).and.contain('One absolute https URL a line');
    expect(bad.body, 'what was typed stays').to.contain('ftp://nowhere.example/cb');
    expect(await running.broker.store.clients.find(id)).to.equal(undefined);

    await person.browser.post(`${running.issuer}/admin/clients`, { csrf: csrfOf(form), ...registration(id) });
    const taken = await person.browser.post(`${running.issuer}/admin/clients`, { csrf: csrfOf(form), ...registration(id) });
    expect(taken.status).to.equal(400);
    expect(taken.body).to.match(/id="id"[^>]*aria-invalid="true"/).and.contain('A client with this id exists already.');

    const list = await person.browser.get(`${running.issuer}/admin/clients`);
    const badDays = await person.browser.post(`${running.issuer}/admin/clients/initial-access-tokens`, { csrf: csrfOf(list), portal: 'customersource', days: '365' });
    expect(badDays.status).to.equal(400);
    expect(badDays.body).to.match(/id="days"[^>]*aria-invalid="true"/);
    const issued = await person.browser.post(`${running.issuer}/admin/clients/initial-access-tokens`, { csrf: csrfOf(list), portal: 'customersource', days: '2' });
    expect(issued.status).to.equal(200);
    expect(secretOf(issued)).to.have.length.greaterThan(20);
  });

  it('refuses support admins the pages and every form, direct POSTs included', async () => {
    const { person, page } = await consoleUser(running, uniqueName('desk'), 'support');
    expect(page.body).to.not.contain('href="/admin/clients"');
    for (const path of ['/admin/clients', '/admin/clients/new', '/admin/clients/mbs-console']) expect((await person.browser.get(`${running.issuer}${path}`)).status, path).to.equal(403);
    const id = uniqueName('sneaky');
    for (const path of ['/admin/clients', '/admin/clients/mbs-console/disable', '/admin/clients/mbs-console/delete', '/admin/clients/initial-access-tokens']) {
      expect((await person.browser.post(`${running.issuer}${path}`, { csrf: csrfOf(page), ...registration(id), days: '1' })).status, path).to.equal(403);
    }
    expect(await running.broker.store.clients.find(id)).to.equal(undefined);
  });

  it('registers through the console as through the API: the same client and the same audit event but for who acted', async () => {
    const { person, accountId } = await consoleUser(running, uniqueName('admin'), 'admin');
    const form = await person.browser.get(`${running.issuer}/admin/clients/new`);
    const [viaConsole, viaApi] = [uniqueName('console-app'), uniqueName('api-app')];
    await person.browser.post(`${running.issuer}/admin/clients`, { csrf: csrfOf(form), ...registration(viaConsole) });
    const api = await fetch(`${running.issuer}/admin/api/clients`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: viaApi, name: 'Reports', portal: 'customersource', redirectUris: ['https://reports.example/cb', 'https://reports.example/cb2'], postLogoutRedirectUris: [], grantTypes: ['client_credentials'] }),
    });
    expect(api.status).to.equal(201);

    const [consoleClient, apiClient] = await Promise.all([viaConsole, viaApi].map((id) => running.broker.store.clients.find(id)));
    const comparable = (client: typeof consoleClient) => ({ ...client, id: 'x', secretHash: typeof client!.secretHash, createdAt: 0, updatedAt: 0 });
    expect(comparable(consoleClient)).to.deep.equal(comparable(apiClient));
    const eventOf = async (clientId: string) => (await running.broker.store.auditEvents.list({ type: 'client.created', clientId })).items[0]!;
    const [consoleEvent, apiEvent] = [await eventOf(viaConsole), await eventOf(viaApi)];
    expect({ ...consoleEvent.details, actingAdmin: undefined }).to.deep.equal({ ...apiEvent.details, actingAdmin: undefined });
    expect(consoleEvent).to.include({ actor: 'console', outcome: 'success' });
    expect(consoleEvent.details).to.include({ actingAdmin: accountId });
    expect(apiEvent).to.include({ actor: 'admin-api', outcome: 'success' });
  });
});
