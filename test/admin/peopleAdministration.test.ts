// The support desk's people service on the real store of every test
// database, with oidc-provider's session rows written through the real
// adapter: finding a person three ways, their details, and the desk's
// changes (bind on behalf with its required reason, unbind, revoke
// sessions), each audited with the acting admin.
import { expect } from 'chai';
import { PeopleAdministration } from '../../src/admin/peopleAdministration.ts';
import type { Database } from '../../src/store/database.ts';
import { createOidcAdapter, liveSessionsOfAccount, revokeAccount } from '../../src/store/oidcAdapter.ts';
import type { Store } from '../../src/store/store.ts';
import { suiteStore, testDatabases } from '../support/databases.ts';
import { buildProfile, createAccountWithIdentity, uniqueName } from '../support/factories.ts';

for (const testDatabase of testDatabases()) {
  describe(`the people service on ${testDatabase.name}`, function () {
    this.timeout(30_000);
    const suite = suiteStore(testDatabase);
    let database: Database;
    let store: Store;
    let people: PeopleAdministration;
    before(() => {
      ({ database, store } = suite);
      people = new PeopleAdministration(store, { list: (accountId) => liveSessionsOfAccount(database, accountId), revoke: (accountId) => revokeAccount(database, accountId) }, 'admin:desk-1');
    });

    /** A person who associated `count` profiles of one address, and has one live session at two portals. */
    async function associatedPerson(count = 1) {
      const email = `${uniqueName('person')}@contoso.example`;
      const { account, identity } = await createAccountWithIdentity(store, { account: { email } });
      const profiles = [];
      for (let index = 0; index < count; index += 1) {
        const profile = buildProfile({ email });
        await store.profiles.upsert(profile);
        await store.profileBindings.bind({ profileId: profile.id, accountId: account.id, identityId: identity.id, method: 'association' });
        profiles.push(profile);
      }
      return { email, account, identity, profiles };
    }

    async function signInSession(accountId: string): Promise<void> {
      const Session = createOidcAdapter(database, {});
      await new Session('Session').upsert(uniqueName('session-cookie'), { accountId, loginTs: Math.floor(Date.now() / 1000), authorizations: { 'partnersource-portal': { sid: 'a' }, 'customersource-portal': { sid: 'b' } } }, 3600);
    }

    it('finds a person by MBS email, profile id or upstream subject, and lists the address’s profiles bound to nobody apart', async () => {
      const { email, account, identity, profiles } = await associatedPerson(2);
      const unbound = buildProfile({ email });
      await store.profiles.upsert(unbound);

      const byEmail = await people.find({ email: `  ${email.toUpperCase()} ` });
      expect(byEmail.people.map((person) => person.account.id)).to.deep.equal([account.id]);
      expect(byEmail.people[0]!.profiles.map((profile) => profile.id).sort()).to.deep.equal(profiles.map((profile) => profile.id).sort());
      expect(byEmail.unboundProfiles.map((profile) => profile.id)).to.deep.equal([unbound.id]);
      expect((await people.find({ profile: profiles[1]!.id })).people[0]!.identities.map((known) => known.subject)).to.deep.equal([identity.subject]);
      expect((await people.find({ subject: identity.subject })).people.map((person) => person.account.id)).to.deep.equal([account.id]);
      expect(await people.find({ subject: 'nobody-at-all' })).to.deep.equal({ people: [], unboundProfiles: [] });
    });

    it('refuses a lookup by none or by several ways at once', async () => {
      for (const query of [{}, { email: ' ' }, { email: 'a@b.example', subject: 'x' }]) {
        const refused = await people.find(query).catch((error: unknown) => error);
        expect(refused, JSON.stringify(query)).to.include({ code: 'invalid_request', status: 400 });
      }
    });

    it('shows a person’s last sign-ins, newest first, and live sessions with the portals they reached', async () => {
      const { account } = await associatedPerson();
      await store.auditEvents.record({ type: 'sign_in', outcome: 'failure', accountId: account.id, details: { reason: 'upstream_error' } });
      await store.auditEvents.record({ type: 'sign_in', outcome: 'success', accountId: account.id, clientId: 'partnersource-portal' });
      await signInSession(account.id);

      const details = await people.details(account.id);

      expect(details.signIns.map((event) => event.outcome)).to.deep.equal(['success', 'failure']);
      expect(details.sessions).to.have.length(1);
      expect(details.sessions[0]!.clientIds).to.deep.equal(['customersource-portal', 'partnersource-portal']);
      expect(details.sessions[0]!.expiresAt).to.be.greaterThan(Date.now());
      expect(await people.details('no-such-account').catch((error: unknown) => error)).to.include({ code: 'not_found' });
    });

    it('binds a profile on the person’s behalf only with a reason, which the audit event keeps with the acting admin', async () => {
      const { account } = await associatedPerson();
      const other = buildProfile();
      await store.profiles.upsert(other);

      const noReason = await people.bindOnBehalf(account.id, { profileId: other.id, reason: ' ' }).catch((error: unknown) => error);
      expect(noReason).to.include({ code: 'invalid_request' });
      expect((noReason as { fields: Record<string, string> }).fields).to.have.key('reason');
      expect(await store.profileBindings.findByProfile(other.id), 'a refused bind changes nothing').to.equal(undefined);
      const unknown = await people.bindOnBehalf(account.id, { profileId: 'MBS-nope', reason: 'asked by phone' }).catch((error: unknown) => error);
      expect(unknown).to.include({ code: 'invalid_request' });
      expect((unknown as { fields: Record<string, string> }).fields).to.have.key('profileId');

      await people.bindOnBehalf(account.id, { profileId: other.id, reason: 'mailbox unreachable, ticket 4711' });

      expect(await store.profileBindings.findByProfile(other.id)).to.include({ accountId: account.id, method: 'admin' });
      const [event] = (await store.auditEvents.list({ profileId: other.id })).items;
      expect(event).to.deep.include({ type: 'binding.created', actor: 'admin:desk-1', accountId: account.id, details: { method: 'admin', onBehalf: true, reason: 'mailbox unreachable, ticket 4711' } });
    });

    it('unbinds only a profile bound to that person', async () => {
      const { account, profiles } = await associatedPerson();
      const stranger = await associatedPerson();

      expect(await people.unbind(account.id, stranger.profiles[0]!.id).catch((error: unknown) => error)).to.include({ code: 'not_found' });
      expect(await store.profileBindings.findByProfile(stranger.profiles[0]!.id)).to.include({ accountId: stranger.account.id });

      await people.unbind(account.id, profiles[0]!.id);
      expect(await store.profileBindings.findByProfile(profiles[0]!.id)).to.equal(undefined);
      expect((await store.auditEvents.list({ type: 'binding.removed', profileId: profiles[0]!.id })).items[0]).to.include({ actor: 'admin:desk-1', accountId: account.id });
    });

    it('revokes every session of the person and audits how many provider records went', async () => {
      const { account } = await associatedPerson();
      const bystander = await associatedPerson();
      await signInSession(account.id);
      await signInSession(bystander.account.id);

      expect(await people.revokeSessions(account.id)).to.equal(1);

      expect((await people.details(account.id)).sessions).to.deep.equal([]);
      expect((await people.details(bystander.account.id)).sessions).to.have.length(1);
      expect((await store.auditEvents.list({ type: 'sessions.revoked', accountId: account.id })).items[0]).to.deep.include({ actor: 'admin:desk-1', details: { removed: 1 } });
    });
  });
}
