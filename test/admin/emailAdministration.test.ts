// The support desk's "why didn't my email arrive" on the real store of every
// test database, with a real SMTP server: for one address, its profiles, the
// emails queued and sent with the server's reply line (never the body), a
// failing one with its error, and the pending links of its profiles only.
import { expect } from 'chai';
import { pino } from 'pino';
import { EmailAdministration } from '../../src/admin/emailAdministration.ts';
import type { ManualClock } from '../../src/clock.ts';
import { Outbox } from '../../src/mail/outbox.ts';
import { createSmtpTransport } from '../../src/mail/transport.ts';
import { OutboxWorker } from '../../src/mail/worker.ts';
import type { Database } from '../../src/store/database.ts';
import type { Store } from '../../src/store/store.ts';
import { freePort } from '../support/broker.ts';
import { suiteStore, testDatabases } from '../support/databases.ts';
import { buildLinkRequest, buildOutgoingMessage, buildProfile, uniqueName } from '../support/factories.ts';
import { TestSmtpServer } from '../support/smtp.ts';

for (const testDatabase of testDatabases()) {
  describe(`the emails and links of an address on ${testDatabase.name}`, function () {
    this.timeout(30_000);
    const suite = suiteStore(testDatabase);
    let database: Database;
    let clock: ManualClock;
    let store: Store;
    let outbox: Outbox;
    let smtp: TestSmtpServer;

    before(async () => {
      ({ database, clock, store } = suite);
      outbox = new Outbox(database, clock, 'email-desk-test-key-0123456789abcdef');
      smtp = new TestSmtpServer(await freePort());
      await smtp.start();
    });
    after(() => smtp.stop());

    it('shows the address’s profiles, its emails with the SMTP server’s answer or the last error, and only its own pending links', async () => {
      const email = `${uniqueName('jane')}@contoso.example`;
      const [partner, customer] = [buildProfile({ email }), buildProfile({ email, portal: 'customersource' })];
      const elsewhere = buildProfile();
      for (const profile of [partner!, customer!, elsewhere]) await store.profiles.upsert(profile);
      const pending = await store.linkRequests.create(buildLinkRequest(partner!.id, { expiresAt: clock.now() + 60_000 }));
      const used = await store.linkRequests.create(buildLinkRequest(customer!.id, { expiresAt: clock.now() + 60_000 }));
      await store.linkRequests.consume(used.id);
      await store.linkRequests.create(buildLinkRequest(elsewhere.id, { expiresAt: clock.now() + 60_000 }));
      await outbox.queue(database, buildOutgoingMessage({ kind: 'association_link', recipient: email, subject: 'Associate PartnerSource', html: '<p>secret link</p>', text: 'secret link' }));
      await outbox.queue(database, buildOutgoingMessage({ kind: 'association_link', recipient: elsewhere.email }));
      const transport = createSmtpTransport(smtp.url);
      await new OutboxWorker({ outbox, transport, clock, logger: pino({ level: 'silent' }), from: 'MBS <no-reply@broker.example>' }).runOnce();
      transport.close();
      const failing = await outbox.queue(database, buildOutgoingMessage({ recipient: email, subject: 'Not yet' }));
      await outbox.claimDue(10);
      await outbox.markFailed(failing, '451 4.3.0 mailbox busy', clock.now() + 10_000);

      const report = await new EmailAdministration({ store, outbox }, { surface: 'console', accountId: 'desk' }).forAddress(` ${email.toUpperCase()}`);

      expect(report.email).to.equal(email);
      expect(report.profiles.map((profile) => profile.id).sort()).to.deep.equal([partner!.id, customer!.id].sort());
      expect(report.emails.map((message) => message.subject)).to.have.members(['Associate PartnerSource', 'Not yet']);
      const sent = report.emails.find((message) => message.subject === 'Associate PartnerSource')!;
      expect(sent.sentAt).to.be.a('number');
      expect(sent.smtpResponse).to.match(/^250 /);
      expect(report.emails.find((message) => message.subject === 'Not yet')).to.include({ attempts: 1, lastError: '451 4.3.0 mailbox busy', sentAt: undefined, smtpResponse: undefined });
      expect(JSON.stringify(report)).to.not.contain('secret link');
      expect(report.pendingLinks.map((link) => link.id)).to.deep.equal([pending.id]);
    });

    it('refuses an empty address, and a resend where no broker runs to render the email', async () => {
      const desk = new EmailAdministration({ store, outbox }, { surface: 'cli' });
      expect(await desk.forAddress('  ').catch((error: unknown) => error)).to.include({ code: 'invalid_request', status: 400 });
      expect(await desk.resendLink('any').catch((error: unknown) => error)).to.include({ code: 'temporarily_unavailable' });
    });
  });
}
