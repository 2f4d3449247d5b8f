// Apache httpd with mod_auth_openidc (Debian's packages) as two portals of
// the broker, configured from config/apache-mod_auth_openidc.example.conf,
// driven in real Chromium: the first login with association, the profiles
// seen by the portal through the flattened OIDC_CLAIM_* headers, `Require
// claim` letting the profile's holder in and refusing someone else, SSO to
// the second portal, refresh before expiry, RP-initiated logout, back-channel
// logout of the other portal, and a returning sign-in.
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ClientAdministration } from '../../src/admin/clientAdministration.ts';
import { freePort, startBroker, type RunningBroker } from '../support/broker.ts';
import { chromiumAvailable, launchChromium, ScreenshotAlbum } from '../support/chromium.ts';
import { buildProfile } from '../support/factories.ts';
import { bindDevAccount } from '../support/journey.ts';
import { TestSmtpServer } from '../support/smtp.ts';
import { within } from '../support/within.ts';
import { apacheAvailable, apacheVersion, modAuthOpenidcVersion, PortalApplication, prepareApache, siteOrigin, startApache, type ApacheSetup, type PortalSite, type RunningApache } from './peers/apache.ts';
import { associateFirstProfile, signInUpstream, signInUpstreamIfAsked } from './peers/chromiumJourney.ts';

// The broker's access tokens live 62 s and the example refreshes 60 s before
// expiry: every page view 2 s after a token was issued refreshes it.
const accessTokenTtl = 62;

describe('Apache httpd + mod_auth_openidc as portals', function () {
  this.timeout(180_000);
  let running: RunningBroker;
  let smtp: TestSmtpServer;
  let setup: ApacheSetup | undefined;
  let apache: RunningApache | undefined;
  let chromium: Browser;
  let partnerSource: PortalSite;
  let customerSource: PortalSite;
  const email = 'jane.apache@contoso.example';
  const partnerProfile = buildProfile({ id: 'PS-1001', portal: 'partnersource', email, organization: 'Contoso Partners', roles: ['partner-admin', 'billing'] });
  const customerProfile = buildProfile({ id: 'CS-2001', portal: 'customersource', email, organization: 'Contoso Retail', roles: ['customer-admin'] });
  const otherProfile = buildProfile({ id: 'PS-1002', portal: 'partnersource', organization: 'Contoso Consulting', roles: ['partner-member'] });

  before(async function () {
    if (!chromiumAvailable() || !apacheAvailable()) {
      console.warn('    (skipped: needs /usr/bin/chromium, /usr/sbin/apache2 and mod_auth_openidc; apt-get install chromium apache2 libapache2-mod-auth-openidc)');
      this.skip();
    }
    console.log(`    Apache ${apacheVersion()}, mod_auth_openidc ${modAuthOpenidcVersion()}`);
    smtp = new TestSmtpServer(await freePort());
    await smtp.start();
    running = await startBroker({ SMTP_URL: smtp.url, OUTBOX_INTERVAL: '25', ACCESS_TOKEN_TTL: String(accessTokenTtl) });
    setup = prepareApache();
    const clients = new ClientAdministration(running.broker.store.clients);
    async function site(portal: 'partnersource' | 'customersource', hostName: string, name: string): Promise<PortalSite> {
      const port = await freePort();
      const origin = siteOrigin({ hostName, port });
      const registered = await clients.register({
        name,
        portal,
        firstParty: true,
        redirectUris: [`${origin}/oidc/callback`],
        postLogoutRedirectUris: [`${origin}/signed-out`],
        backchannelLogoutUri: `${origin}/oidc/callback?logout=backchannel`,
      });
      const application = new PortalApplication(name);
      await application.start();
      return { hostName, port, clientId: registered.client.id, clientSecret: registered.clientSecret!, application };
    }
    // Two host names: the module's session cookie, like every cookie, ignores ports.
    partnerSource = await site('partnersource', '127.0.0.1', 'PartnerSource');
    customerSource = await site('customersource', 'localhost', 'CustomerSource');
    for (const profile of [partnerProfile, customerProfile]) await running.broker.store.profiles.upsert(profile);
    await bindDevAccount(running, 'rob-apache', [otherProfile], running.broker.store);
    apache = await startApache(setup, [partnerSource, customerSource], running.issuer);
    chromium = await launchChromium();
  });

  after(async () => {
    await chromium?.close();
    if (apache) await apache.stop();
    else setup?.untrust();
    await partnerSource?.application.stop();
    await customerSource?.application.stop();
    await running?.stop();
    await smtp?.stop();
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && apache) console.log(`--- apache error log\n${apache.errorLog().slice(-6000)}`);
  });

  const claim = (page: Page, name: string) => page.locator(`#claim-${name}`).textContent();

  it('signs a new person in with association, passes the profiles as flat claims, applies Require claim, SSO, refresh, RP-initiated and back-channel logout', async () => {
    const album = new ScreenshotAlbum('interop-apache');
    const context: BrowserContext = await chromium.newContext({ locale: 'en-US', ignoreHTTPSErrors: true });
    const navigations: string[] = [];
    context.on('request', (request) => {
      if (request.isNavigationRequest()) navigations.push(request.url());
    });
    const tab = await context.newPage();
    const partnerOrigin = siteOrigin(partnerSource);
    const customerOrigin = siteOrigin(customerSource);

    // First login: Apache sends the browser to the broker, the upstream, the MBS email.
    await tab.goto(`${partnerOrigin}/`);
    expect(await tab.locator('h1').textContent()).to.equal('Sign in to PartnerSource');
    const { linkTab, customerLink } = await associateFirstProfile(context, tab, smtp, { accountName: 'jane-apache', email, portalOrigin: partnerOrigin });
    await album.take(linkTab, 'partnersource-signed-in');

    // The portal sees the profiles through the module's flattened claims.
    expect(await claim(linkTab, 'mbs_profile_ids')).to.equal('PS-1001');
    expect(await claim(linkTab, 'mbs_roles')).to.equal('PS-1001:partner-admin,PS-1001:billing');
    expect(await claim(linkTab, 'email')).to.equal(email);
    const seen = partnerSource.application.seen.at(-1)!;
    expect(seen.headers.oidc_claim_mbs_profile_ids).to.equal('PS-1001');
    expect(seen.headers['x-remote-user']).to.equal(await claim(linkTab, 'sub'));

    // Require claim mbs_profile_ids:PS-1001 and mbs_roles:PS-1001:partner-admin let her in.
    const organisation = await linkTab.goto(`${partnerOrigin}/profiles/PS-1001/`);
    expect(organisation?.status()).to.equal(200);
    expect(await linkTab.locator('h1').textContent()).to.equal('PartnerSource: /profiles/PS-1001/');
    expect((await linkTab.goto(`${partnerOrigin}/profiles/PS-1001/admin/`))?.status()).to.equal(200);

    // The CustomerSource email's link: associated, then SSO without the upstream's page.
    await linkTab.goto(customerLink);
    await linkTab.getByRole('button', { name: 'Sign in and associate' }).click();
    await signInUpstream(linkTab, 'jane-apache');
    expect(await linkTab.locator('h1').textContent()).to.equal('Your Microsoft account is associated');
    const upstreamPagesBefore = navigations.filter((url) => url.includes('/dev/upstream/interaction/')).length;
    await tab.goto(`${customerOrigin}/`);
    await tab.waitForURL(`${customerOrigin}/`);
    expect(navigations.filter((url) => url.includes('/dev/upstream/interaction/')).length, 'no upstream sign-in for SSO').to.equal(upstreamPagesBefore);
    expect(await claim(tab, 'mbs_profile_ids')).to.equal('CS-2001');
    expect(await claim(tab, 'mbs_roles')).to.equal('CS-2001:customer-admin');
    await album.take(tab, 'customersource-sso');

    // Refresh: once the token is within 60 s of expiry, the next page view
    // gets a new access token from the refresh token, without a redirect to the broker.
    const tokenBefore = await tab.locator('#access-token').textContent();
    const expiresBefore = Number(await tab.locator('#access-token-expires').textContent());
    expect(tokenBefore).to.have.length(16);
    const refreshDue = (expiresBefore - 60) * 1000 + 1100 - Date.now();
    if (refreshDue > 0) await tab.waitForTimeout(refreshDue);
    const brokerNavigations = navigations.filter((url) => url.startsWith(running.issuer)).length;
    await tab.reload();
    expect(await tab.locator('#access-token').textContent(), 'a refreshed access token').to.not.equal(tokenBefore);
    expect(Number(await tab.locator('#access-token-expires').textContent())).to.be.greaterThan(expiresBefore);
    expect(navigations.filter((url) => url.startsWith(running.issuer)).length, 'refreshed over the back channel').to.equal(brokerNavigations);
    expect(await claim(tab, 'mbs_profile_ids')).to.equal('CS-2001');

    // RP-initiated logout at CustomerSource: the module, the broker's confirmation, back to the portal.
    await tab.locator('#sign-out').click();
    expect(await tab.locator('h1').textContent()).to.equal('Sign out');
    await tab.getByRole('button', { name: 'Yes, sign me out' }).click();
    await tab.waitForURL(`${customerOrigin}/signed-out`);
    expect(await tab.locator('h1').textContent()).to.equal('Signed out of CustomerSource');

    // Back-channel logout: PartnerSource's module heard of it and ended its session.
    // (Apache writes its access log line just after answering the broker.)
    const backchannel = await within(5, async () => {
      const posts = apache!.accessLog().filter((entry) => entry.request.startsWith('POST /oidc/callback?logout=backchannel'));
      return posts.length >= 2 ? posts : undefined;
    });
    expect(backchannel.map((entry) => `${entry.site} ${entry.status}`).sort()).to.deep.equal(['127.0.0.1 200', 'localhost 200']);
    await linkTab.goto(`${partnerOrigin}/`);
    expect(await linkTab.locator('h1').textContent(), 'PartnerSource asks for a sign-in again').to.equal('Sign in to PartnerSource');

    // A returning sign-in: the upstream, then straight to the portal, no email step.
    await linkTab.getByRole('link', { name: 'Sign in with a Microsoft account' }).click();
    await signInUpstreamIfAsked(linkTab, 'jane-apache', partnerOrigin);
    expect(linkTab.url()).to.equal(`${partnerOrigin}/`);
    expect(await claim(linkTab, 'mbs_profile_ids')).to.equal('PS-1001');
    await context.close();
  });

  it('refuses, with Require claim, a person whose profiles do not include the one asked for', async () => {
    const context = await chromium.newContext({ locale: 'en-US', ignoreHTTPSErrors: true });
    const tab = await context.newPage();
    const partnerOrigin = siteOrigin(partnerSource);
    await tab.goto(`${partnerOrigin}/profiles/PS-1001/`);
    await tab.getByRole('link', { name: 'Sign in with a Microsoft account' }).click();
    const [refused] = await Promise.all([tab.waitForResponse((response) => response.url() === `${partnerOrigin}/profiles/PS-1001/`), signInUpstream(tab, 'rob-apache')]);
    expect(refused.status()).to.equal(403);
    expect((await tab.goto(`${partnerOrigin}/profiles/PS-1001/admin/`))?.status()).to.equal(403);
    // The rest of the portal is his, with his own profile.
    await tab.goto(`${partnerOrigin}/`);
    expect(await claim(tab, 'mbs_profile_ids')).to.equal('PS-1002');
    expect(await claim(tab, 'mbs_roles')).to.equal('PS-1002:partner-member');
    await context.close();
  });

  it('passes the profile picked on the broker’s picker as flat claims: mbs_profile_id and mbs_profile_roles', async () => {
    const picked = [
      buildProfile({ id: 'PS-3001', portal: 'partnersource', organization: 'Northwind Partners', roles: ['partner-admin'] }),
      buildProfile({ id: 'PS-3002', portal: 'partnersource', organization: 'Northwind Services', roles: ['partner-member', 'billing'] }),
    ];
    await bindDevAccount(running, 'pia-apache', picked, running.broker.store);
    const context = await chromium.newContext({ locale: 'en-US', ignoreHTTPSErrors: true });
    const tab = await context.newPage();
    const partnerOrigin = siteOrigin(partnerSource);
    await tab.goto(`${partnerOrigin}/`);
    await tab.getByRole('link', { name: 'Sign in with a Microsoft account' }).click();
    await signInUpstream(tab, 'pia-apache');
    await tab.getByRole('radio', { name: 'Northwind Services' }).check();
    await tab.getByRole('button', { name: 'Continue with this profile' }).click();
    await tab.waitForURL(`${partnerOrigin}/`);
    expect(await claim(tab, 'mbs_profile_id')).to.equal('PS-3002');
    expect(await claim(tab, 'mbs_profile_roles')).to.equal('partner-member,billing');
    expect(await claim(tab, 'mbs_profile_ids')).to.equal('PS-3001,PS-3002');
    await context.close();
  });

  it('passes on no identity headers a browser sends, on protected and open paths', async () => {
    const forged = { OIDC_CLAIM_mbs_profile_ids: 'PS-1001', 'X-Remote-User': 'someone-else', accept: 'text/html' };
    for (const path of ['/signed-out', '/profiles/PS-1001/']) {
      const before = partnerSource.application.seen.length;
      const response = await fetch(`${siteOrigin(partnerSource)}${path}`, { headers: forged, redirect: 'manual' });
      if (path === '/signed-out') expect(response.status).to.equal(200);
      // (fetch sends Sec-Fetch-Mode: cors, which the module answers with 401 rather than a redirect.)
      else expect(response.status, 'an anonymous request is not let through').to.be.oneOf([302, 401]);
      for (const seen of partnerSource.application.seen.slice(before)) {
        expect(seen.headers).to.not.have.any.keys('oidc_claim_mbs_profile_ids', 'x-remote-user');
      }
    }
  });
});
