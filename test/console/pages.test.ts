// The console's own pages over HTTP with a real broker: each role's
// refusals (a support user cannot open keys or admins, an auditor changes
// nothing — direct POSTs with valid CSRF tokens included), the CSRF check,
// the recent sign-in that key rotation and role changes need (max_age
// back through the broker), and an invitation sent from the admins page,
// opened from the dev mailbox and accepted once by signing in.
import { expect } from 'chai';
import { formAction, hiddenField, type Page } from '../support/browser.ts';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { consoleUser } from '../support/console.ts';
import { Person } from '../support/journey.ts';

describe('the console pages', function () {
  this.timeout(60_000);
  let running: RunningBroker;

  before(async () => {
    running = await startBroker({ OUTBOX_INTERVAL: '25' });
  });
  after(() => running.stop());

  const open = (person: Person, path: string) => person.browser.get(`${running.issuer}${path}`);
  const post = (person: Person, page: Page, path: string, fields: Record<string, string> = {}) => person.browser.post(`${running.issuer}${path}`, { csrf: hiddenField(page.body, 'csrf')!, ...fields });
  const signingKeyIds = async () => (await running.broker.keys.list()).map((key) => key.kid);

  it('lets an admin open the admins and keys pages, listed in the navigation', async () => {
    const { person, page } = await consoleUser(running, 'pages-admin', 'admin');
    expect(page.body).to.contain('href="/admin/admins"').and.to.contain('href="/admin/keys"');
    const keys = await open(person, '/admin/keys');
    expect(keys.status).to.equal(200);
    expect(keys.body).to.contain('Token signing keys').and.to.contain('Cookie keys').and.to.contain('signs cookies');
    for (const secret of running.broker.cookieKeys) expect(keys.body).to.not.contain(secret);
    expect(keys.body).to.not.match(/"d"\s*:|privateJwk/);
    const admins = await open(person, '/admin/admins');
    expect(admins.status).to.equal(200);
    expect(admins.body).to.contain('pages-admin').and.to.contain('Invite someone');
  });

  it('refuses a support user the keys and admins pages and their actions, with a valid CSRF token, and changes nothing', async () => {
    const { person, page, accountId } = await consoleUser(running, 'pages-support', 'support');
    expect(page.body, 'no link to what support may not open').to.not.contain('href="/admin/keys"').and.to.not.contain('href="/admin/admins"');
    for (const path of ['/admin/keys', '/admin/admins']) expect((await open(person, path)).status, path).to.equal(403);
    const before = await signingKeyIds();
    for (const path of ['/admin/keys/rotate-signing', '/admin/keys/rotate-cookie', `/admin/admins/${accountId}/role`, '/admin/admins/invite']) {
      const refused = await post(person, page, path, { role: 'admin', email: 'someone@contoso.example' });
      expect(refused.status, path).to.equal(403);
      expect(refused.body).to.contain('Your console role does not allow this.');
    }
    expect(await signingKeyIds()).to.deep.equal(before);
    expect(await running.broker.administration({ surface: 'cli' }).access.roleOf(accountId)).to.equal('support');
  });

  it('lets an auditor change nothing, whatever it posts with a valid CSRF token', async () => {
    const { person, page, accountId } = await consoleUser(running, 'pages-auditor', 'auditor');
    const before = await signingKeyIds();
    const eventsBefore = (await running.broker.store.auditEvents.list({ limit: 1 })).total;
    for (const path of ['/admin/keys/rotate-signing', '/admin/keys/rotate-cookie', `/admin/admins/${accountId}/role`, `/admin/admins/${accountId}/revoke`, '/admin/admins/invite']) {
      expect((await post(person, page, path, { role: 'admin', email: 'someone@contoso.example' })).status, path).to.equal(403);
    }
    expect(await signingKeyIds()).to.deep.equal(before);
    expect(await running.broker.administration({ surface: 'cli' }).access.roleOf(accountId)).to.equal('auditor');
    expect((await running.broker.store.auditEvents.list({ limit: 1 })).total).to.equal(eventsBefore);
  });

  it('refuses a console form without its CSRF token', async () => {
    const { person } = await consoleUser(running, 'pages-forger', 'admin');
    const before = await signingKeyIds();
    const forged = await person.browser.post(`${running.issuer}/admin/keys/rotate-signing`, { csrf: 'forged' });
    expect(forged.status).to.equal(403);
    expect(forged.body).to.contain('This form has expired. Open the console page again.');
    expect(await signingKeyIds()).to.deep.equal(before);
  });

  it('shows bad input beside its field and invites nobody', async () => {
    const { person } = await consoleUser(running, 'pages-typist', 'admin');
    const admins = await open(person, '/admin/admins');
    const pendingBefore = (await running.broker.store.adminInvitations.listPending()).length;
    const refused = await post(person, admins, '/admin/admins/invite', { email: 'not an address', role: 'support' });
    expect(refused.status).to.equal(400);
    expect(refused.body).to.match(/aria-invalid="true" aria-describedby="invite-email-problem"/).and.to.contain('Enter a valid email address.').and.to.contain('value="not an address"');
    const badRole = await post(person, admins, '/admin/admins/invite', { email: 'fine@contoso.example', role: 'owner' });
    expect(badRole.status).to.equal(400);
    expect(badRole.body).to.contain('id="invite-role-problem"');
    expect((await running.broker.store.adminInvitations.listPending()).length).to.equal(pendingBefore);
  });

  it('invites someone from the admins page: the emailed link, accepted by signing in, gives the role once', async () => {
    const { person: inviter } = await consoleUser(running, 'pages-inviter', 'admin');
    const admins = await open(inviter, '/admin/admins');
    const email = 'new.support@contoso.example';
    const sent = await post(inviter, admins, '/admin/admins/invite', { email, role: 'support' });
    expect(sent.status).to.equal(303);
    expect((await open(inviter, '/admin/admins?done=invited')).body).to.contain('The invitation is on its way.').and.to.contain(email);

    let link: string | undefined;
    for (let attempt = 0; attempt < 100 && !link; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      link = /https?:\/\/\S+\/admin\/invitations\/[A-Za-z0-9_-]+/.exec(running.broker.devMailbox!.messages().find((message) => message.to === email)?.text ?? '')?.[0];
    }
    expect(link, 'the invitation email').to.be.a('string');

    const invitee = new Person('pages-invitee');
    const invitation = await invitee.browser.get(link!);
    expect(invitation.status).to.equal(200);
    expect(invitation.body).to.contain('Sign in and accept');
    expect((await invitee.browser.get(link!)).status, 'opening the link twice uses nothing').to.equal(200);
    const started = await invitee.browser.post(new URL(formAction(invitation.body), link!).href, { csrf: hiddenField(invitation.body, 'csrf')! });
    const { page: landed } = await invitee.follow(new URL(started.headers.get('location')!, link!).href);
    expect(landed?.status, landed?.body).to.equal(200);
    expect(landed?.body, landed?.body.replace(/\s+/g, ' ').slice(0, 3000)).to.contain('Signed in as support');

    const used = await new Person('pages-second').browser.get(link!);
    expect(used.status).to.equal(410);
    expect(used.body).to.contain('already been accepted');
  });
});


describe('the console’s recent sign-in', function () {
  this.timeout(60_000);
  let running: RunningBroker;

  // Its own broker with a two-second CONSOLE_RECENT_SIGN_IN, and real time
  // passing: the broker's max_age check and the upstream run on real clocks.
  before(async () => {
    running = await startBroker({ CONSOLE_RECENT_SIGN_IN: '2', ADMIN_TOKEN: 'recent-sign-in-admin-token' });
  });
  after(() => running.stop());

  it('asks for a recent sign-in before rotating keys, signs in again at the upstream through the broker, then rotates, audited as the admin', async () => {
    const { person, accountId } = await consoleUser(running, 'recent-rotator', 'admin');
    const keysPage = await person.browser.get(`${running.issuer}/admin/keys`);
    const signIns = async () => (await running.broker.store.auditEvents.list({ type: 'sign_in', accountId, clientId: 'mbs-console' })).total;
    const signInsBefore = await signIns();
    await new Promise((resolve) => setTimeout(resolve, 3100));
    const before = (await running.broker.keys.list()).map((key) => key.kid);
    const stale = await person.browser.post(`${running.issuer}/admin/keys/rotate-signing`, { csrf: hiddenField(keysPage.body, 'csrf')! });
    expect(stale.status).to.equal(403);
    expect(stale.body).to.contain('Sign in again to continue');
    expect((await running.broker.keys.list()).map((key) => key.kid)).to.deep.equal(before);

    const again = /href="(\/admin\/reauthenticate[^"]*)"/.exec(stale.body)![1]!.replaceAll('&amp;', '&');
    expect(again).to.equal('/admin/reauthenticate?return=%2Fadmin%2Fkeys');
    const { page: back } = await person.follow(new URL(again, running.issuer).href);
    expect(back?.url).to.equal(`${running.issuer}/admin/keys`);
    expect(await signIns(), 'signed in again at the upstream through the broker').to.equal(signInsBefore + 1);

    const rotated = await person.browser.post(`${running.issuer}/admin/keys/rotate-signing`, { csrf: hiddenField(back!.body, 'csrf')! });
    expect(rotated.status).to.equal(303);
    expect((await running.broker.keys.list()).map((key) => key.kid)).to.not.deep.equal(before);
    const event = (await running.broker.store.auditEvents.list({ type: 'signing_keys.rotated' })).items[0];
    expect(event).to.include({ actor: 'console' });
    expect(event?.details).to.deep.include({ actingAdmin: accountId });

    // The same rotation through the admin API: the same event and result, but for who acted.
    const viaApi = await fetch(`${running.issuer}/admin/api/signing-keys/rotate`, { method: 'POST', headers: { authorization: 'Bearer recent-sign-in-admin-token' } });
    expect(viaApi.status).to.equal(200);
    const apiEvent = (await running.broker.store.auditEvents.list({ type: 'signing_keys.rotated' })).items[0];
    expect(apiEvent).to.include({ actor: 'admin-api', outcome: event!.outcome });
    expect(Object.keys(apiEvent!.details ?? {})).to.deep.equal(Object.keys(event!.details ?? {}).filter((key) => key !== 'actingAdmin'));
    expect((apiEvent!.details as { active: string[] }).active).to.have.length((event!.details as { active: string[] }).active.length);
  });
});
