// Auth0's express-openid-connect (npm) as two confidential Express portals
// of the broker (test/interop/peers/expressPortal.ts), each its own process,
// driven in real Chromium: the first login with association, the profile
// claims in `req.oidc.user` (the ID token) and in `req.oidc.fetchUserInfo()`,
// SSO to the second portal, the middleware's refresh of an expired access
// token, RP-initiated logout (`idpLogout`), back-channel logout of the other
// portal through the middleware's endpoint, and a returning sign-in with SSO.
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { RunningBroker } from '../support/broker.ts';
import { chromiumAvailable, ScreenshotAlbum } from '../support/chromium.ts';
import type { TestSmtpServer } from '../support/smtp.ts';
import { within } from '../support/within.ts';
import { associateFirstProfile, signInUpstream, signInUpstreamIfAsked } from './peers/chromiumJourney.ts';
import { contosoProfiles, registerConfidentialPortal, startInteropWorld, type InteropWorld } from './peers/interopWorld.ts';
import { ExpressPortal, expressVersions } from './peers/express.ts';

// Access tokens that expire within seconds, so that the portal refreshes one
// before a userinfo request in the test.
const accessTokenTtl = 3;

describe('express-openid-connect (Express) as portals', function () {
  this.timeout(180_000);
  let running: RunningBroker;
  let smtp: TestSmtpServer;
  let chromium: Browser;
  const partnerSource = new ExpressPortal('PartnerSource');
  const customerSource = new ExpressPortal('CustomerSource');
  const email = 'jane.express@contoso.example';
  const { partnerProfile, customerProfile } = contosoProfiles(email, { partner: 'PS-5001', customer: 'CS-6001' });
  let world: InteropWorld | undefined;

  before(async function () {
    if (!chromiumAvailable()) {
      console.warn('    (skipped: needs /usr/bin/chromium; apt-get install chromium)');
      this.skip();
    }
    const versions = expressVersions();
    console.log(`    express-openid-connect ${versions['express-openid-connect']}, express ${versions.express}`);
    world = await startInteropWorld({
      portals: [partnerSource, customerSource],
      profiles: [partnerProfile, customerProfile],
      environment: { ACCESS_TOKEN_TTL: String(accessTokenTtl) },
      registerAndStart: registerConfidentialPortal((origin) => ({ backchannelLogoutUri: `${origin}/backchannel-logout` })),
    });
    ({ running, smtp, chromium } = world);
  });

  after(() => world?.stop());

  afterEach(function () {
    if (this.currentTest?.state === 'failed') for (const portal of [partnerSource, customerSource]) console.log(`--- ${portal.name}\n${portal.output.slice(-4000)}`);
  });

  const text = (page: Page, id: string) => page.locator(`#${id}`).textContent();
  const backchannelLogouts = (portal: ExpressPortal) => portal.requests().filter((line) => line.startsWith('POST /backchannel-logout '));

  it('signs in with association, shows the profiles in req.oidc.user and userinfo, SSO, refreshes, signs out at the broker and by back channel, signs in again', async () => {
    const album = new ScreenshotAlbum('interop-express');
    const context: BrowserContext = await chromium.newContext({ locale: 'en-US' });
    const navigations: string[] = [];
    context.on('request', (request) => {
      if (request.isNavigationRequest()) navigations.push(request.url());
    });
    const upstreamPages = () => navigations.filter((url) => url.includes('/dev/upstream/interaction/')).length;
    const tab = await context.newPage();

    // First login: requiresAuth() sends the browser to the broker, the upstream, the MBS email.
    await tab.goto(`${partnerSource.origin}/`);
    expect(await tab.locator('h1').textContent()).to.equal('Sign in to PartnerSource');
    const { linkTab, customerLink } = await associateFirstProfile(context, tab, smtp, { accountName: 'jane-express', email, portalOrigin: partnerSource.origin });
    await album.take(linkTab, 'partnersource-signed-in');

    // The middleware validated the ID token; its claims (req.oidc.user) and userinfo carry the profiles.
    expect(await linkTab.locator('h1').textContent()).to.equal('PartnerSource: signed in');
    const subject = await text(linkTab, 'user-sub');
    expect(subject).to.have.length.greaterThan(0);
    expect(await text(linkTab, 'user-sid'), 'the broker session id, for back-channel logout').to.have.length.greaterThan(0);
    expect(await text(linkTab, 'user-email')).to.equal(email);
    expect(await text(linkTab, 'user-mbs_profile_ids')).to.equal('PS-5001');
    expect(await text(linkTab, 'user-mbs_roles')).to.equal('PS-5001:partner-admin');
    expect(JSON.parse((await text(linkTab, 'user-mbs_profiles'))!)).to.deep.equal([{ id: 'PS-5001', portal: 'partnersource', organization: 'Contoso Partners', display_name: partnerProfile.displayName, roles: ['partner-admin'] }]);
    expect(await text(linkTab, 'userinfo-sub')).to.equal(subject);
    expect(await text(linkTab, 'userinfo-mbs_profile_ids')).to.equal('PS-5001');
    expect(await text(linkTab, 'userinfo-mbs_roles')).to.equal('PS-5001:partner-admin');

    // The CustomerSource link, then SSO there: no sign-in screen of the broker or the upstream.
    await linkTab.goto(customerLink);
    await linkTab.getByRole('button', { name: 'Sign in and associate' }).click();
    await signInUpstream(linkTab, 'jane-express');
    expect(await linkTab.locator('h1').textContent()).to.equal('Your Microsoft account is associated');
    const upstreamPagesBefore = upstreamPages();
    await tab.goto(`${customerSource.origin}/`);
    await tab.waitForURL(`${customerSource.origin}/`);
    expect(upstreamPages(), 'no upstream sign-in for SSO').to.equal(upstreamPagesBefore);
    expect(await tab.locator('h1').textContent()).to.equal('CustomerSource: signed in');
    expect(await text(tab, 'user-sub')).to.equal(subject);
    expect(await text(tab, 'user-mbs_profile_ids')).to.equal('CS-6001');
    expect(await text(tab, 'user-mbs_roles')).to.equal('CS-6001:customer-admin,CS-6001:billing');
    expect(await text(tab, 'userinfo-mbs_profile_ids')).to.equal('CS-6001');
    await album.take(tab, 'customersource-sso');

    // Refresh: once the access token has expired, the page refreshes it and reads userinfo with the new one.
    await linkTab.goto(`${partnerSource.origin}/`);
    const tokenBefore = await text(linkTab, 'access-token');
    const refreshesBefore = Number(await text(linkTab, 'refreshes'));
    const expiresAt = Number(await text(linkTab, 'expires-at'));
    const expiry = expiresAt * 1000 + 1100 - Date.now();
    if (expiry > 0) await linkTab.waitForTimeout(expiry);
    const brokerNavigations = navigations.filter((url) => url.startsWith(running.issuer)).length;
    await linkTab.reload();
    expect(Number(await text(linkTab, 'refreshes')), 'accessToken.refresh()').to.equal(refreshesBefore + 1);
    expect(await text(linkTab, 'access-token')).to.not.equal(tokenBefore);
    expect(Number(await text(linkTab, 'expires-at'))).to.be.greaterThan(expiresAt);
    expect(navigations.filter((url) => url.startsWith(running.issuer)).length, 'refreshed over the back channel').to.equal(brokerNavigations);
    expect(await text(linkTab, 'userinfo-mbs_profile_ids'), 'userinfo with the refreshed token').to.equal('PS-5001');
    expect(await text(linkTab, 'user-mbs_profile_ids'), 'the ID token of the refresh').to.equal('PS-5001');

    // RP-initiated logout at CustomerSource: /logout, the broker's confirmation, back to the portal.
    await tab.locator('#sign-out').click();
    expect(await tab.locator('h1').textContent()).to.equal('Sign out');
    await tab.getByRole('button', { name: 'Yes, sign me out' }).click();
    await tab.waitForURL(`${customerSource.origin}/signed-out`);
    expect(await tab.locator('h1').textContent()).to.equal('Signed out of CustomerSource');

    // Back-channel logout: the middleware's endpoint took the broker's logout token (204) and ends PartnerSource's session.
    // (CustomerSource, in the same broker session, is told too.)
    for (const portal of [partnerSource, customerSource]) {
      expect(await within(5, async () => (backchannelLogouts(portal).length ? backchannelLogouts(portal) : undefined)), portal.name).to.deep.equal(['POST /backchannel-logout 204']);
    }
    // The PartnerSource page still open from before: its Sign out, with the broker session gone, goes straight back to the portal.
    await linkTab.locator('#sign-out').click();
    await linkTab.waitForURL(`${partnerSource.origin}/signed-out`);
    expect(await linkTab.locator('h1').textContent()).to.equal('Signed out of PartnerSource');
    await linkTab.goto(`${partnerSource.origin}/`);
    expect(await linkTab.locator('h1').textContent(), 'PartnerSource asks for a sign-in again').to.equal('Sign in to PartnerSource');

    // A returning sign-in: the upstream, then the portal, no email step; then SSO into CustomerSource.
    await linkTab.getByRole('link', { name: 'Sign in with a Microsoft account' }).click();
    await signInUpstreamIfAsked(linkTab, 'jane-express', partnerSource.origin);
    expect(await text(linkTab, 'user-sub')).to.equal(subject);
    expect(await text(linkTab, 'user-mbs_profile_ids')).to.equal('PS-5001');
    const upstreamPagesAgain = upstreamPages();
    await tab.goto(`${customerSource.origin}/`);
    await tab.waitForURL(`${customerSource.origin}/`);
    expect(upstreamPages(), 'no upstream sign-in for SSO').to.equal(upstreamPagesAgain);
    expect(await text(tab, 'user-mbs_profile_ids'), 'the earlier back-channel logout does not end the new session').to.equal('CS-6001');
    await context.close();
  });
});
