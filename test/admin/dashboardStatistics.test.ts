// The dashboard's numbers on the real store of every test database: sign-ins
// per UTC day with empty days as zeros, the association funnel counted in
// emails with the drop-off at each step, email delivery health from the
// outbox, and active sessions from oidc-provider's rows.
import { expect } from 'chai';
import { DashboardStatistics, funnelSteps } from '../../src/admin/dashboardStatistics.ts';
import { ManualClock } from '../../src/clock.ts';
import { Outbox } from '../../src/mail/outbox.ts';
import type { Database } from '../../src/store/database.ts';
import { createStore } from '../../src/store/knexStore.ts';
import { createOidcAdapter } from '../../src/store/oidcAdapter.ts';
import type { Store } from '../../src/store/store.ts';
import { testDatabases } from '../support/databases.ts';
import { buildOutgoingMessage, uniqueName } from '../support/factories.ts';

const day = 86_400_000;

describe('the association funnel’s steps', () => {
  it('gives each step its drop-off from the one before and its conversion, never negative, with nothing before counting as all through', () => {
    expect(funnelSteps({ asked: 10, sent: 8, opened: 4, bound: 5 })).to.deep.equal([
      { step: 'asked', count: 10, dropOff: 0, conversion: 1 },
      { step: 'sent', count: 8, dropOff: 2, conversion: 0.8 },
      { step: 'opened', count: 4, dropOff: 4, conversion: 0.5 },
      { step: 'bound', count: 5, dropOff: 0, conversion: 1.25 },
    ]);
    expect(funnelSteps({ asked: 0, sent: 0, opened: 0, bound: 0 }).map((step) => step.conversion)).to.deep.equal([1, 1, 1, 1]);
  });
});

for (const testDatabase of testDatabases()) {
  describe(`the dashboard statistics on ${testDatabase.name}`, function () {
    this.timeout(30_000);
    let database: Database;
    let clock: ManualClock;
    let store: Store;
    let outbox: Outbox;
    let statistics: DashboardStatistics;

    beforeEach(async () => {
      database = await testDatabase.open();
      // Noon of a fixed UTC day, so "the last 3 days" are three whole dates.
      clock = new ManualClock(Date.UTC(2026, 11, 4, 12));
      store = createStore(database, clock);
      outbox = new Outbox(database, clock, 'dashboard-test-key-0123456789abcdef');
      statistics = new DashboardStatistics(store.statistics, clock);
    });
    afterEach(() => testDatabase.close(database));

    it('counts sign-ins per UTC day, success and failure, with days without any as zeros', async () => {
      clock.advance(-2 * day);
      await store.auditEvents.record({ type: 'sign_in', outcome: 'success' });
      await store.auditEvents.record({ type: 'sign_in', outcome: 'failure' });
      clock.advance(2 * day);
      await store.auditEvents.record({ type: 'sign_in', outcome: 'success' });
      await store.auditEvents.record({ type: 'sign_in', outcome: 'success' });
      await store.auditEvents.record({ type: 'logout', outcome: 'success' });

      const dashboard = await statistics.dashboard(3);

      expect(dashboard.signIns).to.deep.equal([
        { day: '2026-12-02', success: 1, failure: 1 },
        { day: '2026-12-03', success: 0, failure: 0 },
        { day: '2026-12-04', success: 2, failure: 0 },
      ]);
      expect((await statistics.dashboard(1)).signIns).to.deep.equal([{ day: '2026-12-04', success: 2, failure: 0 }]);
    });

    it('counts the association funnel in emails: asked, sent, opened (profiles, once each), bound by the person (not by an admin)', async () => {
      await store.auditEvents.record({ type: 'association.email_submitted', outcome: 'success', details: { profiles: 3 } });
      for (const profileId of ['P-1', 'P-2', 'P-3']) await store.auditEvents.record({ type: 'association.link_queued', outcome: 'success', profileId });
      const sent = [];
      for (let index = 0; index < 3; index += 1) sent.push(await outbox.queue(database, buildOutgoingMessage({ kind: 'association_link' })));
      await outbox.markSent(sent[0]!, '250 ok');
      await outbox.markSent(sent[1]!, '250 ok');
      // Opened twice, by a mail scanner and then the person: one profile.
      await store.auditEvents.record({ type: 'association.link_opened', outcome: 'success', profileId: 'P-1' });
      await store.auditEvents.record({ type: 'association.link_opened', outcome: 'success', profileId: 'P-1' });
      await store.auditEvents.record({ type: 'association.link_opened', outcome: 'success', profileId: 'P-2' });
      await store.auditEvents.record({ type: 'binding.created', outcome: 'success', actor: 'user', profileId: 'P-1' });
      await store.auditEvents.record({ type: 'binding.created', outcome: 'success', actor: 'cli', profileId: 'P-9' });

      const { funnel } = await statistics.dashboard(7);

      expect(funnel.submissions).to.equal(1);
      expect(funnel.steps.map(({ step, count, dropOff }) => [step, count, dropOff])).to.deep.equal([
        ['asked', 3, 0],
        ['sent', 2, 1],
        ['opened', 2, 0],
        ['bound', 1, 1],
      ]);
    });

    it('leaves out of the period what happened before it', async () => {
      clock.advance(-10 * day);
      await store.auditEvents.record({ type: 'association.link_queued', outcome: 'success', profileId: 'P-old' });
      await store.auditEvents.record({ type: 'sign_in', outcome: 'success' });
      clock.advance(10 * day);

      const dashboard = await statistics.dashboard(7);

      expect(dashboard.funnel.steps[0]!.count).to.equal(0);
      expect(dashboard.signIns.every((entry) => entry.success === 0)).to.equal(true);
    });

    it('reports email delivery: queued, failing, given up, sent and the oldest waiting', async () => {
      await outbox.queue(database, buildOutgoingMessage());
      clock.advance(60_000);
      await outbox.queue(database, buildOutgoingMessage());
      const failing = await outbox.queue(database, buildOutgoingMessage());
      const givenUp = await outbox.queue(database, buildOutgoingMessage());
      const delivered = await outbox.queue(database, buildOutgoingMessage({ kind: 'binding_moved' }));
      await outbox.claimDue(10);
      await outbox.markFailed(failing, 'ECONNREFUSED', clock.now() + 10_000);
      await outbox.markFailed(givenUp, 'ECONNREFUSED', Number.MAX_SAFE_INTEGER);
      await outbox.markSent(delivered, '250 2.0.0 queued');
      // Claims of the rest lapse (the worker died): they are still queued.
      clock.advance(60_000);

      const { email } = await statistics.dashboard(1);

      expect(email).to.deep.equal({ queued: 2, failing: 1, givenUp: 1, sent: 1, oldestWaitingSince: clock.now() - 120_000 });
    });

    it('counts the broker’s live sessions, not expired ones and not the dev upstream’s', async () => {
      const sessions = new (createOidcAdapter(database, {}))('Session');
      const devSessions = new (createOidcAdapter(database, { namespace: 'DevUpstream' }))('Session');
      await sessions.upsert(uniqueName('live'), { accountId: 'a1' }, 3600);
      await sessions.upsert(uniqueName('live'), { accountId: 'a2' }, 3600);
      await devSessions.upsert(uniqueName('dev'), { accountId: 'dev-1' }, 3600);
      await database('oidc_payloads').insert({ type: 'Session', id: uniqueName('expired'), payload: '{}', account_id: 'a3', expires_at: Date.now() - 1000 });

      expect((await statistics.dashboard(1)).activeSessions).to.equal(2);
    });
  });
}
