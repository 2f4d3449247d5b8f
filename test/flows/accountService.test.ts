// The account service without HTTP, on the real store of every test
// database, the real outbox and email renderer and the real revocation of
// the oidc adapter: what the page shows, unlinking (binding gone, notice
// queued, audited, all in one transaction; someone else's profile refused)
// and signing out everywhere.
import { expect } from 'chai';
import { ManualClock } from '../../src/clock.ts';
import { BrokerError } from '../../src/errors.ts';
import { AccountService } from '../../src/flows/accountService.ts';
import { Outbox } from '../../src/mail/outbox.ts';
import { createStore } from '../../src/store/knexStore.ts';
import { createOidcAdapter, revokeAccount } from '../../src/store/oidcAdapter.ts';
import type { Store } from '../../src/store/store.ts';
import { serviceSuite, testDatabases } from '../support/databases.ts';
import { buildProfile, createAccountWithIdentity } from '../support/factories.ts';

for (const testDatabase of testDatabases()) {
  describe(`the account service on ${testDatabase.name}`, function () {
    this.timeout(30_000);
    const suite = serviceSuite(testDatabase);
    let store: Store;
    let outbox: Outbox;
    let service: AccountService;

    beforeEach(() => {
      const { database, emails } = suite;
      const clock = new ManualClock(Date.now());
      store = createStore(database, clock);
      outbox = new Outbox(database, clock, 'account-service-test-key-0123456789');
      service = new AccountService({ store, outbox, emails, supportEmail: 'support@broker.example', revokeAccount: (accountId) => revokeAccount(database, accountId) });
    });

    /** An account signed in as `emailHint`, bound to the given profiles. */
    async function accountBoundTo(...profiles: ReturnType<typeof buildProfile>[]) {
      const { account, identity } = await createAccountWithIdentity(store);
      for (const profile of profiles) {
        await store.profiles.upsert(profile);
        await store.profileBindings.bind({ profileId: profile.id, accountId: account.id, identityId: identity.id, method: 'association' });
      }
      return { account, identity };
    }

    it('shows the upstream account it signs in with and its bound profiles with their portal names', async () => {
      const partner = buildProfile({ portal: 'partnersource' });
      const customer = buildProfile({ portal: 'customersource' });
      const { account, identity } = await accountBoundTo(partner, customer);
      const overview = await service.overview(account.id);
      expect(overview.upstreamName).to.equal(identity.emailHint);
      expect(overview.profiles.map((profile) => [profile.id, profile.portalName])).to.deep.equal([[partner.id, 'PartnerSource'], [customer.id, 'CustomerSource']].sort());
    });

    it('unlinks a profile: the binding is gone, a notice is queued to its address and the change is audited', async () => {
      const kept = buildProfile();
      const unlinked = buildProfile();
      const { account } = await accountBoundTo(kept, unlinked);
      await service.unlink(account.id, unlinked.id, { ip: '203.0.113.9', locale: 'de' });

      expect((await store.profileBindings.listProfilesByAccount(account.id)).map((profile) => profile.id)).to.deep.equal([kept.id]);
      const notices = (await outbox.claimDue(100)).filter((message) => message.recipient === unlinked.email);
      expect(notices.map((message) => message.kind)).to.deep.equal(['profile_unlinked']);
      const events = await store.auditEvents.list({ type: 'binding.removed', profileId: unlinked.id });
      expect(events.items).to.have.length(1);
      expect(events.items[0]).to.include({ actor: 'user', accountId: account.id, ip: '203.0.113.9', outcome: 'success' });
    });

    it('refuses to unlink a profile bound to another account, and changes nothing', async () => {
      const theirs = buildProfile();
      const { account: owner } = await accountBoundTo(theirs);
      const { account: stranger } = await accountBoundTo();
      const refusal = await service.unlink(stranger.id, theirs.id, { ip: '203.0.113.9', locale: 'en' }).catch((error: unknown) => error);
      expect(refusal).to.be.instanceOf(BrokerError);
      expect(refusal).to.include({ code: 'not_found', messageKey: 'error.profile_not_yours' });
      expect((await store.profileBindings.findByProfile(theirs.id))?.accountId).to.equal(owner.id);
      expect((await store.auditEvents.list({ type: 'binding.removed', profileId: theirs.id })).total).to.equal(0);
    });

    it('signs out everywhere: the account’s sessions are revoked and the sign-out is audited with their count', async () => {
      const { account } = await accountBoundTo(buildProfile());
      const Adapter = createOidcAdapter(suite.database, {});
      const sessions = new Adapter('Session');
      await sessions.upsert('session-of-account', { accountId: account.id }, 3600);
      expect(await sessions.find('session-of-account')).to.not.equal(undefined);

      expect(await service.signOutEverywhere(account.id, '203.0.113.10')).to.be.greaterThan(0);

      expect(await sessions.find('session-of-account')).to.equal(undefined);
      const logout = (await store.auditEvents.list({ type: 'logout', accountId: account.id })).items[0];
      expect(logout).to.include({ actor: 'user', ip: '203.0.113.10' });
      expect(logout?.details).to.include({ everywhere: true });
    });
  });
}
