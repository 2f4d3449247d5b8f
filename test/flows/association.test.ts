// The first-login association journey on real parts: an openid-client portal,
// the broker, the dev upstream, and a real SMTP server receiving the emails.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import * as client from 'openid-client';
import { ManualClock } from '../../src/clock.ts';
import { freePort, startBroker, type RunningBroker } from '../support/broker.ts';
import { runCliJson } from '../support/cli.ts';
import { buildProfile, profileCsv } from '../support/factories.ts';
import { formAction, successContinueLink } from '../support/browser.ts';
import { bindDevAccount, linkOf, mailFor, Person, reachedPortal, registerPortal, type Portal } from '../support/journey.ts';
import { errorMessage } from '../../src/errors.ts';
import { TestSmtpServer } from '../support/smtp.ts';

describe('the dev mailbox', function () {
  this.timeout(60_000);
  it('keeps the association emails at /dev/mail when no SMTP server is configured', async () => {
    const running = await startBroker({ OUTBOX_INTERVAL: '25' });
    try {
      const profile = buildProfile({ email: 'dev.person@contoso.example' });
      const file = join(mkdtempSync(join(tmpdir(), 'mbs-profiles-')), 'dev.csv');
      writeFileSync(file, profileCsv([profile]));
      await runCliJson(['profiles', 'import', file], running.environment);
      const portal = await registerPortal(running, 'partnersource');
      const person = new Person('dev-person');
      const signIn = await person.startSignIn(portal);
      await person.submitEmail(signIn.page!, profile.email);
      let mailbox = '';
      for (let attempt = 0; attempt < 100 && !mailbox.includes('/link/'); attempt += 1) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        mailbox = (await person.browser.get(`${running.issuer}/dev/mail`)).body;
      }
      const link = /href="(http[^"]+\/link\/[^"]+)"/.exec(mailbox)?.[1];
      expect(link).to.be.a('string');
      const resumed = await person.confirmLink(link!);
      expect(resumed.location).to.not.equal(undefined);
    } finally {
      await running.stop();
    }
  });
});

describe('first-login association', function () {
  this.timeout(60_000);
  let running: RunningBroker;
  let smtp: TestSmtpServer;
  let clock: ManualClock;
  let partnerSource: Portal;
  let customerSource: Portal;
  const email = 'jane.doe@contoso.example';
  const profiles = [
    buildProfile({ portal: 'partnersource', email, organization: 'Contoso Partners' }),
    buildProfile({ portal: 'partnersource', email, organization: 'Contoso Consulting' }),
    buildProfile({ portal: 'customersource', email, organization: 'Contoso Retail' }),
  ];

  before(async () => {
    smtp = new TestSmtpServer(await freePort());
    await smtp.start();
    clock = new ManualClock(Date.now());
    running = await startBroker({ SMTP_URL: smtp.url, OUTBOX_INTERVAL: '25', LINK_REQUESTS_PER_HOUR: '3' }, { clock });
    const file = join(mkdtempSync(join(tmpdir(), 'mbs-profiles-')), 'profiles.csv');
    writeFileSync(file, profileCsv(profiles));
    await runCliJson(['profiles', 'import', file], running.environment);
    partnerSource = await registerPortal(running, 'partnersource');
    customerSource = await registerPortal(running, 'customersource');
  });
  after(async () => {
    await running.stop();
    await smtp.stop();
  });
  beforeEach(() => {
    smtp.received.length = 0;
    clock.advance(2 * 60 * 60 * 1000); // a fresh rate-limit window for every test
  });

  it('goes from the portal to tokens: email form, one email per profile, link, re-authentication, binding, resume', async () => {
    const jane = new Person('jane-journey');
    const signIn = await jane.startSignIn(partnerSource);
    expect(signIn.page?.body).to.contain('Enter your MBS email address');
    const sent = await jane.submitEmail(signIn.page!, `  ${email.toUpperCase()} `);
    expect(sent.status).to.equal(303);
    const inbox = await jane.browser.get(new URL(sent.headers.get('location')!, sent.url).href);
    expect(inbox.body).to.contain('Check your inbox');

    const mails = await mailFor(smtp, 3);
    expect(mails).to.have.length(3);
    expect(new Set(mails.map(linkOf)).size).to.equal(3);
    for (const mail of mails) {
      expect(mail.to).to.equal(email);
      expect(mail.html).to.contain(linkOf(mail));
      expect(mail.text).to.contain('support@localhost');
    }
    const partnerMail = mails.find((mail) => mail.text.includes('Contoso Partners'))!;
    const resumed = await jane.confirmLink(linkOf(partnerMail));
    expect(resumed.success?.body, 'the success page before the portal').to.contain('Your Microsoft account is associated');
    expect(resumed.location, resumed.page?.body).to.not.equal(undefined);
    const tokens = await signIn.tokens(resumed.location!);
    const userinfo = await client.fetchUserInfo(partnerSource.configuration, tokens.access_token, client.skipSubjectCheck);
    expect(userinfo).to.include({ email, email_verified: true });
    expect((userinfo.mbs_profiles as Array<{ organization: string }>).map((profile) => profile.organization)).to.deep.equal(['Contoso Partners']);

    // Binding the other profiles adds them.
    const consulting = mails.find((mail) => mail.text.includes('Contoso Consulting'))!;
    const success = await jane.confirmLink(linkOf(consulting));
    expect(success.success?.body ?? '').to.contain('associated').and.to.contain('Contoso Consulting');
    // Two PartnerSource profiles now: the next sign-in asks which one it acts as.
    const again = await jane.startSignIn(partnerSource);
    const picked = await jane.pickProfile(again.page!, profiles[1]!.id);
    const moreTokens = await again.tokens(picked.location!);
    const more = await client.fetchUserInfo(partnerSource.configuration, moreTokens.access_token, client.skipSubjectCheck);
    expect((more.mbs_profiles as Array<{ organization: string }>).map((profile) => profile.organization).sort()).to.deep.equal(['Contoso Consulting', 'Contoso Partners']);
    expect((more.mbs_profile as { organization: string }).organization).to.equal('Contoso Consulting');

    const events = (await running.broker.store.auditEvents.list({ limit: 500 })).items.map((event) => event.type);
    for (const type of ['sign_in', 'association.started', 'association.email_submitted', 'association.link_queued', 'association.link_opened', 'binding.created']) expect(events).to.include(type);
  });

  it('shows the success page every time (guide step 9): the bound profile, what to do with the other emails, and the way into the portal', async () => {
    const ana = new Person('ana-success-page');
    const signIn = await ana.startSignIn(partnerSource);
    const sent = await ana.submitEmail(signIn.page!, email);
    const inboxPath = new URL(sent.headers.get('location')!, sent.url).pathname;
    const mails = await mailFor(smtp, 3);
    const linkFor = (organization: string) => linkOf(mails.find((mail) => mail.text.includes(organization))!);
    const [partners, consulting, retail] = profiles;

    const first = await ana.confirmLink(linkFor('Contoso Partners'), { continueIntoPortal: false });
    const page = first.success!;
    expect(page, 'the success page').to.not.equal(undefined);
    expect(page.status).to.equal(200);
    expect(page.headers.get('cache-control')).to.equal('no-store');
    expect(page.body)
      .to.contain('<h1>Your Microsoft account is associated</h1>')
      .and.to.contain('You have successfully associated your Microsoft account with your PartnerSource profile for <strong>Contoso Partners</strong>.')
      .and.to.contain(`<dd>${partners!.id}</dd>`)
      .and.to.contain(`<dd>${partners!.displayName}</dd>`)
      .and.to.contain('<dd>PartnerSource</dd>')
      .and.to.contain(`2 more profiles are registered to <strong>${email}</strong>, and each got an email of its own with its own link.`)
      .and.to.contain('or ignore the others');
    // In the browser that started the sign-in: a button into the portal, and the page continues by itself.
    const continuePath = `${inboxPath}?from=success`;
    expect(successContinueLink(page.body)).to.equal(continuePath);
    expect(page.body).to.contain('Continue to PartnerSource').and.to.contain('continues to PartnerSource by itself in 8 seconds');
    expect(page.headers.get('refresh')).to.equal(`8; url=${continuePath}`);
    // Meanwhile the tab of this browser waiting at "check your inbox" leaves the continuation to the success page.
    const waiting = await ana.browser.get(new URL(inboxPath, sent.url).href);
    expect(waiting.status).to.equal(200);
    expect(waiting.body).to.contain('Check your inbox');
    const { location } = await ana.browser.follow(new URL(continuePath, page.url).href, reachedPortal);
    expect(location, 'the button leads into the portal').to.not.equal(undefined);
    expect((await signIn.tokens(location!)).access_token).to.be.a('string');
    const afterwards = await ana.browser.get(new URL(inboxPath, sent.url).href);
    expect(afterwards.body).to.contain('Your sign-in continued in another tab or window');

    // The other emails, confirmed after the sign-in went on: no button, the portals instead, the rest counted down.
    const second = await ana.confirmLink(linkFor('Contoso Retail'));
    expect(second.success?.body).to.contain('CustomerSource profile for <strong>Contoso Retail</strong>').and.to.contain(`<dd>${retail!.id}</dd>`);
    expect(second.success?.body).to.contain(`One more profile is registered to <strong>${email}</strong>`).and.to.contain('If you started signing in on another device');
    expect(successContinueLink(second.success!.body)).to.equal(undefined);
    expect(second.success?.headers.get('refresh')).to.equal(null);
    const third = await ana.confirmLink(linkFor('Contoso Consulting'));
    expect(third.success?.body).to.contain(`<dd>${consulting!.id}</dd>`).and.to.contain(`Every profile registered to <strong>${email}</strong> is now associated with this Microsoft account`);
  });

  it('shows the success page in the reader’s language', async () => {
    const jean = new Person('jean-success-page');
    const signIn = await jean.startSignIn(partnerSource, { ui_locales: 'fr' });
    await jean.submitEmail(signIn.page!, email);
    const mail = (await mailFor(smtp, 3)).find((candidate) => candidate.text.includes('Contoso Partners'))!;
    jean.browser.headers['accept-language'] = 'fr';
    const confirmed = await jean.confirmLink(linkOf(mail));
    expect(confirmed.success?.body).to.contain('<html lang="fr">').and.to.contain('Votre compte Microsoft a bien été associé à votre profil PartnerSource pour <strong>Contoso Partners</strong>.');
    expect(confirmed.success?.body).to.contain('Continuer vers PartnerSource').and.to.contain('2 autres profils sont enregistrés pour');
  });

  it('continues the waiting tab by itself when the link is confirmed on another device', async () => {
    const desk = new Person('jane-two-devices');
    const signIn = await desk.startSignIn(customerSource);
    const sent = await desk.submitEmail(signIn.page!, email);
    const inboxUrl = new URL(sent.headers.get('location')!, sent.url).href;
    const customerMail = (await mailFor(smtp, 3)).find((mail) => mail.text.includes('Contoso Retail'))!;
    const phone = new Person('jane-two-devices');
    const onPhone = await phone.confirmLink(linkOf(customerMail));
    expect(onPhone.page?.body).to.contain('Your Microsoft account is associated').and.to.contain('Contoso Retail').and.to.contain('If you started signing in on another device');
    expect(successContinueLink(onPhone.page!.body), 'no button on another device').to.equal(undefined);
    const waiting = await desk.follow(inboxUrl);
    expect(waiting.location).to.not.equal(undefined);
    expect((await signIn.tokens(waiting.location!)).access_token).to.be.a('string');
  });

  it('refuses a link confirmed by a different Microsoft account (CVE-2026-9087), and keeps the link usable', async () => {
    const jane = new Person('jane-mismatch');
    const signIn = await jane.startSignIn(partnerSource);
    await jane.submitEmail(signIn.page!, email);
    const link = linkOf((await mailFor(smtp, 3))[0]!);
    const mallory = new Person('mallory');
    const refused = await mallory.confirmLink(link);
    expect(refused.page?.status).to.equal(403);
    expect(refused.page?.body).to.contain('A different Microsoft account signed in');
    expect((await jane.browser.get(link)).status).to.equal(200);
  });

  it('sends links only to the address registered for the profile, never to one typed by someone else (CVE-2025-7365)', async () => {
    const mallory = new Person('mallory-types-victim-email');
    const signIn = await mallory.startSignIn(partnerSource);
    await mallory.submitEmail(signIn.page!, email);
    const mails = await mailFor(smtp, 3);
    expect(mails.map((mail) => mail.to)).to.deep.equal([email, email, email]);
    // Without the victim's mailbox there is nothing to confirm: no binding, no code.
    const again = await mallory.startSignIn(partnerSource);
    expect(again.location).to.equal(undefined);
  });

  it('puts the MBS email in the token, not an email_verified from the upstream applied to another address (CVE-2026-14781)', async () => {
    const jane = new Person('jane-email-claim');
    const signIn = await jane.startSignIn(partnerSource);
    await jane.submitEmail(signIn.page!, email);
    const resumed = await jane.confirmLink(linkOf((await mailFor(smtp, 3)).find((mail) => mail.text.includes('Contoso Partners'))!));
    const tokens = await signIn.tokens(resumed.location!);
    const claims = tokens.claims()!;
    const userinfo = await client.fetchUserInfo(partnerSource.configuration, tokens.access_token, claims.sub);
    expect(userinfo.email).to.equal(email);
    expect(userinfo.email).to.not.equal('jane-email-claim@hotmail.example');
    expect(userinfo.email_verified).to.equal(true);
  });

  it('answers a used, expired, guessed or altered link with a clear page', async () => {
    const jane = new Person('jane-links');
    const signIn = await jane.startSignIn(partnerSource);
    await jane.submitEmail(signIn.page!, email);
    const mails = await mailFor(smtp, 3);
    const [first, second] = mails.map(linkOf);
    await jane.confirmLink(first!);
    // The profile was bound to another account by an earlier test: it moved, and its address is told.
    const [notice] = await mailFor(smtp, 1, (mail) => mail.subject.includes('associated with another Microsoft account'));
    expect(notice?.to).to.equal(email);
    const used = await jane.browser.get(first!);
    expect(used.status).to.equal(410);
    expect(used.body).to.contain('already used');
    const altered = await jane.browser.get(`${second!.slice(0, -2)}xx`);
    expect(altered.status).to.equal(404);
    expect((await jane.browser.get(`${running.issuer}/link/not-a-token`)).status).to.equal(404);
    clock.advance(25 * 60 * 60 * 1000);
    const expired = await jane.browser.get(second!);
    expect(expired.status).to.equal(410);
    expect(expired.body).to.contain('expired');
  });

  it('binds once when one link is confirmed twice in parallel', async () => {
    const jane = new Person('jane-parallel');
    const signIn = await jane.startSignIn(partnerSource);
    await jane.submitEmail(signIn.page!, email);
    const link = linkOf((await mailFor(smtp, 3))[0]!);
    // The same person on two other devices, confirming at the same moment.
    const results = await Promise.all([new Person('jane-parallel').confirmLink(link), new Person('jane-parallel').confirmLink(link)]);
    expect(results.map((result) => result.page?.status).sort()).to.deep.equal([200, 410]);
    expect(results.map((result) => result.page?.body ?? '').filter((body) => body.includes('Your Microsoft account is associated'))).to.have.length(1);
  });

  it('does not tell known from unknown addresses: same status, same page, same headers, and nothing sent', async () => {
    const known = new Person('enumeration-known');
    const unknown = new Person('enumeration-unknown');
    const knownPage = (await known.startSignIn(partnerSource)).page!;
    const unknownPage = (await unknown.startSignIn(partnerSource)).page!;
    const knownSent = await known.submitEmail(knownPage, email);
    const unknownSent = await unknown.submitEmail(unknownPage, 'nobody@nowhere.example');
    expect(unknownSent.status).to.equal(knownSent.status);
    expect([...unknownSent.headers.keys()].sort()).to.deep.equal([...knownSent.headers.keys()].sort());
    const knownInbox = await known.browser.get(new URL(knownSent.headers.get('location')!, knownSent.url).href);
    const unknownInbox = await unknown.browser.get(new URL(unknownSent.headers.get('location')!, unknownSent.url).href);
    expect(unknownInbox.status).to.equal(knownInbox.status);
    expect(unknownInbox.body.replace('nobody@nowhere.example', email).replace(/interaction\/[^/]+/g, '')).to.equal(knownInbox.body.replace(/interaction\/[^/]+/g, ''));
    await mailFor(smtp, 3);
    expect(smtp.received.filter((mail) => mail.to === 'nobody@nowhere.example')).to.have.length(0);
  });

  it('rejects an email form without its CSRF token, and an invalid address with a message tied to the field', async () => {
    const jane = new Person('jane-csrf');
    const page = (await jane.startSignIn(partnerSource)).page!;
    const forged = await jane.browser.post(new URL(formAction(page.body), page.url).href, { email });
    expect(forged.status).to.equal(403);
    expect(forged.body).to.contain('This form has expired. Go back to the portal and sign in again.');
    const invalid = await jane.submitEmail(page, 'not an email');
    expect(invalid.status).to.equal(400);
    expect(invalid.body).to.contain('aria-describedby="email-problem"');
  });

  it('rate-limits link requests per identity with a clear 429 page', async () => {
    const jane = new Person('jane-rate-limit');
    const page = (await jane.startSignIn(partnerSource)).page!;
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 4; attempt += 1) statuses.push((await jane.submitEmail(page, `someone${attempt}@nowhere.example`)).status);
    expect(statuses).to.deep.equal([303, 303, 303, 429]);
    const limited = await jane.submitEmail(page, 'someone@nowhere.example');
    expect(limited.body).to.contain('Too many association emails');
    expect(limited.headers.get('retry-after')).to.match(/^\d+$/);
  });

  it('lets a person cancel at the email step: the portal gets access_denied and the flow ends', async () => {
    const jane = new Person('jane-cancels');
    const page = (await jane.startSignIn(partnerSource)).page!;
    const cancelled = await jane.cancel(page);
    const { location } = await jane.browser.follow(new URL(cancelled.headers.get('location')!, cancelled.url).href, reachedPortal);
    expect(location?.searchParams.get('error')).to.equal('access_denied');
    const flows = (await running.broker.database('association_flows').where({ state: 'cancelled' })) as unknown[];
    expect(flows).to.have.length.greaterThan(0);
  });

  it('tells a person bound only to CustomerSource that PartnerSource needs another profile', async () => {
    const sam = new Person('sam-portal-fit');
    const customerOnly = buildProfile({ portal: 'customersource', email: 'sam@fabrikam.example' });
    const file = join(mkdtempSync(join(tmpdir(), 'mbs-profiles-')), 'sam.csv');
    writeFileSync(file, profileCsv([customerOnly]));
    await runCliJson(['profiles', 'import', file], running.environment);
    const { issuer, subject } = await runCliJson<{ issuer: string; subject: string }>(['dev-subject', 'sam-portal-fit'], running.environment);
    await runCliJson(['bindings', 'add', '--profile', customerOnly.id, '--issuer', issuer, '--subject', subject], running.environment);
    const signIn = await sam.startSignIn(partnerSource);
    expect(signIn.location).to.equal(undefined);
    expect(signIn.page?.status).to.equal(403);
    expect(signIn.page?.body).to.contain('CustomerSource profiles only').and.to.contain('Associate another profile');
  });

  it('does not let a CustomerSource session sign in to PartnerSource by SSO without a PartnerSource profile', async () => {
    const lee = new Person('lee-sso-portal-fit');
    const customerOnly = buildProfile({ portal: 'customersource', email: 'lee@fabrikam.example' });
    const file = join(mkdtempSync(join(tmpdir(), 'mbs-profiles-')), 'lee.csv');
    writeFileSync(file, profileCsv([customerOnly]));
    await runCliJson(['profiles', 'import', file], running.environment);
    const { issuer, subject } = await runCliJson<{ issuer: string; subject: string }>(['dev-subject', 'lee-sso-portal-fit'], running.environment);
    await runCliJson(['bindings', 'add', '--profile', customerOnly.id, '--issuer', issuer, '--subject', subject], running.environment);
    const atCustomerSource = await lee.startSignIn(customerSource);
    expect(atCustomerSource.location?.searchParams.get('code'), 'CustomerSource gets a code').to.be.a('string');
    expect(atCustomerSource.location?.searchParams.get('error'), 'and no error').to.equal(null);
    const atPartnerSource = await lee.startSignIn(partnerSource);
    expect(atPartnerSource.location, 'PartnerSource gets no code').to.equal(undefined);
    expect(atPartnerSource.page?.status).to.equal(403);
    expect(atPartnerSource.page?.body).to.contain('CustomerSource profiles only');
  });
});

describe('portal-started association (mbs_action=associate_profile)', function () {
  this.timeout(60_000);
  let running: RunningBroker;
  let smtp: TestSmtpServer;
  let clock: ManualClock;
  let partnerSource: Portal;
  const addProfile = { mbs_action: 'associate_profile' };

  before(async () => {
    smtp = new TestSmtpServer(await freePort());
    await smtp.start();
    clock = new ManualClock(Date.now());
    running = await startBroker({ SMTP_URL: smtp.url, OUTBOX_INTERVAL: '25' }, { clock });
    partnerSource = await registerPortal(running, 'partnersource');
  });
  after(async () => {
    await running.stop();
    await smtp.stop();
  });
  beforeEach(() => {
    smtp.received.length = 0;
  });

  /**
   * A dev-upstream account already holding a PartnerSource profile (under an
   * older address), with another PartnerSource profile and a CustomerSource
   * one registered to addresses of their own, not yet bound.
   */
  async function boundPerson(name: string) {
    const bound = buildProfile({ portal: 'partnersource', email: `${name}.old@contoso.example`, organization: `${name} Partners` });
    const partnerToAdd = buildProfile({ portal: 'partnersource', email: `${name}@contoso.example`, organization: `${name} Consulting` });
    const customerOnly = buildProfile({ portal: 'customersource', email: `${name}.retail@contoso.example`, organization: `${name} Retail` });
    await bindDevAccount(running, name, [bound], running.broker.store);
    for (const profile of [partnerToAdd, customerOnly]) await running.broker.store.profiles.upsert(profile);
    return { person: new Person(name), bound, partnerToAdd, customerOnly };
  }
  const profileIds = async (tokens: client.TokenEndpointResponse) =>
    ((await client.fetchUserInfo(partnerSource.configuration, tokens.access_token, client.skipSubjectCheck)).mbs_profile_ids as string[]).sort();

  it('goes to the email step over an SSO session with a profile bound, and returns tokens that carry the new profile', async () => {
    const { person, bound, partnerToAdd } = await boundPerson('kim');
    const signedIn = await person.startSignIn(partnerSource);
    expect(await profileIds(await signedIn.tokens(signedIn.location!))).to.deep.equal([bound.id]);

    const asked = await person.startSignIn(partnerSource, addProfile);
    expect(asked.location, 'not passed through to the portal by the session').to.equal(undefined);
    expect(asked.page?.body).to.contain('Enter your MBS email address');
    const sent = await person.submitEmail(asked.page!, partnerToAdd.email);
    expect(sent.status).to.equal(303);
    const [mail] = await mailFor(smtp, 1);
    const resumed = await person.confirmLink(linkOf(mail!));
    expect(resumed.location?.searchParams.get('code'), resumed.page?.body).to.be.a('string');
    expect(await profileIds(await asked.tokens(resumed.location!))).to.deep.equal([bound.id, partnerToAdd.id].sort());
    const events = (await running.broker.store.auditEvents.list({ limit: 500 })).items.map((event) => event.type);
    expect(events).to.include('binding.created');
  });

  it('asks for the email after a fresh sign-in too, and answers a cancel with access_denied and the catalogue’s description', async () => {
    const { person } = await boundPerson('lou');
    const asked = await person.startSignIn(partnerSource, addProfile);
    expect(asked.location, 'a bound account still goes to the email step').to.equal(undefined);
    expect(asked.page?.body).to.contain('Enter your MBS email address');
    const cancelled = await person.cancel(asked.page!);
    const { location } = await person.browser.follow(new URL(cancelled.headers.get('location')!, cancelled.url).href, reachedPortal);
    expect(location?.searchParams.get('error')).to.equal('access_denied');
    expect(location?.searchParams.get('error_description')).to.equal(errorMessage('error.association_cancelled'));
  });

  it('answers association_failed when no link was confirmed before the association ended (unknown address, link never used or expired)', async () => {
    const { person } = await boundPerson('max');
    const asked = await person.startSignIn(partnerSource, addProfile);
    const sent = await person.submitEmail(asked.page!, 'nobody.here@contoso.example');
    const inbox = new URL(sent.headers.get('location')!, sent.url).href;
    expect((await person.browser.get(inbox)).body).to.contain('Check your inbox');
    clock.advance(running.config.interactionTtl * 1000);
    const { location } = await person.browser.follow(inbox, reachedPortal);
    expect(location?.searchParams.get('error')).to.equal('association_failed');
    expect(location?.searchParams.get('error_description')).to.equal(errorMessage('error.association_failed'));
    const flows = (await running.broker.database('association_flows').where({ state: 'expired' })) as unknown[];
    expect(flows).to.have.length.greaterThan(0);
  });

  it('answers association_failed when the link confirmed bound a profile of another portal only', async () => {
    const { person, bound, customerOnly } = await boundPerson('ray');
    const asked = await person.startSignIn(partnerSource, addProfile);
    await person.submitEmail(asked.page!, customerOnly.email);
    const [mail] = await mailFor(smtp, 1);
    const resumed = await person.confirmLink(linkOf(mail!));
    expect(resumed.success?.body, 'the CustomerSource profile is bound all the same').to.contain(customerOnly.id);
    expect(resumed.location?.searchParams.get('error'), resumed.page?.body).to.equal('association_failed');
    const again = await person.startSignIn(partnerSource);
    expect(await profileIds(await again.tokens(again.location!))).to.deep.equal([bound.id]);
  });

  it('refuses another mbs_action value as invalid_request', async () => {
    const { person } = await boundPerson('zoe');
    const asked = await person.startSignIn(partnerSource, { mbs_action: 'delete_account' });
    expect(asked.location?.searchParams.get('error')).to.equal('invalid_request');
  });
});
