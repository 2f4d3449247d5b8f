// Conformance of the association repositories on every database.
import { expect } from 'chai';
import { ManualClock } from '../../src/clock.ts';
import type { Database } from '../../src/store/database.ts';
import { createStore } from '../../src/store/knexStore.ts';
import type { Store } from '../../src/store/store.ts';
import { secretHash, generateSecret } from '../../src/secrets.ts';
import { testDatabases } from '../support/databases.ts';
import { buildAssociationFlow, buildLinkRequest, buildProfile } from '../support/factories.ts';

for (const testDatabase of testDatabases()) {
  describe(`association store on ${testDatabase.name}`, () => {
    let database: Database;
    let clock: ManualClock;
    let store: Store;
    before(async () => {
      database = await testDatabase.open();
    });
    after(() => testDatabase.close(database));
    beforeEach(() => {
      clock = new ManualClock();
      store = createStore(database, clock);
    });

    const newFlow = () => store.associationFlows.create(buildAssociationFlow({ interactionUid: 'uid-1', expiresAt: clock.now() + 3_600_000 }));

    it('moves a flow only from the expected states, so concurrent requests cannot both move it', async () => {
      const flow = await newFlow();
      expect((await store.associationFlows.findByInteraction('uid-1'))?.id).to.equal(flow.id);
      const moves = await Promise.all(Array.from({ length: 10 }, () => store.associationFlows.transition(flow.id, ['email_requested'], 'links_sent', { email: 'jane@contoso.example' })));
      expect(moves.filter(Boolean)).to.have.length(1);
      expect(await store.associationFlows.find(flow.id)).to.deep.include({ state: 'links_sent', email: 'jane@contoso.example' });
      expect(await store.associationFlows.transition(flow.id, ['email_requested'], 'bound')).to.equal(false);
    });

    it('keeps only the hash of a link token and consumes a link exactly once among 50 parallel confirmations', async () => {
      const profile = buildProfile();
      await store.profiles.upsert(profile);
      const flow = await newFlow();
      const token = generateSecret();
      const link = await store.linkRequests.create(buildLinkRequest(profile.id, { tokenHash: secretHash(token), flowId: flow.id, issuer: flow.issuer, subject: flow.subject, interactionUid: 'uid-1', expiresAt: clock.now() + 86_400_000 }));
      const stored = (await database('link_requests').where({ id: link.id }).first()) as Record<string, unknown>;
      expect(JSON.stringify(stored)).to.not.contain(token);
      expect((await store.linkRequests.findByTokenHash(secretHash(token)))?.id).to.equal(link.id);
      expect((await store.linkRequests.listPending()).items.map((item) => item.id)).to.include(link.id);
      const results = await Promise.all(Array.from({ length: 50 }, () => store.linkRequests.consume(link.id)));
      expect(results.filter(Boolean)).to.have.length(1);
      expect((await store.linkRequests.findByTokenHash(secretHash(token)))?.consumedAt).to.equal(clock.now());
    });

    it('keeps the upstream a flow’s identity signed in through, and its links’ (where their confirmation re-authenticates)', async () => {
      const profile = buildProfile();
      await store.profiles.upsert(profile);
      const flow = await store.associationFlows.create(buildAssociationFlow({ upstreamId: 'work', expiresAt: clock.now() + 3_600_000 }));
      expect((await store.associationFlows.find(flow.id))?.upstreamId).to.equal('work');
      const link = await store.linkRequests.create(buildLinkRequest(profile.id, { flowId: flow.id, upstreamId: flow.upstreamId }));
      expect((await store.linkRequests.findByTokenHash(link.tokenHash))?.upstreamId).to.equal('work');
      const older = await store.linkRequests.create(buildLinkRequest(profile.id));
      expect((await store.linkRequests.findByTokenHash(older.tokenHash))?.upstreamId).to.equal(undefined);
    });

    it('refuses to consume an expired link (clock moved, no sleeping)', async () => {
      const profile = buildProfile();
      await store.profiles.upsert(profile);
      const link = await store.linkRequests.create(buildLinkRequest(profile.id, { expiresAt: clock.now() + 1000 }));
      clock.advance(1000);
      expect(await store.linkRequests.consume(link.id)).to.equal(false);
    });

    it('counts rate-limited events without lost updates: of 50 parallel hits with limit 5, exactly 5 are allowed', async () => {
      const results = await Promise.all(Array.from({ length: 50 }, () => store.rateLimits.hit('link-requests:ip:127.0.0.1', 5, 60_000)));
      expect(results.filter((result) => result.allowed)).to.have.length(5);
      expect(Math.max(...results.map((result) => result.count))).to.equal(50);
      clock.advance(60_000);
      expect((await store.rateLimits.hit('link-requests:ip:127.0.0.1', 5, 60_000)).allowed).to.equal(true);
      clock.advance(1);
      expect(await store.sweepExpired()).to.be.greaterThanOrEqual(1);
    });
  });
}
