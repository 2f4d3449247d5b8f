// The console's emails and links page over HTTP with a real broker and its
// dev mailbox: support reads what was sent to an address and the mail
// server's answer, resends a pending link (a new email arrives, the old link
// stops working) and revokes one; an empty address is shown beside the
// field; auditors are refused, direct POSTs included.
import { expect } from 'chai';
import { hiddenField } from '../../support/browser.ts';
import { startBroker, type RunningBroker } from '../../support/broker.ts';
import { consoleUser } from '../../support/console.ts';
import { buildLinkRequest, buildOutgoingMessage, buildProfile, uniqueName } from '../../support/factories.ts';
import { within } from '../../support/within.ts';

describe('the console’s emails and links page', function () {
  this.timeout(60_000);
  let running: RunningBroker;

  before(async () => {
    running = await startBroker();
  });
  after(() => running.stop());

  /** An address with one profile, an association email delivered to it, and a pending link. */
  async function addressWithPendingLink() {
    const email = `${uniqueName('sam')}@fabrikam.example`;
    const profile = buildProfile({ email });
    await running.broker.store.profiles.upsert(profile);
    const link = await running.broker.store.linkRequests.create(buildLinkRequest(profile.id));
    await running.broker.outbox.queue(running.broker.database, buildOutgoingMessage({ kind: 'association_link', recipient: email, subject: 'Associate your profile' }));
    await running.broker.outboxWorker.runOnce();
    return { email, profile, link };
  }

  it('shows the emails sent to an address with the mail server’s answer, and its pending links', async () => {
    const sam = await addressWithPendingLink();
    const { person } = await consoleUser(running, uniqueName('desk'), 'support');
    const page = await person.browser.get(`${running.issuer}/admin/emails?address=${encodeURIComponent(sam.email.toUpperCase())}`);
    expect(page.status).to.equal(200);
    expect(page.body).to.contain(sam.profile.id).and.contain('Associate your profile').and.contain('250 kept in the dev mailbox');
    expect(page.body).to.contain(`/admin/emails/links/${sam.link.id}/resend`);
    const empty = await person.browser.get(`${running.issuer}/admin/emails?address=`);
    expect(empty.status).to.equal(400);
    expect(empty.body).to.match(/id="address"[^>]*aria-invalid="true"/).and.contain('Enter an email address.');
  });

  it('resends a pending link: a new email in the mailbox, the old link replaced; and revokes a link', async () => {
    const sam = await addressWithPendingLink();
    const { person } = await consoleUser(running, uniqueName('desk'), 'support');
    const page = await person.browser.get(`${running.issuer}/admin/emails?address=${encodeURIComponent(sam.email)}`);
    const before = running.broker.devMailbox!.messages().filter((message) => message.to === sam.email).length;

    const resent = await person.browser.post(`${running.issuer}/admin/emails/links/${sam.link.id}/resend`, { csrf: hiddenField(page.body, 'csrf')!, address: sam.email });
    expect(resent.status).to.equal(302);
    const after = await person.browser.get(new URL(resent.headers.get('location')!, running.issuer).href);
    expect(after.body).to.contain('A new link is on its way');
    await within(5, async () => (running.broker.devMailbox!.messages().filter((message) => message.to === sam.email).length === before + 1 ? true : undefined));
    expect(await running.broker.store.linkRequests.find(sam.link.id)).to.equal(undefined);
    const [pending] = (await running.broker.store.linkRequests.listPending({ profileIds: [sam.profile.id] })).items;
    expect(pending!.id).to.not.equal(sam.link.id);

    const revoked = await person.browser.post(`${running.issuer}/admin/emails/links/${pending!.id}/revoke`, { csrf: hiddenField(after.body, 'csrf')!, address: sam.email });
    expect(revoked.status).to.equal(302);
    expect((await running.broker.store.linkRequests.listPending({ profileIds: [sam.profile.id] })).total).to.equal(0);
    const again = await person.browser.post(`${running.issuer}/admin/emails/links/${pending!.id}/revoke`, { csrf: hiddenField(after.body, 'csrf')!, address: sam.email });
    expect(again.status).to.equal(404);
    expect(again.body).to.contain('This link is no longer pending');
  });

  it('refuses auditors the page and its forms', async () => {
    const sam = await addressWithPendingLink();
    const { person, page } = await consoleUser(running, uniqueName('auditor'), 'auditor');
    expect((await person.browser.get(`${running.issuer}/admin/emails?address=${encodeURIComponent(sam.email)}`)).status).to.equal(403);
    for (const action of ['resend', 'revoke']) {
      expect((await person.browser.post(`${running.issuer}/admin/emails/links/${sam.link.id}/${action}`, { csrf: hiddenField(page.body, 'csrf')!, address: sam.email })).status, action).to.equal(403);
    }
    expect(await running.broker.store.linkRequests.find(sam.link.id)).to.not.equal(undefined);
  });
});
