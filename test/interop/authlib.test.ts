// Python authlib's Flask OAuth client (Debian's python3-authlib) as two
// confidential web portals of the broker (test/interop/peers/authlib_portal.py),
// driven in real Chromium: the first login with association, the ID token
// validated by authlib against the JWKS, userinfo with the profile claims,
// SSO to the second portal, authlib's refresh of an expired access token,
// RP-initiated logout, and a returning sign-in.
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { RunningBroker } from '../support/broker.ts';
import { chromiumAvailable, ScreenshotAlbum } from '../support/chromium.ts';
import type { TestSmtpServer } from '../support/smtp.ts';
import { AuthlibPortal, authlibVersions } from './peers/authlib.ts';
import { associateFirstProfile, signInUpstream, signInUpstreamIfAsked } from './peers/chromiumJourney.ts';
import { contosoProfiles, registerConfidentialPortal, startInteropWorld, type InteropWorld } from './peers/interopWorld.ts';

// Access tokens that expire within seconds, so that authlib refreshes one
// before a userinfo request in the test.
const accessTokenTtl = 3;

describe('Python authlib (Flask client) as portals', function () {
  this.timeout(180_000);
  let running: RunningBroker;
  let smtp: TestSmtpServer;
  let chromium: Browser;
  const partnerSource = new AuthlibPortal('PartnerSource');
  const customerSource = new AuthlibPortal('CustomerSource');
  const email = 'jane.authlib@contoso.example';
  const { partnerProfile, customerProfile } = contosoProfiles(email, { partner: 'PS-3001', customer: 'CS-4001' });
  let world: InteropWorld | undefined;

  before(async function () {
    const versions = chromiumAvailable() ? authlibVersions() : undefined;
    if (!versions) {
      console.warn('    (skipped: needs /usr/bin/chromium and python3 with authlib, flask and requests; apt-get install chromium python3-authlib python3-flask python3-requests)');
      this.skip();
    }
    console.log(`    authlib ${versions.authlib}, Flask ${versions.flask}, requests ${versions.requests}`);
    world = await startInteropWorld({
      portals: [partnerSource, customerSource],
      profiles: [partnerProfile, customerProfile],
      environment: { ACCESS_TOKEN_TTL: String(accessTokenTtl) },
      registerAndStart: registerConfidentialPortal(),
    });
    ({ running, smtp, chromium } = world);
  });

  after(() => world?.stop());

  afterEach(function () {
    if (this.currentTest?.state === 'failed') for (const portal of [partnerSource, customerSource]) console.log(`--- ${portal.name}\n${portal.output.slice(-4000)}`);
  });

  const text = (page: Page, id: string) => page.locator(`#${id}`).textContent();

  it('signs in with association, validates the ID token, reads userinfo, SSO, refreshes, signs out and signs in again', async () => {
    const album = new ScreenshotAlbum('interop-authlib');
    const context: BrowserContext = await chromium.newContext({ locale: 'en-US' });
    const navigations: string[] = [];
    context.on('request', (request) => {
      if (request.isNavigationRequest()) navigations.push(request.url());
    });
    const tab = await context.newPage();

    // First login: the portal's Sign in, the broker, the upstream, the MBS email.
    await tab.goto(`${partnerSource.origin}/`);
    await tab.locator('#sign-in').click();
    expect(await tab.locator('h1').textContent()).to.equal('Sign in to PartnerSource');
    const { linkTab, customerLink } = await associateFirstProfile(context, tab, smtp, { accountName: 'jane-authlib', email, portalOrigin: partnerSource.origin });
    await album.take(linkTab, 'partnersource-signed-in');

    // authlib validated the ID token (JWKS, iss, aud, nonce); userinfo has the profiles.
    expect(await linkTab.locator('h1').textContent()).to.equal('PartnerSource: signed in');
    expect(await text(linkTab, 'id-token-iss')).to.equal(running.issuer);
    const subject = await text(linkTab, 'id-token-sub');
    expect(subject).to.have.length.greaterThan(0);
    expect(await text(linkTab, 'claim-sub')).to.equal(subject);
    expect(await text(linkTab, 'claim-email')).to.equal(email);
    expect(await text(linkTab, 'claim-mbs_profile_ids')).to.equal('PS-3001');
    expect(await text(linkTab, 'claim-mbs_roles')).to.equal('PS-3001:partner-admin');

    // The CustomerSource link, then SSO there without the upstream's page.
    await linkTab.goto(customerLink);
    await linkTab.getByRole('button', { name: 'Sign in and associate' }).click();
    await signInUpstream(linkTab, 'jane-authlib');
    expect(await linkTab.locator('h1').textContent()).to.equal('Your Microsoft account is associated');
    const upstreamPagesBefore = navigations.filter((url) => url.includes('/dev/upstream/interaction/')).length;
    await tab.goto(`${customerSource.origin}/`);
    await tab.locator('#sign-in').click();
    await tab.waitForURL(`${customerSource.origin}/`);
    expect(navigations.filter((url) => url.includes('/dev/upstream/interaction/')).length, 'no upstream sign-in for SSO').to.equal(upstreamPagesBefore);
    expect(await text(tab, 'claim-mbs_profile_ids')).to.equal('CS-4001');
    expect(await text(tab, 'claim-mbs_roles')).to.equal('CS-4001:customer-admin,CS-4001:billing');
    expect(await text(tab, 'claim-sub')).to.equal(subject);
    await album.take(tab, 'customersource-sso');

    // Refresh: once the access token has expired, authlib refreshes it before the userinfo request.
    await linkTab.goto(`${partnerSource.origin}/`);
    const tokenBefore = await text(linkTab, 'access-token');
    const refreshesBefore = Number(await text(linkTab, 'refreshes'));
    const expiresAt = Number(await text(linkTab, 'expires-at'));
    const expiry = expiresAt * 1000 + 1100 - Date.now();
    if (expiry > 0) await linkTab.waitForTimeout(expiry);
    await linkTab.reload();
    expect(Number(await text(linkTab, 'refreshes')), 'authlib refreshed the token').to.be.greaterThan(refreshesBefore);
    expect(await text(linkTab, 'access-token')).to.not.equal(tokenBefore);
    expect(Number(await text(linkTab, 'expires-at'))).to.be.greaterThan(expiresAt);
    expect(await text(linkTab, 'claim-mbs_profile_ids'), 'userinfo with the refreshed token').to.equal('PS-3001');

    // RP-initiated logout: the broker's confirmation, back to the portal's signed-out page.
    await linkTab.locator('#sign-out').click();
    expect(await linkTab.locator('h1').textContent()).to.equal('Sign out');
    await linkTab.getByRole('button', { name: 'Yes, sign me out' }).click();
    await linkTab.waitForURL(`${partnerSource.origin}/signed-out`);
    expect(await linkTab.locator('h1').textContent()).to.equal('Signed out of PartnerSource');

    // A returning sign-in: the broker session is gone, so its landing page, the upstream, then the portal, no email step.
    await linkTab.locator('#sign-in').click();
    expect(await linkTab.locator('h1').textContent()).to.equal('Sign in to PartnerSource');
    await linkTab.getByRole('link', { name: 'Sign in with a Microsoft account' }).click();
    await signInUpstreamIfAsked(linkTab, 'jane-authlib', partnerSource.origin);
    expect(await text(linkTab, 'claim-mbs_profile_ids')).to.equal('PS-3001');
    expect(await text(linkTab, 'id-token-sub')).to.equal(subject);
    await context.close();
  });
});
