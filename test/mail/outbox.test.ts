// The mail room on real parts: a real SMTP server, the outbox on every database.
import { expect } from 'chai';
import { pino } from 'pino';
import { ManualClock } from '../../src/clock.ts';
import { Outbox } from '../../src/mail/outbox.ts';
import { createEmailRenderer } from '../../src/mail/render.ts';
import { DevMailbox, createSmtpTransport, type MailTransport } from '../../src/mail/transport.ts';
import { OutboxWorker, retryDelay } from '../../src/mail/worker.ts';
import type { Database } from '../../src/store/database.ts';
import { freePort } from '../support/broker.ts';
import { testDatabases } from '../support/databases.ts';
import { TestSmtpServer } from '../support/smtp.ts';
import { within } from '../support/within.ts';

const logger = pino({ level: 'silent' });
const from = 'MBS Identity <no-reply@broker.example>';
const message = (recipient: string, subject = 'Associate your profile') => ({ kind: 'test', recipient, subject, html: `<p>${subject}</p>`, text: subject });

for (const testDatabase of testDatabases()) {
  describe(`outbox delivery on ${testDatabase.name}`, function () {
    this.timeout(30_000);
    let database: Database;
    let clock: ManualClock;
    let outbox: Outbox;
    let smtp: TestSmtpServer;

    before(async () => {
      database = await testDatabase.open();
    });
    after(() => testDatabase.close(database));
    beforeEach(async () => {
      await database('outbox').delete();
      clock = new ManualClock(Date.now());
      outbox = new Outbox(database, clock);
      smtp = new TestSmtpServer(await freePort());
    });
    afterEach(() => smtp.stop());

    const worker = (transport: MailTransport) => new OutboxWorker({ outbox, transport, clock, logger, from });

    it('delivers each queued message exactly once over SMTP', async () => {
      await smtp.start();
      for (const recipient of ['a@contoso.example', 'b@contoso.example', 'c@contoso.example']) await outbox.queue(database, message(recipient));
      const transport = createSmtpTransport(smtp.url);
      expect(await worker(transport).runOnce()).to.equal(3);
      expect(await worker(transport).runOnce()).to.equal(0);
      transport.close();
      expect(smtp.received.map((mail) => mail.to).sort()).to.deep.equal(['a@contoso.example', 'b@contoso.example', 'c@contoso.example']);
      expect(smtp.received[0]!.subject).to.equal('Associate your profile');
      expect(smtp.received[0]!.text.trim()).to.equal('Associate your profile');
      expect(smtp.received[0]!.html).to.contain('<p>Associate your profile</p>');
      expect(await outbox.pendingCount()).to.equal(0);
    });

    it('delivers a batch several messages at a time, over connections it keeps open', async () => {
      await smtp.start();
      for (let index = 0; index < 12; index += 1) await outbox.queue(database, message(`person${index}@contoso.example`));
      const transport = createSmtpTransport(smtp.url);
      expect(await new OutboxWorker({ outbox, transport, clock, logger, from, concurrency: 3 }).runOnce()).to.equal(12);
      transport.close();
      expect(smtp.received).to.have.length(12);
      // In parallel, over the pool's connections (at most 5), not one connection per message.
      expect(smtp.peakConnections).to.be.within(2, 5);
    });

    it('delivers a message this process queued as soon as its transaction commits, not at the next round', async () => {
      await smtp.start();
      const transport = createSmtpTransport(smtp.url);
      const running = worker(transport);
      running.start(3_600_000);
      try {
        await database.transaction(async (trx) => {
          await outbox.queue(trx, message('jane@contoso.example'));
          // Not before the commit: the message is not there for the worker yet.
          await new Promise((resolve) => setTimeout(resolve, 100));
          expect(smtp.received).to.have.length(0);
        });
        await within(5, async () => (smtp.received.length === 1 ? true : undefined));
        await outbox.queue(database, message('john@contoso.example'));
        await within(5, async () => (smtp.received.length === 2 ? true : undefined));
      } finally {
        await running.stop();
        transport.close();
      }
    });

    it('keeps mail through an SMTP outage and delivers it once the server is back (clock moved, no sleeping)', async () => {
      await outbox.queue(database, message('jane@contoso.example'));
      const transport = createSmtpTransport(smtp.url);
      expect(await worker(transport).runOnce()).to.equal(0);
      const [failed] = (await outbox.list({ pending: true })).items;
      expect(failed).to.deep.include({ attempts: 1 });
      expect(failed!.lastError).to.match(/ECONNREFUSED|connect/i);
      await smtp.start();
      expect(await worker(transport).runOnce(), 'not due before the backoff').to.equal(0);
      clock.advance(retryDelay(0));
      expect(await worker(transport).runOnce()).to.equal(1);
      clock.advance(retryDelay(5));
      expect(await worker(transport).runOnce()).to.equal(0);
      transport.close();
      expect(smtp.received).to.have.length(1);
    });

    it('queues nothing when the transaction that queued it rolls back', async () => {
      await database
        .transaction(async (trx) => {
          await outbox.queue(trx, message('jane@contoso.example'));
          throw new Error('the decision to send was undone');
        })
        .catch(() => undefined);
      expect(await outbox.pendingCount()).to.equal(0);
    });

    it('never sends a message twice when two workers run at once', async () => {
      for (let index = 0; index < 20; index += 1) await outbox.queue(database, message(`person${index}@contoso.example`));
      const mailbox = new DevMailbox();
      const [first, second] = await Promise.all([worker(mailbox).runOnce(), new OutboxWorker({ outbox: new Outbox(database, clock), transport: mailbox, clock, logger, from, batchSize: 20 }).runOnce()]);
      expect(first + second).to.equal(20);
      expect(new Set(mailbox.messages().map((delivered) => delivered.to)).size).to.equal(20);
      expect(mailbox.messages()).to.have.length(20);
    });

    it('lets an operator retry a message that was given up on', async () => {
      const id = await outbox.queue(database, message('jane@contoso.example'));
      const failing: MailTransport = { send: () => Promise.reject(new Error('mailbox full')), close: () => undefined };
      await new OutboxWorker({ outbox, transport: failing, clock, logger, from, maximumAttempts: 1 }).runOnce();
      clock.advance(24 * 60 * 60 * 1000);
      const mailbox = new DevMailbox();
      expect(await worker(mailbox).runOnce(), 'given up: not retried by itself').to.equal(0);
      await outbox.retry(id);
      expect(await worker(mailbox).runOnce()).to.equal(1);
      expect(mailbox.messages()[0]).to.deep.include({ to: 'jane@contoso.example', from });
    });
  });
}
