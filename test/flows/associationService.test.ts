// The association service without HTTP, on the real store of every test
// database, the real outbox and the real email renderer: what requesting
// links queues (and does not, for an unknown address), the rate limits, the
// identity check and the single-use bind of a confirmation, and resuming.
import { expect } from 'chai';
import { pino } from 'pino';
import { ManualClock } from '../../src/clock.ts';
import { BrokerError } from '../../src/errors.ts';
import { AssociationService, LinkRequestsLimited } from '../../src/flows/associationService.ts';
import { Outbox, type OutboxMessage } from '../../src/mail/outbox.ts';
import { secretHash } from '../../src/secrets.ts';
import { createStore } from '../../src/store/knexStore.ts';
import type { AssociationFlowRecord, ProfileInput } from '../../src/domain/records.ts';
import type { Store } from '../../src/store/store.ts';
import { createUpstream } from '../../src/upstream/index.ts';
import { Upstreams } from '../../src/upstream/upstreams.ts';
import type { UpstreamIdentity } from '../../src/upstream/upstream.ts';
import { serviceSuite, testDatabases } from '../support/databases.ts';
import { buildProfile, uniqueName } from '../support/factories.ts';
import { linkOf } from '../support/journey.ts';

const issuer = 'https://broker.example';
const upstreamIssuer = 'https://login.example/tenant/v2.0';
const linkTtl = 30 * 60 * 1000;
const linkRequestsPerHour = 3;

for (const testDatabase of testDatabases()) {
  describe(`the association service on ${testDatabase.name}`, function () {
    this.timeout(30_000);
    const suite = serviceSuite(testDatabase);
    let clock: ManualClock;
    let store: Store;
    let outbox: Outbox;
    let service: AssociationService;

    beforeEach(() => {
      const { database, emails } = suite;
      clock = new ManualClock(Date.now());
      store = createStore(database, clock);
      outbox = new Outbox(database, clock, 'association-service-test-key-0123456789');
      service = new AssociationService({
        store,
        outbox,
        emails,
        // Never reached by these tests: the upstream round trip runs in test/flows/association.test.ts.
        upstreams: new Upstreams([createUpstream({ kind: 'oidc', issuer: upstreamIssuer, clientId: 'mbs-broker' })]),
        clock,
        logger: pino({ level: 'silent' }),
        issuer,
        callbackUri: `${issuer}/upstream/callback`,
        supportEmail: 'support@broker.example',
        flowTtl: 60 * 60 * 1000,
        linkTtl,
        upstreamTransactionTtl: 10 * 60 * 1000,
        linkRequestsPerHour,
      });
    });

    /** A person who signed in upstream and has no profile of the portal yet: a new flow, and who they are. */
    async function startFlow(): Promise<{ flow: AssociationFlowRecord; identity: UpstreamIdentity; requester: { ip: string; locale: 'en'; clientId: string } }> {
      const identity = { upstreamId: 'oidc', issuer: upstreamIssuer, subject: uniqueName('subject') };
      const started = await service.start({ interactionUid: uniqueName('interaction'), clientId: 'partnersource-portal', identity, accountId: undefined, portal: 'partnersource', ip: '203.0.113.7' });
      expect(started.next).to.equal('ask_email');
      // An address of its own per test, so the per-IP limit counts only this test's requests.
      return { flow: started.flow, identity, requester: { ip: uniqueName('ip'), locale: 'en', clientId: 'partnersource-portal' } };
    }

    const profiles = async (...inputs: ProfileInput[]): Promise<ProfileInput[]> => {
      for (const input of inputs) await store.profiles.upsert(input);
      return inputs;
    };

    /** The association emails queued for `recipient`, bodies opened. */
    const queuedFor = async (recipient: string): Promise<OutboxMessage[]> => (await outbox.claimDue(100)).filter((message) => message.recipient === recipient);
    const tokenOf = (message: OutboxMessage): string => linkOf(message).split('/link/')[1]!;

    it('queues one link and one email per profile registered to the address, each link for its own profile', async () => {
      const email = `${uniqueName('person')}@contoso.example`;
      const [partner, customer] = await profiles(buildProfile({ email, portal: 'partnersource' }), buildProfile({ email, portal: 'customersource' }));
      const { flow, requester } = await startFlow();

      expect(await service.requestLinks(flow, email, requester)).to.equal(2);

      const queued = await queuedFor(email);
      expect(queued.map((message) => message.kind)).to.deep.equal(['association_link', 'association_link']);
      const described = await Promise.all(queued.map((message) => service.describeLink(tokenOf(message))));
      expect(described.map((link) => (link.status === 'valid' ? link.profile.id : link.status)).sort()).to.deep.equal([partner!.id, customer!.id].sort());
      // Only the hash is stored: the token itself finds the link, nothing else in the row equals it.
      for (const message of queued) expect((await store.linkRequests.findByTokenHash(secretHash(tokenOf(message))))?.tokenHash).to.not.equal(tokenOf(message));
      const moved = await service.findFlow(flow.interactionUid!);
      expect(moved).to.include({ state: 'links_sent', email });
    });

    it('answers an unknown address as a known one, but creates no link and queues no email', async () => {
      const email = `${uniqueName('nobody')}@contoso.example`;
      const { flow, requester } = await startFlow();
      const pendingBefore = (await store.linkRequests.listPending()).total;

      expect(await service.requestLinks(flow, email, requester)).to.equal(0);

      expect((await store.linkRequests.listPending()).total).to.equal(pendingBefore);
      expect(await queuedFor(email)).to.deep.equal([]);
      // The same next step as for a known address: "check your inbox".
      expect(await service.findFlow(flow.interactionUid!)).to.include({ state: 'links_sent', email });
      const submitted = await store.auditEvents.list({ type: 'association.email_submitted', clientId: requester.clientId });
      expect(submitted.items.some((event) => event.ip === requester.ip && (event.details as { profiles?: number }).profiles === 0)).to.equal(true);
    });

    it('refuses link requests over the hourly limit of the identity with a rate_limited BrokerError saying when to retry, and queues nothing more', async () => {
      const { flow, requester } = await startFlow();
      const addresses = Array.from({ length: linkRequestsPerHour + 1 }, () => `${uniqueName('person')}@contoso.example`);
      await profiles(...addresses.map((email) => buildProfile({ email })));
      for (const email of addresses.slice(0, linkRequestsPerHour)) await service.requestLinks(flow, email, requester);

      const refused = await service.requestLinks(flow, addresses.at(-1)!, requester).then(
        () => undefined,
        (error: unknown) => error,
      );

      expect(refused).to.be.instanceOf(LinkRequestsLimited).and.instanceOf(BrokerError);
      expect(refused).to.include({ code: 'rate_limited', status: 429 });
      expect((refused as LinkRequestsLimited).retryAfterSeconds).to.be.within(1, 3600);
      expect(await queuedFor(addresses.at(-1)!)).to.deep.equal([]);
    });

    it('refuses a link confirmed by another upstream identity: nothing bound, the link stays unused', async () => {
      const [profile] = await profiles(buildProfile());
      const { flow, requester } = await startFlow();
      await service.requestLinks(flow, profile!.email, requester);
      const [message] = await queuedFor(profile!.email);
      const token = tokenOf(message!);

      const intruder = { upstreamId: 'oidc', issuer: upstreamIssuer, subject: uniqueName('intruder'), email: 'intruder@fabrikam.example' };
      const outcome = await service.confirm(secretHash(token), intruder, requester);

      expect(outcome).to.deep.include({ outcome: 'identity_mismatch', signedIn: 'intruder@fabrikam.example' });
      expect(await store.profileBindings.findByProfile(profile!.id)).to.equal(undefined);
      expect((await service.describeLink(token)).status).to.equal('valid');
      expect(await service.findFlow(flow.interactionUid!)).to.include({ state: 'links_sent' });
    });

    it('binds the identity that asked, and a link binds once however many confirmations run at the same time', async () => {
      const [profile] = await profiles(buildProfile());
      const { flow, identity, requester } = await startFlow();
      await service.requestLinks(flow, profile!.email, requester);
      const [message] = await queuedFor(profile!.email);
      const token = tokenOf(message!);

      const outcomes = await Promise.all(Array.from({ length: 5 }, () => service.confirm(secretHash(token), identity, requester)));

      expect(outcomes.map((outcome) => outcome.outcome).sort()).to.deep.equal(['bound', 'used', 'used', 'used', 'used']);
      const account = await store.identities.findByIssuerAndSubject(identity.issuer, identity.subject);
      // The flow, its link and then the identity keep which upstream the person signed in through.
      expect(account).to.include({ upstreamId: 'oidc' });
      expect(await store.profileBindings.findByProfile(profile!.id)).to.include({ accountId: account!.accountId });
      expect((await store.auditEvents.list({ type: 'binding.created', profileId: profile!.id })).total).to.equal(1);
      expect((await service.describeLink(token)).status).to.equal('used');
      expect(await service.findFlow(flow.interactionUid!)).to.include({ state: 'bound' });
    });

    it('refuses an expired link and a token it never issued, without consuming anything', async () => {
      const [profile] = await profiles(buildProfile());
      const { flow, requester } = await startFlow();
      await service.requestLinks(flow, profile!.email, requester);
      const [message] = await queuedFor(profile!.email);

      expect((await service.describeLink('A'.repeat(43))).status).to.equal('unknown');
      expect((await service.describeLink('../../etc')).status).to.equal('unknown');
      clock.advance(linkTtl);
      expect((await service.describeLink(tokenOf(message!))).status).to.equal('expired');
    });

    it('resends a pending link for an admin: a new link for the same profile and identity replaces it, its email queued, within the same per-address limit', async () => {
      const [profile] = await profiles(buildProfile());
      const { flow, identity, requester } = await startFlow();
      await service.requestLinks(flow, profile!.email, requester);
      const [first] = await queuedFor(profile!.email);
      const oldLink = (await service.describeLink(tokenOf(first!))) as { link: { id: string } };

      const resent = await service.resendLink(oldLink.link.id, { actor: 'support-desk', locale: 'de' });

      const [second] = await queuedFor(profile!.email);
      expect(second!.subject).to.not.equal(first!.subject, 'the email is in the language asked for');
      expect((await service.describeLink(tokenOf(first!))).status).to.equal('unknown');
      expect(await service.describeLink(tokenOf(second!))).to.deep.include({ status: 'valid' });
      expect(resent).to.include({ profileId: profile!.id, issuer: identity.issuer, subject: identity.subject, flowId: flow.id });
      const [event] = (await store.auditEvents.list({ type: 'association.link_resent', profileId: profile!.id })).items;
      expect(event).to.deep.include({ actor: 'support-desk', details: { previousLinkId: oldLink.link.id, linkId: resent.id } });

      // The person asked once; the address's hourly limit allows linkRequestsPerHour in all.
      let link = resent;
      for (let resend = 2; resend < linkRequestsPerHour; resend += 1) link = await service.resendLink(link.id, { actor: 'support-desk', locale: 'en' });
      const refused = await service.resendLink(link.id, { actor: 'support-desk', locale: 'en' }).catch((error: unknown) => error);
      expect(refused).to.be.instanceOf(LinkRequestsLimited);
      expect((await store.linkRequests.find(link.id))?.consumedAt, 'the refused resend leaves the link as it was').to.equal(undefined);
      const unknown = await service.resendLink('no-such-link', { actor: 'support-desk', locale: 'en' }).catch((error: unknown) => error);
      expect(unknown).to.include({ code: 'not_found' });
    });

    it('resumes the waiting sign-in only once the identity has a profile of the asking portal', async () => {
      const [profile] = await profiles(buildProfile({ portal: 'partnersource' }));
      const { flow, identity, requester } = await startFlow();
      const waiting = (portal: 'partnersource' | 'customersource') => async () => ({ clientId: requester.clientId, portal, associationRequested: false, ip: requester.ip });
      await service.requestLinks(flow, profile!.email, requester);
      expect(await service.resume(flow, waiting('partnersource'))).to.equal(undefined);

      const [message] = await queuedFor(profile!.email);
      await service.confirm(secretHash(tokenOf(message!)), identity, requester);
      const account = await store.identities.findByIssuerAndSubject(identity.issuer, identity.subject);

      expect(await service.resume(flow, waiting('customersource'))).to.equal(undefined);
      expect(await service.resume(flow, waiting('partnersource'))).to.equal(account!.accountId);
      expect((await store.identities.findByIssuerAndSubject(identity.issuer, identity.subject))?.lastSignInAt).to.be.a('number');
    });
  });
}
