// /healthz and /readyz as a load balancer sees them: alive while the process
// answers; ready only with the database reachable, migrations current, keys
// loaded and the outbox moving — each check named in the JSON; a failing
// mail server named too, without taking the instance out of service.
import { expect } from 'chai';
import { ManualClock } from '../../src/clock.ts';
import { freePort, startBroker, type RunningBroker } from '../support/broker.ts';

interface Readiness {
  status: string;
  checks: Record<string, { status: string; detail?: string | number }>;
}

const get = async (running: RunningBroker, path: string): Promise<{ status: number; body: Readiness }> => {
  const response = await fetch(`${running.issuer}${path}`);
  expect(response.headers.get('cache-control')).to.equal('no-store');
  return { status: response.status, body: (await response.json()) as Readiness };
};

describe('health checks', function () {
  this.timeout(30_000);

  it('say alive and ready when everything answers', async () => {
    const running = await startBroker();
    try {
      expect((await get(running, '/healthz')).status).to.equal(200);
      const ready = await get(running, '/readyz');
      expect(ready.status).to.equal(200);
      expect(ready.body.status).to.equal('ready');
      expect(Object.keys(ready.body.checks)).to.have.members(['database', 'migrations', 'keys', 'outbox', 'mail']);
      expect(ready.body.checks.mail?.status).to.equal('ok');
      expect(ready.body.checks.keys?.detail).to.equal(3);
    } finally {
      await running.stop();
    }
  });

  it('report not ready, naming the database, when it cannot be reached; alive all the same', async () => {
    const running = await startBroker();
    try {
      await running.broker.database.destroy();
      const ready = await get(running, '/readyz');
      expect(ready.status).to.equal(503);
      expect(ready.body.status).to.equal('not_ready');
      expect(ready.body.checks.database?.status).to.equal('failing');
      expect(ready.body.checks.keys?.status).to.equal('ok');
      expect((await get(running, '/healthz')).status).to.equal(200);
    } finally {
      await running.stop();
    }
  });

  it('report the outbox stuck when an email stays overdue past OUTBOX_STUCK_AFTER (clock moved, no sleeping)', async () => {
    const clock = new ManualClock(Date.now());
    const running = await startBroker({ OUTBOX_STUCK_AFTER: '600' }, { clock });
    try {
      await running.broker.outboxWorker.stop();
      await running.broker.outbox.queue(running.broker.database, { kind: 'test', recipient: 'someone@contoso.example', subject: 'Held', html: '<p>Held</p>', text: 'Held' });
      clock.advance(599_000);
      expect((await get(running, '/readyz')).status).to.equal(200);
      clock.advance(2_000);
      const stuck = await get(running, '/readyz');
      expect(stuck.status, JSON.stringify(stuck.body)).to.equal(503);
      expect(stuck.body.checks.outbox?.status).to.equal('failing');
      expect(String(stuck.body.checks.outbox?.detail)).to.match(/overdue by 601 s/);
    } finally {
      await running.stop();
    }
  });

  it('say the mail server is failing while it is, and stay ready: sign-ins go on, the outbox keeps the mail', async () => {
    const running = await startBroker({ SMTP_URL: `smtp://127.0.0.1:${await freePort()}` });
    try {
      await running.broker.outboxWorker.stop();
      await running.broker.outbox.queue(running.broker.database, { kind: 'test', recipient: 'someone@contoso.example', subject: 'Held', html: '<p>Held</p>', text: 'Held' });
      expect(await running.broker.outboxWorker.runOnce()).to.equal(0);
      const ready = await get(running, '/readyz');
      expect(ready.status).to.equal(200);
      expect(ready.body.status).to.equal('ready');
      expect(ready.body.checks.mail?.status).to.equal('degraded');
      expect(String(ready.body.checks.mail?.detail)).to.match(/^mail server failing for \d+ s \(1 failed attempts; emails are kept and retried\): ESOCKET CONN ECONNREFUSED$/);
      // A public answer: the error in a few words, not the message naming the host.
      expect(String(ready.body.checks.mail?.detail)).to.not.contain('127.0.0.1');
      const metrics = await (await fetch(`${running.issuer}/metrics`)).text();
      expect(metrics).to.match(/^mbs_mail_server_up 0$/m);
      expect(metrics).to.match(/^mbs_emails_total\{kind="test",event="failed"\} 1$/m);
    } finally {
      await running.stop();
    }
  });
});
