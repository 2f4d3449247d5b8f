// The console's dashboard over HTTP with a real broker: every role opens
// it; its charts are SVG with a title and a description, and the numbers
// behind them stand in tables beside; the period is chosen by a link.
import { expect } from 'chai';
import { startBroker, type RunningBroker } from '../../support/broker.ts';
import { consoleUser } from '../../support/console.ts';
import { uniqueName } from '../../support/factories.ts';

describe('the console’s dashboard', function () {
  this.timeout(60_000);
  let running: RunningBroker;

  before(async () => {
    running = await startBroker();
  });
  after(() => running.stop());

  it('shows sign-ins per day and the association funnel as SVG with their numbers, to every role', async () => {
    for (let index = 0; index < 3; index += 1) await running.broker.store.auditEvents.record({ type: 'sign_in', outcome: 'failure', details: { reason: 'test' } });
    await running.broker.store.auditEvents.record({ type: 'association.link_queued', outcome: 'success', profileId: 'DASH-1' });
    await running.broker.store.auditEvents.record({ type: 'association.link_opened', outcome: 'success', profileId: 'DASH-1' });
    const today = new Date().toISOString().slice(0, 10);
    for (const role of ['auditor', 'support', 'admin'] as const) {
      const { person, page } = await consoleUser(running, uniqueName(role), role);
      expect(page.body, role).to.contain('href="/admin/dashboard"');
      const dashboard = await person.browser.get(`${running.issuer}/admin/dashboard?days=7`);
      expect(dashboard.status, role).to.equal(200);
      expect(dashboard.body).to.match(/<svg class="chart"[^>]*role="img"[^>]*aria-labelledby="sign-ins-title sign-ins-desc"/);
      expect(dashboard.body).to.contain('<title id="funnel-title">').and.contain('<desc id="funnel-desc">');
      // The sign-ins of today, from the audit log (the console sign-ins above count as successes).
      expect(dashboard.body).to.match(new RegExp(`<tr><td>${today}</td><td>\\d+</td><td>3</td></tr>`));
      expect((dashboard.body.match(/<tr><td>\d{4}-\d{2}-\d{2}<\/td>/g) ?? []).length, 'seven days').to.equal(7);
      expect(dashboard.body).to.contain('<td>Links opened</td><td>1</td>');
      expect(dashboard.body).to.not.contain('style=');
    }
  });
});
