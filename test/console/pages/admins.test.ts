// The admins page's admin API tokens over HTTP with a real broker: an admin
// issues a token with a role (shown once, with the copy button), which then
// works against the admin API with that role and no more; the list shows its
// id, role and label but never the token; revoking it asks for a
// confirmation first, and afterwards the API refuses it. Bad input comes back
// beside its field and issues nothing; a support user can neither see nor
// issue nor revoke tokens, direct POSTs included.
import { expect } from 'chai';
import { hiddenField, type Page } from '../../support/browser.ts';
import { startBroker, type RunningBroker } from '../../support/broker.ts';
import { consoleUser } from '../../support/console.ts';
import { uniqueName } from '../../support/factories.ts';

describe('the console’s admin API tokens', function () {
  this.timeout(60_000);
  let running: RunningBroker;

  before(async () => {
    running = await startBroker();
  });
  after(() => running.stop());

  const csrfOf = (page: Page): string => hiddenField(page.body, 'csrf')!;
  const tokenOf = (page: Page): string => /id="secret" readonly value="([^"]+)"/.exec(page.body)![1]!;
  const callApi = (token: string, path: string) => fetch(`${running.issuer}/admin/api${path}`, { headers: { authorization: `Bearer ${token}` } });

  it('issues a token shown once that works with its role, lists it without the token, and revokes it after a confirmation', async () => {
    const { person, accountId } = await consoleUser(running, uniqueName('admin'), 'admin');
    const admins = await person.browser.get(`${running.issuer}/admin/admins`);
    expect(admins.body).to.contain('Admin API tokens');
    const label = uniqueName('helpdesk integration');

    const issued = await person.browser.post(`${running.issuer}/admin/admins/tokens`, { csrf: csrfOf(admins), role: 'support', label });
    expect(issued.status).to.equal(200);
    expect(issued.body).to.contain('data-copy="secret"').and.contain('/static/console.js').and.contain('shown this once');
    const token = tokenOf(issued);
    const record = (await running.broker.store.adminTokens.list()).find((candidate) => candidate.label === label)!;
    expect(record).to.include({ role: 'support', issuedBy: accountId });
    expect(record.tokenHash, 'only the hash is stored').to.not.equal(token);

    expect((await callApi(token, '/outbox')).status, 'support may read the outbox').to.equal(200);
    expect((await callApi(token, '/clients')).status, 'but not the clients').to.equal(403);

    const listed = await person.browser.get(`${running.issuer}/admin/admins`);
    expect(listed.body).to.contain(record.id).and.contain(label);
    expect(listed.body, 'the token is never shown again').to.not.contain(token).and.to.not.contain(record.tokenHash);
    const issuedEvent = (await running.broker.store.auditEvents.list({ type: 'admin.token_issued' })).items.find((event) => event.details?.token === record.id)!;
    expect(issuedEvent.details).to.include({ role: 'support', actingAdmin: accountId });
    expect(JSON.stringify(issuedEvent)).to.not.contain(token);

    const revokePath = `/admin/admins/tokens/${record.id}/revoke`;
    expect(listed.body).to.contain(`href="${revokePath}"`);
    const confirmation = await person.browser.get(`${running.issuer}${revokePath}`);
    expect(confirmation.status).to.equal(200);
    expect(confirmation.body).to.contain(record.id).and.contain('Yes, revoke the token');
    expect((await callApi(token, '/outbox')).status, 'the confirmation page revokes nothing').to.equal(200);

    const revoked = await person.browser.post(`${running.issuer}${revokePath}`, { csrf: csrfOf(confirmation) });
    expect(revoked.status).to.equal(303);
    expect(revoked.headers.get('location')).to.equal('/admin/admins?done=token_revoked');
    expect((await callApi(token, '/outbox')).status, 'a revoked token is refused').to.equal(401);
    const revokedEvent = (await running.broker.store.auditEvents.list({ type: 'admin.token_revoked' })).items.find((event) => event.details?.token === record.id)!;
    expect(revokedEvent.details).to.include({ actingAdmin: accountId });
    const after = await person.browser.get(`${running.issuer}/admin/admins`);
    expect(after.body, 'no revoke link for a revoked token').to.not.contain(`href="${revokePath}"`);
    expect((await person.browser.get(`${running.issuer}${revokePath}`)).status, 'nothing left to confirm').to.equal(404);
  });

  it('shows bad input beside its field and issues nothing', async () => {
    const { person } = await consoleUser(running, uniqueName('admin'), 'admin');
    const admins = await person.browser.get(`${running.issuer}/admin/admins`);
    const before = (await running.broker.store.adminTokens.list()).length;
    const badRole = await person.browser.post(`${running.issuer}/admin/admins/tokens`, { csrf: csrfOf(admins), role: 'owner', label: 'x' });
    expect(badRole.status).to.equal(400);
    expect(badRole.body).to.match(/id="token-role"[^>]*aria-invalid="true" aria-describedby="token-role-problem"/).and.to.contain('The role must be admin, support or auditor.');
    const longLabel = await person.browser.post(`${running.issuer}/admin/admins/tokens`, { csrf: csrfOf(admins), role: 'auditor', label: 'l'.repeat(201) });
    expect(longLabel.status).to.equal(400);
    expect(longLabel.body).to.match(/id="token-label"[^>]*aria-invalid="true" aria-describedby="token-label-problem"/).and.to.contain('at most 200 characters');
    expect((await running.broker.store.adminTokens.list()).length).to.equal(before);
  });

  it('refuses a support user the tokens, direct POSTs included', async () => {
    const { token, record } = await running.broker.administration({ surface: 'cli' }).access.issueToken('auditor', 'kept');
    const { person, page } = await consoleUser(running, uniqueName('desk'), 'support');
    const before = (await running.broker.store.adminTokens.list()).length;
    expect((await person.browser.get(`${running.issuer}/admin/admins/tokens/${record.id}/revoke`)).status).to.equal(403);
    for (const path of ['/admin/admins/tokens', `/admin/admins/tokens/${record.id}/revoke`]) {
      const refused = await person.browser.post(`${running.issuer}${path}`, { csrf: csrfOf(page), role: 'admin', label: 'mine' });
      expect(refused.status, path).to.equal(403);
      expect(refused.body).to.not.contain('id="secret"');
    }
    expect((await running.broker.store.adminTokens.list()).length).to.equal(before);
    expect((await callApi(token, '/audit-events')).status, 'the token still works').to.equal(200);
  });
});
