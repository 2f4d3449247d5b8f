// The mail room on real parts: a real SMTP server, the outbox on every database.
import { expect } from 'chai';
import { pino } from 'pino';
import { ManualClock, systemClock } from '../../src/clock.ts';
import { BrokerError } from '../../src/errors.ts';
import { Outbox, type OutgoingMessage } from '../../src/mail/outbox.ts';
import { DevMailbox, createSmtpTransport, type MailTransport } from '../../src/mail/transport.ts';
import { OutboxWorker, retryDelay } from '../../src/mail/worker.ts';
import { databaseClient } from '../../src/store/database.ts';
import type { Database } from '../../src/store/database.ts';
import { freePort } from '../support/broker.ts';
import { buildOutgoingMessage } from '../support/factories.ts';
import { testDatabases } from '../support/databases.ts';
import { TestSmtpServer } from '../support/smtp.ts';
import { within } from '../support/within.ts';

const logger = pino({ level: 'silent' });
const keyEncryptionKey = 'outbox-test-key-encryption-key-0123456789';
const from = 'MBS Identity <no-reply@broker.example>';

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
      outbox = new Outbox(database, clock, keyEncryptionKey);
      smtp = new TestSmtpServer(await freePort());
    });
    afterEach(() => smtp.stop());

    const worker = (transport: MailTransport) => new OutboxWorker({ outbox, transport, clock, logger, from });

    it('delivers each queued message exactly once over SMTP', async () => {
      await smtp.start();
      for (const recipient of ['a@contoso.example', 'b@contoso.example', 'c@contoso.example']) await outbox.queue(database, buildOutgoingMessage({ recipient }));
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
      for (let index = 0; index < 12; index += 1) await outbox.queue(database, buildOutgoingMessage());
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
          await outbox.queue(trx, buildOutgoingMessage());
          // Not before the commit: the message is not there for the worker yet.
          await new Promise((resolve) => setTimeout(resolve, 100));
          expect(smtp.received).to.have.length(0);
        });
        await within(5, async () => (smtp.received.length === 1 ? true : undefined));
        await outbox.queue(database, buildOutgoingMessage());
        await within(5, async () => (smtp.received.length === 2 ? true : undefined));
      } finally {
        await running.stop();
        transport.close();
      }
    });

    it('keeps mail through an SMTP outage and delivers it once the server is back (clock moved, no sleeping)', async () => {
      await outbox.queue(database, buildOutgoingMessage());
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
          await outbox.queue(trx, buildOutgoingMessage());
          throw new Error('the decision to send was undone');
        })
        .catch(() => undefined);
      expect(await outbox.pendingCount()).to.equal(0);
    });

    it('never sends a message twice when two workers run at once', async () => {
      for (let index = 0; index < 20; index += 1) await outbox.queue(database, buildOutgoingMessage());
      const mailbox = new DevMailbox();
      const [first, second] = await Promise.all([worker(mailbox).runOnce(), new OutboxWorker({ outbox: new Outbox(database, clock, keyEncryptionKey), transport: mailbox, clock, logger, from, batchSize: 20 }).runOnce()]);
      expect(first + second).to.equal(20);
      expect(new Set(mailbox.messages().map((delivered) => delivered.to)).size).to.equal(20);
      expect(mailbox.messages()).to.have.length(20);
    });

    it('lets an operator retry a message that was given up on', async () => {
      const id = await outbox.queue(database, buildOutgoingMessage({ recipient: 'jane@contoso.example' }));
      const failing: MailTransport = { send: () => Promise.reject(new Error('mailbox full')), close: () => undefined };
      await new OutboxWorker({ outbox, transport: failing, clock, logger, from, maximumAttempts: 1 }).runOnce();
      clock.advance(24 * 60 * 60 * 1000);
      const mailbox = new DevMailbox();
      expect(await worker(mailbox).runOnce(), 'given up: not retried by itself').to.equal(0);
      await outbox.retry(id);
      expect(await worker(mailbox).runOnce()).to.equal(1);
      expect(mailbox.messages()[0]).to.deep.include({ to: 'jane@contoso.example', from });
    });

    it('gives every attempt at a message the same Message-ID, derived from its outbox id', async () => {
      await smtp.start();
      const id = await outbox.queue(database, buildOutgoingMessage());
      const attempted: string[] = [];
      const refusing: MailTransport = { send: (envelope) => (attempted.push(envelope.messageId), Promise.reject(new Error('451 try again later'))), close: () => undefined };
      expect(await worker(refusing).runOnce()).to.equal(0);
      clock.advance(retryDelay(0));
      const transport = createSmtpTransport(smtp.url);
      expect(await worker(transport).runOnce()).to.equal(1);
      transport.close();
      expect(attempted).to.deep.equal([`<${id}@broker.example>`]);
      expect(smtp.received.map((mail) => mail.messageId)).to.deep.equal([`<${id}@broker.example>`]);
    });

    it('retries on the configured schedule: first wait, doubling, capped', async () => {
      expect([0, 1, 2, 3, 4, 5, 6].map((attempts) => retryDelay(attempts))).to.deep.equal([10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]);
      const schedule = { firstMilliseconds: 1_000, longestMilliseconds: 4_000 };
      expect([0, 1, 2, 3].map((attempts) => retryDelay(attempts, schedule))).to.deep.equal([1_000, 2_000, 4_000, 4_000]);
      await outbox.queue(database, buildOutgoingMessage());
      const transport = createSmtpTransport(smtp.url);
      const scheduled = new OutboxWorker({ outbox, transport, clock, logger, from, retry: schedule });
      expect(await scheduled.runOnce()).to.equal(0);
      expect(scheduled.mailServerStatus().failing).to.deep.include({ failedAttempts: 1 });
      expect(scheduled.mailServerStatus().failing?.lastError).to.equal('ESOCKET CONN ECONNREFUSED');
      await smtp.start();
      clock.advance(999);
      expect(await scheduled.runOnce(), 'not before the first wait').to.equal(0);
      clock.advance(1);
      expect(await scheduled.runOnce()).to.equal(1);
      transport.close();
      expect(scheduled.mailServerStatus().failing).to.equal(undefined);
    });

    it('keeps the claim of a delivery in flight alive past its length (heartbeat): no other worker takes it', async () => {
      await smtp.start();
      smtp.holding = true;
      const live = new Outbox(database, systemClock, keyEncryptionKey, { claimMilliseconds: 300 });
      const other = new Outbox(database, systemClock, keyEncryptionKey, { claimMilliseconds: 300 });
      await live.queue(database, buildOutgoingMessage());
      const transport = createSmtpTransport(smtp.url);
      const delivering = new OutboxWorker({ outbox: live, transport, clock: systemClock, logger, from }).runOnce();
      await within(5, async () => (smtp.heldCount === 1 ? true : undefined));
      // Three claim lengths while SMTP holds its answer: the other worker finds nothing due.
      for (let check = 0; check < 9; check += 1) {
        expect(await other.claimDue(10)).to.deep.equal([]);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      smtp.release();
      expect(await delivering).to.equal(1);
      transport.close();
      expect(smtp.received).to.have.length(1);
    });

    it('hands the claims of a process that died to its successor: at once on SQLite, once they lapse on PostgreSQL', async () => {
      await outbox.queue(database, buildOutgoingMessage());
      const dead = new Outbox(database, clock, keyEncryptionKey, { claimMilliseconds: 5_000 });
      expect(await dead.claimDue(10)).to.have.length(1);
      const successor = new Outbox(database, clock, keyEncryptionKey, { claimMilliseconds: 5_000 });
      const released = await successor.releaseClaimsOfPredecessor();
      if (databaseClient(database) === 'sqlite') {
        expect(released).to.equal(1);
        expect(await successor.claimDue(10)).to.have.length(1);
      } else {
        // Another instance may be alive and sending it: its claim is left to lapse.
        expect(released).to.equal(0);
        expect(await successor.claimDue(10)).to.have.length(0);
        clock.advance(5_001);
        expect(await successor.claimDue(10)).to.have.length(1);
      }
      // The dead process's claim is gone: a renewal by it (had it lived on) holds nothing.
      expect([...(await dead.renew([String((await database('outbox').first()).id)]))]).to.deep.equal([]);
    });

    describe('bodies at rest', () => {
      const secretLink = 'https://broker.example/link/Wm9vLXRoaXMtaXMtYS1zZWNyZXQtbGluay10b2tlbg';
      const linkMessage = (overrides: Partial<OutgoingMessage> = {}) => buildOutgoingMessage({ kind: 'association_link', html: `<a href="${secretLink}">associate</a>`, text: `Open ${secretLink}`, ...overrides });
      const rowText = async () => JSON.stringify(await database('outbox').select('*'));

      it('are sealed in the row: no HTML, no text, no link, only AES-256-GCM', async () => {
        await outbox.queue(database, linkMessage());
        const [row] = (await database('outbox').select('*')) as Array<Record<string, unknown>>;
        expect(row).to.not.have.property('html');
        expect(row).to.not.have.property('text');
        expect(String(row!.sealed_body)).to.match(/^sealed:v1:[\w-]+\.[\w-]+\.[\w-]+$/);
        expect(await rowText()).to.not.contain('Wm9vLXRoaXMtaXMtYS1zZWNyZXQtbGluay10b2tlbg').and.not.contain('associate</a>');
        const [claimed] = await outbox.claimDue(10);
        expect(claimed).to.deep.include({ html: `<a href="${secretLink}">associate</a>`, text: `Open ${secretLink}` });
      });

      it('are gone once SMTP accepted the message, while `outbox list` keeps what an operator needs', async () => {
        await smtp.start();
        const id = await outbox.queue(database, linkMessage({ recipient: 'jane@contoso.example', subject: 'Associate your profile' }));
        const transport = createSmtpTransport(smtp.url);
        expect(await worker(transport).runOnce()).to.equal(1);
        transport.close();
        expect(smtp.received[0]!.text).to.contain(secretLink);
        const [row] = (await database('outbox').where({ id })) as Array<Record<string, unknown>>;
        expect(row!.sealed_body).to.equal(null);
        const { items, total } = await outbox.list();
        expect(total).to.equal(1);
        expect(items[0]).to.deep.include({ id, kind: 'association_link', recipient: 'jane@contoso.example', subject: 'Associate your profile', attempts: 0 });
        expect(items[0]!.sentAt).to.be.a('number');
        expect(items[0]).to.not.have.property('html');
        expect(items[0]).to.not.have.property('text');
      });

      it('stay sealed through failed attempts, for the retry', async () => {
        await outbox.queue(database, linkMessage());
        const failing: MailTransport = { send: () => Promise.reject(new Error('mailbox full')), close: () => undefined };
        await worker(failing).runOnce();
        expect(String(((await database('outbox').first()) as Record<string, unknown>).sealed_body)).to.match(/^sealed:v1:/);
        clock.advance(retryDelay(0));
        const mailbox = new DevMailbox();
        expect(await worker(mailbox).runOnce()).to.equal(1);
        expect(mailbox.messages()[0]!.text).to.contain(secretLink);
      });

      it('under another KEY_ENCRYPTION_KEY are a clear error, never garbage sent, and stay queued', async () => {
        await outbox.queue(database, linkMessage());
        const stranger = new Outbox(database, clock, 'another-key-encryption-key-0123456789abcdef');
        let refusal: unknown;
        await stranger.claimDue(10).catch((error: unknown) => (refusal = error));
        expect(refusal).to.be.instanceOf(BrokerError);
        expect((refusal as BrokerError).code).to.equal('invalid_configuration');
        expect((refusal as BrokerError).publicMessage).to.equal('KEY_ENCRYPTION_KEY does not open the queued emails: it is not the key they were encrypted with');
        const mailbox = new DevMailbox();
        await new OutboxWorker({ outbox: stranger, transport: mailbox, clock, logger, from }).runOnce().catch(() => undefined);
        expect(mailbox.messages()).to.have.length(0);
        // Nothing was claimed by the failed attempt: the right key delivers it at once.
        expect(await worker(mailbox).runOnce()).to.equal(1);
      });

      it('cannot be moved to another row: each is bound to its message id', async () => {
        const first = await outbox.queue(database, linkMessage());
        const second = await outbox.queue(database, buildOutgoingMessage({ subject: 'other' }));
        const { sealed_body: sealed } = (await database('outbox').where({ id: first }).first()) as { sealed_body: string };
        await database('outbox').where({ id: second }).update({ sealed_body: sealed });
        let refusal: unknown;
        await outbox.claimDue(10).catch((error: unknown) => (refusal = error));
        expect(String(refusal)).to.contain('KEY_ENCRYPTION_KEY does not open the queued emails');
      });
    });
  });
}
