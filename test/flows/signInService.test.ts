// The sign-in service without HTTP, on the real store of every test
// database: the returning-user decision (issuer + subject bound to a profile
// of the asking portal), the portal fit (bound to other portals only), where
// the one upstream callback continues, and the identity the account page
// associates.
import { expect } from 'chai';
import { pino } from 'pino';
import { ManualClock } from '../../src/clock.ts';
import { BrokerError } from '../../src/errors.ts';
import { SignInService } from '../../src/flows/signInService.ts';
import type { Database } from '../../src/store/database.ts';
import { createStore } from '../../src/store/knexStore.ts';
import type { Portal } from '../../src/domain/records.ts';
import type { Store } from '../../src/store/store.ts';
import { createUpstream } from '../../src/upstream/index.ts';
import { Upstreams } from '../../src/upstream/upstreams.ts';
import { testDatabases } from '../support/databases.ts';
import { buildProfile, uniqueName } from '../support/factories.ts';

const upstreamIssuer = 'https://login.example/tenant/v2.0';

for (const testDatabase of testDatabases()) {
  describe(`the sign-in service on ${testDatabase.name}`, function () {
    this.timeout(30_000);
    let database: Database;
    let clock: ManualClock;
    let store: Store;
    let service: SignInService;

    before(async () => {
      database = await testDatabase.open();
    });
    after(() => testDatabase.close(database));
    beforeEach(() => {
      clock = new ManualClock(Date.now());
      store = createStore(database, clock);
      service = new SignInService({
        store,
        // Never reached by these tests: the upstream round trip runs in test/flows/signIn.test.ts.
        upstreams: new Upstreams([createUpstream({ kind: 'oidc', issuer: upstreamIssuer, clientId: 'mbs-broker' })]),
        clock,
        logger: pino({ level: 'silent' }),
        callbackUri: 'https://broker.example/upstream/callback',
        upstreamTransactionTtl: 10 * 60 * 1000,
      });
    });

    const asking = (portal: Portal | 'both') => ({ clientId: `${portal}-portal`, portal, ip: '203.0.113.9' });

    /** An upstream identity with an account bound to one profile of `portal`. */
    async function boundIdentity(portal: Portal) {
      const profile = buildProfile({ portal });
      await store.profiles.upsert(profile);
      const account = await store.accounts.create({ email: profile.email, emailVerified: true });
      const identity = await store.identities.create({ accountId: account.id, issuer: upstreamIssuer, subject: uniqueName('subject') });
      await store.profileBindings.bind({ profileId: profile.id, accountId: account.id, identityId: identity.id, method: 'admin' });
      return { accountId: account.id, identity: { upstreamId: 'oidc', issuer: identity.issuer, subject: identity.subject, email: 'person@hotmail.example' } };
    }

    it('signs a returning user in when the identity is bound to a profile of the asking portal, and records the sign-in with the upstream hints', async () => {
      const { accountId, identity } = await boundIdentity('partnersource');

      expect(await service.decide(identity, asking('partnersource'), 'uid-1')).to.deep.equal({ outcome: 'signed_in', accountId });
      expect(await service.decide(identity, asking('both'), 'uid-2')).to.deep.equal({ outcome: 'signed_in', accountId });

      const recorded = await store.identities.findByIssuerAndSubject(identity.issuer, identity.subject);
      expect(recorded).to.include({ emailHint: 'person@hotmail.example' });
      expect(recorded?.lastSignInAt).to.be.a('number');
    });

    it('hands a person bound to other portals only to the association flow with their account (the portal fit), audited as no_profile_for_portal', async () => {
      const { accountId, identity } = await boundIdentity('customersource');

      expect(await service.decide(identity, asking('partnersource'), 'uid-3')).to.deep.equal({ outcome: 'not_associated', accountId });

      const failures = await store.auditEvents.list({ type: 'sign_in', accountId });
      expect(failures.items.map((event) => [event.outcome, (event.details as { reason?: string }).reason])).to.deep.equal([['failure', 'no_profile_for_portal']]);
    });

    it('hands an unknown identity to the association flow without an account, and never matches on the upstream email', async () => {
      const { identity } = await boundIdentity('partnersource');
      const stranger = { upstreamId: 'oidc', issuer: upstreamIssuer, subject: uniqueName('stranger'), email: identity.email };
      const sameSubjectOtherIssuer = { ...identity, issuer: 'https://login.example/other-tenant/v2.0' };

      expect(await service.decide(stranger, asking('partnersource'), 'uid-4')).to.deep.equal({ outcome: 'not_associated', accountId: undefined });
      expect(await service.decide(sameSubjectOtherIssuer, asking('partnersource'), 'uid-5')).to.deep.equal({ outcome: 'not_associated', accountId: undefined });
    });

    it('continues the one upstream callback where its round trip belongs, and refuses a state it does not know', async () => {
      const signIn = uniqueName('state');
      const link = uniqueName('state');
      const roundTrip = { codeVerifier: 'verifier', nonce: 'nonce', expiresAt: clock.now() + 60_000 };
      await store.upstreamTransactions.create({ state: signIn, purpose: 'sign_in', interactionUid: 'uid 6', ...roundTrip });
      await store.upstreamTransactions.create({ state: link, purpose: 'link', ...roundTrip });

      expect(await service.continuationOf(signIn)).to.equal('/interaction/uid%206/upstream');
      expect(await service.continuationOf(link)).to.equal('/link/callback');
      for (const unknown of [undefined, uniqueName('state')]) {
        const refused = await service.continuationOf(unknown).catch((error: unknown) => error);
        expect(refused).to.be.instanceOf(BrokerError).and.include({ code: 'session_expired' });
      }
      // A sign-in round trip is single-use and belongs to its interaction.
      const forOther = await service.consumeRoundTrip(signIn, 'uid-7').catch((error: unknown) => error);
      expect(forOther).to.be.instanceOf(BrokerError).and.include({ code: 'session_expired' });
    });

    it('associates, from the account page, the identity the account signed in with last', async () => {
      const { accountId, identity } = await boundIdentity('partnersource');
      clock.advance(1_000);
      const later = await store.identities.create({ accountId, issuer: upstreamIssuer, subject: uniqueName('second') });
      await store.identities.recordSignIn(later.id, {});

      // Recorded before several upstreams (no upstream id): the first configured one.
      expect(await service.identityToAssociate(accountId)).to.deep.equal({ upstreamId: 'oidc', issuer: upstreamIssuer, subject: later.subject });
      clock.advance(1_000);
      await store.identities.recordSignIn((await store.identities.findByIssuerAndSubject(identity.issuer, identity.subject))!.id, {});
      expect(await service.identityToAssociate(accountId)).to.deep.equal({ upstreamId: 'oidc', issuer: upstreamIssuer, subject: identity.subject });
    });
  });
}
