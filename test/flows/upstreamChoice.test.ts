// Several upstreams in one broker, on real parts: two oidc-provider instances
// (dev upstreams on ports of their own) configured through UPSTREAMS. The
// sign-in page offers both (real Chromium chooses, in English and German,
// held to axe-core); a portal's login_hint or domain_hint picks one by its
// domain and goes upstream with it; prompt=login, max_age and
// prompt=select_account reach the upstream; and one upstream keeps today's
// single button.
import { expect } from 'chai';
import type { Browser as Chromium, BrowserContext } from 'playwright-core';
import { signInContinueLink, type Page } from '../support/browser.ts';
import { freePort, startBroker, type RunningBroker } from '../support/broker.ts';
import { launchChromium, skipWithoutChromium, ScreenshotAlbum, seriousAccessibilityViolations } from '../support/chromium.ts';
import { serveDevUpstream, type ServedDevUpstream } from '../support/devUpstreams.ts';
import { buildProfile, createAccountWithIdentity } from '../support/factories.ts';
import { Person, redirectUri, registerPortal, type Portal } from '../support/journey.ts';
import { within } from '../support/within.ts';
import { devSubject } from '../../src/upstream/devUpstream.ts';
import * as openid from 'openid-client';

const client = { clientId: 'mbs-broker', clientSecret: 'upstream-secret' };

/** The landing page's button for the upstream `id`, as an absolute URL. */
function choice(page: Page, id: string): string {
  const href = new RegExp(`<a[^>]*data-upstream="${id}"[^>]*href="([^"]+)"`).exec(page.body)?.[1];
  expect(href, page.body).to.be.a('string');
  return new URL(href!.replace(/&amp;/g, '&'), page.url).href;
}

/** A portal's authorization request (code + PKCE), for a browser that is not a Person's. */
async function authorizationUrl(portal: Portal, extra: Record<string, string> = {}): Promise<string> {
  const parameters = { redirect_uri: redirectUri, scope: 'openid', code_challenge: await openid.calculatePKCECodeChallenge(openid.randomPKCECodeVerifier()), code_challenge_method: 'S256', ...extra };
  return openid.buildAuthorizationUrl(portal.configuration, parameters).href;
}

/** Which upstream the landing page's first (one-click) button signs in with. */
const featured = (page: Page): string | undefined => /<a[^>]*id="sign-in-continue"[^>]*data-upstream="([^"]+)"/.exec(page.body)?.[1];

describe('several upstreams: the choice on the sign-in page', function () {
  this.timeout(90_000);
  let northwind: ServedDevUpstream;
  let fabrikam: ServedDevUpstream;
  let running: RunningBroker;
  let portal: Portal;

  before(async () => {
    const port = await freePort();
    const clients = [{ ...client, redirectUris: [`http://127.0.0.1:${port}/upstream/callback`] }];
    [northwind, fabrikam] = [await serveDevUpstream({ clients }), await serveDevUpstream({ clients })];
    const upstreams = [
      { id: 'northwind', kind: 'oidc', name: 'Northwind ID', issuer: northwind.issuer, ...client, domains: ['northwind.example'] },
      { id: 'fabrikam', kind: 'oidc', name: 'Fabrikam Login', issuer: fabrikam.issuer, ...client, domains: ['fabrikam.example'] },
    ];
    running = await startBroker({ UPSTREAMS: JSON.stringify(upstreams) }, { port });
    portal = await registerPortal(running, 'partnersource');
  });
  after(async () => {
    await running?.stop();
    await northwind?.stop();
    await fabrikam?.stop();
  });

  /** `accountName` at `upstream` holds a PartnerSource profile. */
  async function bind(accountName: string, upstream: ServedDevUpstream): Promise<void> {
    const { store } = running.broker;
    const profile = buildProfile({ portal: 'partnersource' });
    await store.profiles.upsert(profile);
    const { account, identity } = await createAccountWithIdentity(store, { identity: { issuer: upstream.issuer, subject: devSubject(accountName) } });
    await store.profileBindings.bind({ profileId: profile.id, accountId: account.id, identityId: identity.id, method: 'admin' });
  }

  describe('in Chromium', () => {
    let chromium: Chromium;
    before(async function () {
      skipWithoutChromium(this);
      chromium = await launchChromium();
    });
    after(() => chromium?.close());

    /** A browser tab whose portal callback is answered in place (the test portal has no server). */
    async function tab(locale: string): Promise<{ context: BrowserContext; page: import('playwright-core').Page }> {
      const context = await chromium.newContext({ locale });
      await context.route(`${redirectUri}**`, (route) => route.fulfill({ contentType: 'text/plain', body: 'back at the portal' }));
      return { context, page: await context.newPage() };
    }

    it('offers every upstream as an accessible button and signs in with the one chosen', async () => {
      await bind('jane', fabrikam);
      const { context, page } = await tab('en-US');
      await page.goto(await authorizationUrl(portal));
      await page.waitForLoadState('load');
      const choices = page.getByRole('list', { name: 'Sign in with' });
      expect(await choices.getByRole('link').allTextContents()).to.deep.equal(['Sign in with Northwind ID', 'Sign in with Fabrikam Login']);
      expect(await seriousAccessibilityViolations(page)).to.deep.equal([]);
      await new ScreenshotAlbum('upstream-choice').take(page, 'sign-in-page-with-two-upstreams');

      await page.getByRole('link', { name: 'Sign in with Fabrikam Login' }).click();
      await page.waitForURL(`${fabrikam.issuer}/**`);
      await page.getByLabel('Account name').fill('jane');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(`${redirectUri}**`);
      expect(new URL(page.url()).searchParams.get('code')).to.be.a('string');
      const identity = await running.broker.store.identities.findByIssuerAndSubject(fabrikam.issuer, devSubject('jane'));
      expect(identity).to.include({ upstreamId: 'fabrikam' });
      await context.close();
    });

    it('names the choices in the reader’s language', async () => {
      const { context, page } = await tab('de-DE');
      await page.goto(await authorizationUrl(portal));
      expect(await page.getByRole('list', { name: 'Anmelden mit' }).getByRole('link').allTextContents()).to.deep.equal(['Mit Northwind ID anmelden', 'Mit Fabrikam Login anmelden']);
      await context.close();
    });
  });

  it('lets a portal’s login_hint or domain_hint pick the upstream by domain, and passes the hint on', async () => {
    const byLoginHint = await new Person('john').startSignIn(portal, { login_hint: 'John@Fabrikam.example' });
    expect(featured(byLoginHint.page!)).to.equal('fabrikam');
    const byDomainHint = await new Person('john').startSignIn(portal, { domain_hint: 'northwind.example' });
    expect(featured(byDomainHint.page!)).to.equal('northwind');
    const unknownDomain = await new Person('john').startSignIn(portal, { login_hint: 'john@elsewhere.example' });
    expect(featured(unknownDomain.page!)).to.equal('northwind');

    const person = new Person('john');
    const started = await person.startSignIn(portal, { login_hint: 'john@fabrikam.example' });
    await person.browser.follow(new URL(signInContinueLink(started.page!.body)!, started.page!.url).href);
    expect(fabrikam.authorizationRequests.at(-1)?.get('login_hint')).to.equal('john@fabrikam.example');
  });

  it('passes prompt=login and max_age to the upstream a signed-in account last used, and prompt=select_account after a new choice', async () => {
    await bind('ann', northwind);
    const person = new Person('ann');
    const first = await person.startSignIn(portal);
    const signedIn = await person.follow(choice(first.page!, 'northwind'));
    expect(signedIn.location, 'first sign-in reaches the portal').to.not.equal(undefined);

    // Signed in: straight back to Northwind (no choice), which is told to ask again.
    const again = await person.startSignIn(portal, { prompt: 'login', max_age: '600' });
    expect(again.location, 'the re-authentication reaches the portal').to.not.equal(undefined);
    const reauthentication = northwind.authorizationRequests.at(-1)!;
    expect([reauthentication.get('prompt'), reauthentication.get('max_age')]).to.deep.equal(['login', '600']);

    // An account switch may mean another upstream: the choice, then the upstream is asked to let the person pick.
    const switching = await person.startSignIn(portal, { prompt: 'select_account' });
    expect(switching.page?.body).to.contain('data-upstream="fabrikam"');
    const switched = await person.follow(choice(switching.page!, 'northwind'));
    expect(northwind.authorizationRequests.at(-1)?.get('prompt')).to.equal('select_account');
    expect(switched.location, 'the switch reaches the portal').to.not.equal(undefined);
  });

  it('with prompt=select_account and two profiles of the portal: the upstream choice, the account choice upstream, then the profile picker', async () => {
    const { store } = running.broker;
    const profiles = [buildProfile({ portal: 'partnersource' }), buildProfile({ portal: 'partnersource' })].sort((left, right) => left.id.localeCompare(right.id));
    for (const profile of profiles) await store.profiles.upsert(profile);
    const { account, identity } = await createAccountWithIdentity(store, { identity: { issuer: northwind.issuer, subject: devSubject('pia') } });
    for (const profile of profiles) await store.profileBindings.bind({ profileId: profile.id, accountId: account.id, identityId: identity.id, method: 'admin' });
    const person = new Person('pia');
    const first = await person.startSignIn(portal, { scope: 'openid mbs_profiles' });
    const picker = await person.follow(choice(first.page!, 'northwind'));
    await person.pickProfile(picker.page!, profiles[0]!.id);

    const switching = await person.startSignIn(portal, { scope: 'openid mbs_profiles', prompt: 'select_account' });
    expect(switching.page?.body, 'the upstream choice first').to.contain('data-upstream="fabrikam"');
    const pickerAgain = await person.follow(choice(switching.page!, 'northwind'));
    expect(northwind.authorizationRequests.at(-1)?.get('prompt')).to.equal('select_account');
    expect(pickerAgain.page?.body, 'then the profile picker').to.contain('id="profile-continue"');
    const switched = await person.pickProfile(pickerAgain.page!, profiles[1]!.id);
    const tokens = await switching.tokens(switched.location!);
    expect(tokens.claims()!.mbs_profile_id).to.equal(profiles[1]!.id);
  });

  it('sends an association link back to the upstream the person signed in with, and records the identity under it', async () => {
    const profile = buildProfile({ portal: 'partnersource' });
    await running.broker.store.profiles.upsert(profile);
    const person = new Person('kim');
    const started = await person.startSignIn(portal);
    const { page: emailStep } = await person.follow(choice(started.page!, 'fabrikam'));
    await person.submitEmail(emailStep!, profile.email);
    const link = await within(10, async () => running.broker.devMailbox!.messages().find((message) => message.to === profile.email)?.text.match(/https?:\/\/\S+\/link\/[A-Za-z0-9_-]+/)?.[0]);

    const requestsBefore = { northwind: northwind.authorizationRequests.length, fabrikam: fabrikam.authorizationRequests.length };
    const { success } = await person.confirmLink(link);
    expect(success, 'the success page').to.not.equal(undefined);
    // The re-authentication (prompt=login) went to Fabrikam, not to the first configured upstream.
    expect(northwind.authorizationRequests.length).to.equal(requestsBefore.northwind);
    expect(fabrikam.authorizationRequests.at(-1)?.get('prompt')).to.equal('login');
    expect(fabrikam.authorizationRequests.length).to.equal(requestsBefore.fabrikam + 1);
    expect(await running.broker.store.identities.findByIssuerAndSubject(fabrikam.issuer, devSubject('kim'))).to.include({ upstreamId: 'fabrikam' });
  });

  it('answers a hand-made choice of an upstream it does not have with a clear 400 page', async () => {
    const person = new Person('jane');
    const started = await person.startSignIn(portal);
    const page = await person.browser.get(choice(started.page!, 'northwind').replace('upstream=northwind', 'upstream=contoso'));
    expect(page.status).to.equal(400);
    expect(page.body).to.contain('This way of signing in is not offered.');
  });
});

describe('one upstream: today’s single button', function () {
  this.timeout(60_000);
  let upstream: ServedDevUpstream;
  let running: RunningBroker;

  before(async () => {
    const port = await freePort();
    upstream = await serveDevUpstream({ clients: [{ ...client, redirectUris: [`http://127.0.0.1:${port}/upstream/callback`] }] });
    // The single-upstream settings, as before UPSTREAMS existed.
    running = await startBroker({ UPSTREAM: 'oidc', UPSTREAM_ISSUER: upstream.issuer, UPSTREAM_CLIENT_ID: client.clientId, UPSTREAM_CLIENT_SECRET: client.clientSecret }, { port });
  });
  after(async () => {
    await running?.stop();
    await upstream?.stop();
  });

  it('shows no choice: one button, straight to the upstream', async () => {
    const portal = await registerPortal(running, 'partnersource');
    const person = new Person('jane');
    const { page } = await person.browser.follow(await authorizationUrl(portal));
    expect(page?.body).to.not.contain('data-upstream=').and.not.contain('id="upstream-choice"');
    expect(page?.body.match(/class="button/g)).to.have.length(1);
    await person.browser.follow(new URL(signInContinueLink(page!.body)!, page!.url).href);
    expect(upstream.authorizationRequests).to.have.length(1);
  });
});
