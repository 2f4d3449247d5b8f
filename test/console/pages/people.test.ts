// The console's people pages over HTTP with a real broker: a support admin
// finds a person three ways, reads their details, unbinds, binds on their
// behalf (bad input shown beside the field and changing nothing), revokes
// their sessions; an auditor is refused every page and every form; and an
// unbind through the console gives the same result and the same audit event
// as one through the admin API.
import { expect } from 'chai';
import { hiddenField, type Page } from '../../support/browser.ts';
import { startBroker, type RunningBroker } from '../../support/broker.ts';
import { consoleUser } from '../../support/console.ts';
import { buildProfile, uniqueName } from '../../support/factories.ts';

const adminToken = 'people-page-admin-token';

describe('the console’s people pages', function () {
  this.timeout(60_000);
  let running: RunningBroker;

  before(async () => {
    running = await startBroker({ ADMIN_TOKEN: adminToken });
  });
  after(() => running.stop());

  /** A person who associated two profiles of one address (and a third profile of it bound to nobody). */
  async function associatedPerson() {
    const email = `${uniqueName('pat')}@contoso.example`;
    const subject = uniqueName('subject');
    const profiles = [buildProfile({ email }), buildProfile({ email }), buildProfile({ email })];
    const accountId = await running.broker.store.transaction(async (repositories) => {
      for (const profile of profiles) await repositories.profiles.upsert(profile);
      const account = await repositories.accounts.create({ email, emailVerified: true, name: 'Pat Example' });
      const identity = await repositories.identities.create({ accountId: account.id, issuer: 'https://login.example', subject });
      for (const profile of profiles.slice(0, 2)) await repositories.profileBindings.bind({ profileId: profile.id, accountId: account.id, identityId: identity.id, method: 'association' });
      return account.id;
    });
    return { email, subject, profiles, accountId };
  }

  const csrfOf = (page: Page): string => hiddenField(page.body, 'csrf')!;

  it('finds a person by MBS email, profile id or upstream subject, and lists the address’s unbound profiles', async () => {
    const pat = await associatedPerson();
    const { person } = await consoleUser(running, uniqueName('desk'), 'support');
    for (const [by, q] of [['email', pat.email.toUpperCase()], ['profile', pat.profiles[1]!.id], ['subject', pat.subject]] as const) {
      const found = await person.browser.get(`${running.issuer}/admin/people?${new URLSearchParams({ by, q })}`);
      expect(found.status, by).to.equal(200);
      expect(found.body, by).to.contain(`/admin/people/${pat.accountId}`).and.contain('Pat Example');
    }
    const byEmail = await person.browser.get(`${running.issuer}/admin/people?by=email&q=${encodeURIComponent(pat.email)}`);
    expect(byEmail.body).to.contain('Profiles bound to nobody').and.contain(pat.profiles[2]!.id);
    const empty = await person.browser.get(`${running.issuer}/admin/people?by=email&q=`);
    expect(empty.status).to.equal(400);
    expect(empty.body).to.contain('aria-invalid="true"').and.contain('Type what to look for.');
  });

  it('shows a person and lets support unbind, bind on their behalf with a reason, and revoke sessions', async () => {
    const pat = await associatedPerson();
    const { person } = await consoleUser(running, uniqueName('desk'), 'support');
    const personUrl = `${running.issuer}/admin/people/${pat.accountId}`;
    const shown = await person.browser.get(personUrl);
    expect(shown.status).to.equal(200);
    expect(shown.body).to.contain(pat.subject).and.contain(pat.profiles[0]!.id).and.contain(pat.profiles[1]!.id);

    const unbound = await person.browser.post(`${personUrl}/unbind`, { csrf: csrfOf(shown), profileId: pat.profiles[0]!.id });
    expect(unbound.status).to.equal(302);
    expect(await running.broker.store.profileBindings.findByProfile(pat.profiles[0]!.id)).to.equal(undefined);
    expect((await person.browser.get(new URL(unbound.headers.get('location')!, personUrl).href)).body).to.contain('The profile is unbound.');

    const noReason = await person.browser.post(`${personUrl}/bind`, { csrf: csrfOf(shown), profileId: pat.profiles[2]!.id, reason: '' });
    expect(noReason.status).to.equal(400);
    expect(noReason.body).to.match(/id="reason"[^>]*aria-invalid="true"/).and.contain('Say why, in 3 to 500 characters.');
    expect(noReason.body, 'what was typed stays').to.contain(`value="${pat.profiles[2]!.id}"`);
    const unknownProfile = await person.browser.post(`${personUrl}/bind`, { csrf: csrfOf(shown), profileId: 'MBS-none', reason: 'phone call' });
    expect(unknownProfile.status).to.equal(400);
    expect(unknownProfile.body).to.contain('Enter the id of an existing MBS profile.');
    expect(await running.broker.store.profileBindings.findByProfile(pat.profiles[2]!.id), 'bad input binds nothing').to.equal(undefined);

    const bound = await person.browser.post(`${personUrl}/bind`, { csrf: csrfOf(shown), profileId: pat.profiles[2]!.id, reason: 'verified by phone, ticket 88' });
    expect(bound.status).to.equal(302);
    expect(await running.broker.store.profileBindings.findByProfile(pat.profiles[2]!.id)).to.include({ accountId: pat.accountId, method: 'admin' });
    const [event] = (await running.broker.store.auditEvents.list({ type: 'binding.created', profileId: pat.profiles[2]!.id })).items;
    expect(event!.details).to.include({ reason: 'verified by phone, ticket 88', onBehalf: true });
    expect(event!.details).to.have.property('actingAdmin');

    const revoked = await person.browser.post(`${personUrl}/revoke-sessions`, { csrf: csrfOf(shown) });
    expect(revoked.status).to.equal(302);
    expect((await running.broker.store.auditEvents.list({ type: 'sessions.revoked', accountId: pat.accountId })).total).to.equal(1);
    expect((await person.browser.post(`${personUrl}/revoke-sessions`, { csrf: 'forged' })).status, 'CSRF').to.equal(403);
  });

  it('refuses auditors every people page and form, direct POSTs included', async () => {
    const pat = await associatedPerson();
    const { person, page } = await consoleUser(running, uniqueName('auditor'), 'auditor');
    expect(page.body, 'no navigation entry').to.not.contain('href="/admin/people"');
    expect((await person.browser.get(`${running.issuer}/admin/people?by=email&q=${encodeURIComponent(pat.email)}`)).status).to.equal(403);
    expect((await person.browser.get(`${running.issuer}/admin/people/${pat.accountId}`)).status).to.equal(403);
    for (const action of ['unbind', 'bind', 'revoke-sessions']) {
      const posted = await person.browser.post(`${running.issuer}/admin/people/${pat.accountId}/${action}`, { csrf: csrfOf(page), profileId: pat.profiles[0]!.id, reason: 'should not work' });
      expect(posted.status, action).to.equal(403);
    }
    expect(await running.broker.store.profileBindings.findByProfile(pat.profiles[0]!.id)).to.include({ accountId: pat.accountId });
  });

  it('unbinds through the console as through the admin API: the same result and the same audit event but for who acted', async () => {
    const throughConsole = await associatedPerson();
    const throughApi = await associatedPerson();
    const { person, accountId: adminAccountId } = await consoleUser(running, uniqueName('desk'), 'admin');
    const shown = await person.browser.get(`${running.issuer}/admin/people/${throughConsole.accountId}`);
    await person.browser.post(`${running.issuer}/admin/people/${throughConsole.accountId}/unbind`, { csrf: csrfOf(shown), profileId: throughConsole.profiles[0]!.id });
    const api = await fetch(`${running.issuer}/admin/api/people/${throughApi.accountId}/bindings/${throughApi.profiles[0]!.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${adminToken}` } });
    expect(api.status).to.equal(204);

    const eventOf = async (profileId: string) => (await running.broker.store.auditEvents.list({ type: 'binding.removed', profileId })).items;
    const [consoleEvent] = await eventOf(throughConsole.profiles[0]!.id);
    const [apiEvent] = await eventOf(throughApi.profiles[0]!.id);
    const shape = (event: typeof consoleEvent, accountId: string, profileId: string) => ({ ...event, id: 0, occurredAt: 0, actor: 'x', details: { ...event!.details, actingAdmin: undefined }, accountId: event!.accountId === accountId ? 'the person' : event!.accountId, profileId: event!.profileId === profileId ? 'the profile' : event!.profileId });
    expect(shape(consoleEvent, throughConsole.accountId, throughConsole.profiles[0]!.id)).to.deep.equal(shape(apiEvent, throughApi.accountId, throughApi.profiles[0]!.id));
    expect(consoleEvent).to.include({ actor: 'console' });
    expect(consoleEvent!.details).to.include({ actingAdmin: adminAccountId });
    expect(apiEvent).to.include({ actor: 'admin-api' });
    for (const pat of [throughConsole, throughApi]) expect(await running.broker.store.profileBindings.findByProfile(pat.profiles[0]!.id)).to.equal(undefined);
  });
});
