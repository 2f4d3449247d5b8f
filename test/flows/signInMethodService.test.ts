// Several sign-in methods per account, on real parts: a broker with two dev
// upstreams (oidc-provider instances on ports of their own), a real SMTP
// server for the notices, and Chromium for the account page's accessibility.
// Adding a method (another upstream, or a second account of the same one)
// then signing in with it reaches the same account and profiles; removing
// one; refusing to remove the last; refusing an identity of another account;
// the CSRF and state refusals; notices and audit events.
import { expect } from 'chai';
import * as client from 'openid-client';
import { formAction, hiddenField, type Page } from '../support/browser.ts';
import { freePort, startBroker, type RunningBroker } from '../support/broker.ts';
import { launchChromium, skipWithoutChromium, seriousAccessibilityViolations } from '../support/chromium.ts';
import { serveDevUpstream, type ServedDevUpstream } from '../support/devUpstreams.ts';
import { buildProfile, createAccountWithIdentity } from '../support/factories.ts';
import { mailFor, Person, registerPortal, type Portal } from '../support/journey.ts';
import { TestSmtpServer } from '../support/smtp.ts';
import { devSubject } from '../../src/upstream/devUpstream.ts';
import type { ProfileInput } from '../../src/domain/records.ts';

const upstreamClient = { clientId: 'mbs-broker', clientSecret: 'upstream-secret' };

/** The landing page's button for the upstream `id`, as an absolute URL. */
function choice(page: Page, id: string): string {
  const href = new RegExp(`<a[^>]*data-upstream="${id}"[^>]*href="([^"]+)"`).exec(page.body)?.[1];
  expect(href, page.body).to.be.a('string');
  return new URL(href!.replace(/&amp;/g, '&'), page.url).href;
}

describe('several sign-in methods per account', function () {
  this.timeout(90_000);
  let northwind: ServedDevUpstream;
  let fabrikam: ServedDevUpstream;
  let smtp: TestSmtpServer;
  let running: RunningBroker;
  let portal: Portal;

  before(async () => {
    const port = await freePort();
    const clients = [{ ...upstreamClient, redirectUris: [`http://127.0.0.1:${port}/upstream/callback`] }];
    [northwind, fabrikam] = [await serveDevUpstream({ clients }), await serveDevUpstream({ clients })];
    smtp = new TestSmtpServer(await freePort());
    await smtp.start();
    const upstreams = [
      { id: 'northwind', kind: 'oidc', name: 'Northwind ID', issuer: northwind.issuer, ...upstreamClient },
      { id: 'fabrikam', kind: 'oidc', name: 'Fabrikam Login', issuer: fabrikam.issuer, ...upstreamClient },
    ];
    running = await startBroker({ UPSTREAMS: JSON.stringify(upstreams), SMTP_URL: smtp.url, OUTBOX_INTERVAL: '25' }, { port });
    portal = await registerPortal(running, 'partnersource');
  });
  after(async () => {
    await running?.stop();
    await smtp?.stop();
    await northwind?.stop();
    await fabrikam?.stop();
  });

  /** `accountName` at `upstream` holds `profiles`; returns its account id. */
  async function bind(accountName: string, upstream: ServedDevUpstream, profiles: ProfileInput[]): Promise<string> {
    const { store } = running.broker;
    const { account, identity } = await createAccountWithIdentity(store, { identity: { issuer: upstream.issuer, subject: devSubject(accountName), emailHint: `${accountName}@hotmail.example`, upstreamId: upstream === northwind ? 'northwind' : 'fabrikam' } });
    for (const profile of profiles) {
      await store.profiles.upsert(profile);
      await store.profileBindings.bind({ profileId: profile.id, accountId: account.id, identityId: identity.id, method: 'admin' });
    }
    return account.id;
  }

  /** Signs `person` in at the portal through `upstreamId`; returns the ID token's sub and the userinfo's profile ids. */
  async function signInAtPortal(person: Person, upstreamId: string): Promise<{ sub: string; profiles: string[] }> {
    const started = await person.startSignIn(portal);
    const reached = started.location ? started : await person.follow(choice(started.page!, upstreamId));
    expect(reached.location, reached.page?.body).to.not.equal(undefined);
    const tokens = await started.tokens(reached.location!);
    const userinfo = await client.fetchUserInfo(portal.configuration, tokens.access_token, client.skipSubjectCheck);
    return { sub: tokens.claims()!.sub, profiles: (userinfo.mbs_profiles as Array<{ id: string }>).map((profile) => profile.id).sort() };
  }

  /** The account page of `person`, signing in there through `upstreamId` when the browser has no session. */
  async function accountPage(person: Person, upstreamId = 'northwind'): Promise<Page> {
    let { page } = await person.follow(`${running.issuer}/account`);
    if (page?.body.includes('id="sign-in-continue"')) ({ page } = await person.follow(choice(page, upstreamId)));
    expect(page?.status, page?.body).to.equal(200);
    return page!;
  }

  const csrfOf = (page: Page): string => hiddenField(page.body, 'csrf')!;

  /** Presses "add a sign-in with …" and signs in upstream as `accountName` (in the same browser); returns where it stopped. */
  async function addMethod(person: Person, page: Page, upstreamId: string, accountName: string) {
    const started = await person.browser.post(new URL('/account/sign-in-methods/add', page.url).href, { csrf: csrfOf(page), upstream: upstreamId });
    expect(started.status, started.body).to.equal(303);
    return new Person(accountName, person.browser).follow(started.headers.get('location')!);
  }

  /** The "remove" form of the method whose hint is `hint`. */
  function removeAction(page: Page, hint: string): string | undefined {
    const row = page.body.split('<tr>').find((candidate) => candidate.includes(`<td>${hint}</td>`));
    return row ? /<form method="post" action="([^"]+\/remove)"/.exec(row)?.[1] : undefined;
  }

  it('adds another upstream’s account on the account page; it then signs in to the same account and profiles', async () => {
    // Two profiles of one address (a PartnerSource one and a CustomerSource one: one PartnerSource profile, so no profile picker).
    const profiles = [buildProfile({ portal: 'partnersource', email: 'jane.methods@contoso.example' }), buildProfile({ portal: 'customersource', email: 'jane.methods@contoso.example' })];
    const accountId = await bind('jane-methods', northwind, profiles);
    const jane = new Person('jane-methods');
    const before = await signInAtPortal(jane, 'northwind');

    const page = await accountPage(jane);
    expect(page.body).to.contain('Northwind ID').and.to.contain('Add a sign-in with Fabrikam Login');
    const { page: back } = await addMethod(jane, page, 'fabrikam', 'jane-at-fabrikam');
    expect(back?.status, back?.body).to.equal(200);
    expect(back?.body).to.contain('jane-at-fabrikam@hotmail.example').and.to.contain('Fabrikam Login');
    expect(fabrikam.authorizationRequests.at(-1)?.get('prompt')).to.equal('login');

    const added = await running.broker.store.identities.findByIssuerAndSubject(fabrikam.issuer, devSubject('jane-at-fabrikam'));
    expect(added).to.include({ accountId, upstreamId: 'fabrikam' });
    const audited = await running.broker.store.auditEvents.list({ type: 'identity.added' });
    expect(audited.items.find((event) => event.accountId === accountId)).to.include({ actor: 'user', outcome: 'success' });
    // One notice per address of the bound profiles (both profiles share one), at the real SMTP server.
    const [notice] = await mailFor(smtp, 1, (mail) => mail.to === 'jane.methods@contoso.example' && mail.subject.includes('sign-in method was added'));
    expect(notice?.text).to.contain('Fabrikam Login').and.to.contain('jane-at-fabrikam@hotmail.example');

    // Signing in with the new method, in another browser, reaches the same account and profiles.
    const after = await signInAtPortal(new Person('jane-at-fabrikam'), 'fabrikam');
    expect(after).to.deep.equal(before);
    expect(after.profiles).to.deep.equal([profiles[0]!.id]);
  });

  it('adds a second account of the same upstream', async () => {
    const profile = buildProfile({ portal: 'partnersource' });
    const accountId = await bind('sam-first', northwind, [profile]);
    const sam = new Person('sam-first');
    const before = await signInAtPortal(sam, 'northwind');
    const page = await accountPage(sam);
    await addMethod(sam, page, 'northwind', 'sam-second');
    expect(await running.broker.store.identities.findByIssuerAndSubject(northwind.issuer, devSubject('sam-second'))).to.include({ accountId });
    expect(await signInAtPortal(new Person('sam-second'), 'northwind')).to.deep.equal(before);
  });

  it('removes a method after a confirmation (noticed, audited), and refuses to remove the last', async () => {
    const profile = buildProfile({ portal: 'partnersource', email: 'remover@contoso.example' });
    const accountId = await bind('remover', northwind, [profile]);
    const person = new Person('remover');
    const first = await accountPage(person);
    expect(removeAction(first, 'remover@hotmail.example'), 'the only method offers no removal').to.equal(undefined);
    expect(first.body).to.contain('Your only sign-in method cannot be removed.');
    const added = await addMethod(person, first, 'fabrikam', 'remover-spare');
    const page = added.page!;

    const action = removeAction(page, 'remover-spare@hotmail.example');
    const confirmation = await person.browser.post(new URL(action!, page.url).href, { csrf: csrfOf(page) });
    expect(confirmation.status).to.equal(200);
    expect(confirmation.body).to.contain('Remove this sign-in method?').and.to.contain('Fabrikam Login (remover-spare@hotmail.example)');
    const forged = await person.browser.post(new URL(formAction(confirmation.body), page.url).href, { csrf: 'forged' });
    expect(forged.status, 'a forged confirmation').to.equal(403);
    const done = await person.browser.post(new URL(formAction(confirmation.body), page.url).href, { csrf: csrfOf(confirmation) });
    expect(done.status).to.equal(303);
    expect((await accountPage(person)).body).to.not.contain('remover-spare@hotmail.example');
    expect(await running.broker.store.identities.findByIssuerAndSubject(fabrikam.issuer, devSubject('remover-spare'))).to.equal(undefined);
    expect((await running.broker.store.auditEvents.list({ type: 'identity.removed' })).items.find((event) => event.accountId === accountId)).to.include({ actor: 'user', outcome: 'success' });
    const [notice] = await mailFor(smtp, 1, (mail) => mail.to === 'remover@contoso.example' && mail.subject.includes('sign-in method was removed'));
    expect(notice?.text).to.contain('remover-spare@hotmail.example');
    // The removed account no longer signs in to this account: it is a stranger, sent to the email step.
    const spare = new Person('remover-spare');
    const stranger = await spare.startSignIn(portal);
    const emailStep = await spare.follow(choice(stranger.page!, 'fabrikam'));
    expect(emailStep.location, 'no way into the portal').to.equal(undefined);

    // The last one is refused even when asked by hand.
    const [last] = await running.broker.store.identities.listByAccount(accountId);
    const refused = await person.browser.post(`${running.issuer}/account/sign-in-methods/${last!.id}/remove/confirm`, { csrf: csrfOf(page) });
    expect(refused.status).to.equal(409);
    expect(refused.body).to.contain('This is your only way to sign in, so it cannot be removed.');
    expect(await running.broker.store.identities.listByAccount(accountId)).to.have.length(1);
  });

  it('refuses an account that already signs in to another account, and explains how to move profiles there', async () => {
    const mine = buildProfile({ portal: 'partnersource' });
    const theirs = buildProfile({ portal: 'partnersource' });
    const accountId = await bind('owner', northwind, [mine]);
    const otherAccountId = await bind('already-used', fabrikam, [theirs]);
    const person = new Person('owner');
    const page = await accountPage(person);
    const { page: refused } = await addMethod(person, page, 'fabrikam', 'already-used');
    expect(refused?.status).to.equal(409);
    expect(refused?.body).to.contain('This sign-in belongs to another account').and.to.contain('already-used@hotmail.example').and.to.contain('Associate another profile');
    expect(await running.broker.store.identities.findByIssuerAndSubject(fabrikam.issuer, devSubject('already-used'))).to.include({ accountId: otherAccountId });
    expect(await running.broker.store.identities.listByAccount(accountId)).to.have.length(1);
    expect((await running.broker.store.auditEvents.list({ type: 'identity.add_refused' })).items.find((event) => event.accountId === accountId)).to.include({ outcome: 'failure' });
  });

  it('starts adding only with the form’s CSRF token, and finishes only in the browser and account that started', async () => {
    const accountId = await bind('guarded', northwind, [buildProfile({ portal: 'partnersource' })]);
    await bind('intruder', northwind, [buildProfile({ portal: 'partnersource' })]);
    const person = new Person('guarded');
    const page = await accountPage(person);
    const forged = await person.browser.post(`${running.issuer}/account/sign-in-methods/add`, { csrf: 'forged', upstream: 'fabrikam' });
    expect(forged.status).to.equal(403);
    const unknown = await person.browser.post(`${running.issuer}/account/sign-in-methods/add`, { csrf: csrfOf(page), upstream: 'contoso' });
    expect(unknown.status).to.equal(400);

    // The upstream's answer, carried to another browser (signed in to another account), attaches nothing.
    const started = await person.browser.post(`${running.issuer}/account/sign-in-methods/add`, { csrf: csrfOf(page), upstream: 'fabrikam' });
    const intruder = new Person('intruder');
    await accountPage(intruder);
    const upstreamLogin = await new Person('guarded-spare', intruder.browser).browser.follow(started.headers.get('location')!);
    const signedIn = await intruder.browser.post(new URL(formAction(upstreamLogin.page!.body), upstreamLogin.page!.url).href, { account: 'guarded-spare', email: 'guarded-spare@hotmail.example' });
    const answered = await intruder.browser.follow(new URL(signedIn.headers.get('location')!, signedIn.url).href);
    expect(answered.page?.status, answered.page?.body).to.equal(400);
    expect(answered.page?.body).to.contain('started in another browser');
    expect(await running.broker.store.identities.findByIssuerAndSubject(fabrikam.issuer, devSubject('guarded-spare'))).to.equal(undefined);
    expect(await running.broker.store.identities.listByAccount(accountId)).to.have.length(1);
  });

  describe('the account page in Chromium', () => {
    it('lists the sign-in methods with no serious accessibility violations in English, German and French', async function () {
      skipWithoutChromium(this);
      const chromium = await launchChromium();
      try {
        await bind('axe-reader', northwind, [buildProfile({ portal: 'partnersource' })]);
        for (const [locale, heading] of [['en-US', 'How you sign in'], ['de-DE', 'So melden Sie sich an'], ['fr-FR', 'Vos méthodes de connexion']] as const) {
          const context = await chromium.newContext({ locale });
          const page = await context.newPage();
          await page.goto(`${running.issuer}/account`);
          await page.locator('a[data-upstream="northwind"]').click();
          await page.getByLabel('Account name').fill('axe-reader');
          await page.getByRole('button', { name: 'Sign in' }).click();
          await page.waitForURL(`${running.issuer}/account`);
          await page.getByRole('heading', { name: heading }).waitFor();
          expect(await page.getByRole('table', { name: heading }).getByRole('row').count()).to.equal(2);
          expect(await seriousAccessibilityViolations(page), locale).to.deep.equal([]);
          await context.close();
        }
      } finally {
        await chromium.close();
      }
    });
  });
});
