// oidc-client-ts (npm) as two public single-page portals of the broker
// (test/interop/peers/oidcClientTs.ts): no secret, authorization code with
// PKCE, and the token, userinfo and revocation requests sent by the library
// from the page over CORS. Driven in real Chromium: the first login with
// association, the profile claims from userinfo, SSO into the other SPA,
// renewal with the refresh token (rotated for public clients), RP-initiated
// logout with revocation, a sign-in that asks again, and "add a profile"
// (extraQueryParams mbs_action=associate_profile) cancelled at the email step.
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { RunningBroker } from '../support/broker.ts';
import { chromiumAvailable, ScreenshotAlbum } from '../support/chromium.ts';
import type { TestSmtpServer } from '../support/smtp.ts';
import { associateFirstProfile, signInUpstream, signInUpstreamIfAsked } from './peers/chromiumJourney.ts';
import { contosoProfiles, startInteropWorld, type InteropWorld } from './peers/interopWorld.ts';
import { oidcClientTsVersion, SpaPortal } from './peers/oidcClientTs.ts';

describe('oidc-client-ts (public single-page client) as portals', function () {
  this.timeout(180_000);
  let running: RunningBroker;
  let smtp: TestSmtpServer;
  let chromium: Browser;
  const partnerSource = new SpaPortal('PartnerSource');
  const customerSource = new SpaPortal('CustomerSource');
  const email = 'jane.spa@contoso.example';
  const { partnerProfile, customerProfile } = contosoProfiles(email, { partner: 'PS-5001', customer: 'CS-6001' });
  let world: InteropWorld | undefined;
  const adminToken = 'admin-token-for-the-spa-test';

  before(async function () {
    const version = chromiumAvailable() ? oidcClientTsVersion() : undefined;
    if (!version) {
      console.warn('    (skipped: needs /usr/bin/chromium and the oidc-client-ts devDependency; apt-get install chromium, npm ci)');
      this.skip();
    }
    console.log(`    oidc-client-ts ${version}`);
    world = await startInteropWorld({
      portals: [partnerSource, customerSource],
      profiles: [partnerProfile, customerProfile],
      environment: { ADMIN_TOKEN: adminToken },
      async registerAndStart(portal, kind, _origin, broker) {
        // Through the admin API, as an operator registers a single-page app: public, no secret.
        const answer = await fetch(`${broker.issuer}/admin/api/clients`, {
          method: 'POST',
          headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name: portal.name, portal: kind, public: true, firstParty: true, redirectUris: [portal.redirectUri], postLogoutRedirectUris: [portal.postLogoutRedirectUri] }),
        });
        const registered = (await answer.json()) as { client_id: string; client_secret?: string; public: boolean; token_endpoint_auth_method: string };
        expect(answer.status).to.equal(201);
        expect(registered).to.include({ public: true, token_endpoint_auth_method: 'none' }).and.not.have.property('client_secret');
        await portal.start(broker.issuer, registered.client_id);
      },
    });
    ({ running, smtp, chromium } = world);
  });

  after(() => world?.stop());

  const text = (page: Page, id: string) => page.locator(`#${id}`).textContent();
  /** The page's h1 once it reads `title` (the library redirects and renders after its own requests). */
  const heading = async (page: Page, title: string) => {
    await page.getByRole('heading', { level: 1, name: title, exact: true }).waitFor();
    return page.locator('h1').textContent();
  };

  it('signs in with PKCE and no secret, reads userinfo over CORS, SSO, refreshes with a rotated refresh token, signs out with revocation and asks again', async () => {
    const album = new ScreenshotAlbum('interop-oidc-client-ts');
    const context: BrowserContext = await chromium.newContext({ locale: 'en-US' });
    const navigations: string[] = [];
    // The library's own requests to the broker from the pages (fetch/XHR), with the answers' CORS headers.
    const calls: Array<Promise<{ origin: string; method: string; path: string; status: number; allowOrigin: string | undefined }>> = [];
    // Pages the broker showed (not its redirects): SSO must show none.
    const brokerPages: string[] = [];
    context.on('request', (request) => {
      if (request.isNavigationRequest()) navigations.push(request.url());
    });
    // (Noted as the answers arrive, before the page's script sees them.)
    context.on('response', (response) => {
      const request = response.request();
      if (!response.url().startsWith(running.issuer)) return;
      if (request.isNavigationRequest()) {
        if (response.status() === 200) brokerPages.push(response.url());
        return;
      }
      calls.push(
        (async () => ({ origin: (await request.headerValue('origin')) ?? '', method: request.method(), path: new URL(response.url()).pathname, status: response.status(), allowOrigin: (await response.headerValue('access-control-allow-origin')) ?? undefined }))(),
      );
    });
    /** The answers to the pages of `origin` at `path` (preflights left out), as `<status> <Access-Control-Allow-Origin>`. */
    const answersTo = async (path: string, origin: string) =>
      (await Promise.all(calls)).filter((call) => call.path === path && call.origin === origin && call.method !== 'OPTIONS').map((call) => `${call.status} ${call.allowOrigin}`);
    const tab = await context.newPage();

    // First login: the SPA's signinRedirect, the broker, the upstream, the MBS email.
    await tab.goto(`${partnerSource.origin}/`);
    await tab.locator('#sign-in').click();
    expect(await heading(tab, 'Sign in to PartnerSource')).to.equal('Sign in to PartnerSource');
    const authorization = new URL(navigations.find((url) => url.startsWith(`${running.issuer}/auth?`))!);
    expect(authorization.searchParams.get('code_challenge_method')).to.equal('S256');
    expect(authorization.searchParams.get('client_id')).to.have.length.greaterThan(0);
    // The same browser (the state the library keeps in localStorage reaches the link's tab).
    const { linkTab, customerLink } = await associateFirstProfile(context, tab, smtp, { accountName: 'jane-spa', email, portalOrigin: partnerSource.origin });

    // signinRedirectCallback: the code exchanged with the verifier, no secret, userinfo read with the access token, both over CORS.
    expect(await heading(linkTab, 'PartnerSource: signed in')).to.equal('PartnerSource: signed in');
    await album.take(linkTab, 'partnersource-signed-in');
    expect(await text(linkTab, 'claim-iss')).to.equal(running.issuer);
    const subject = await text(linkTab, 'claim-sub');
    expect(subject).to.have.length.greaterThan(0);
    expect(await text(linkTab, 'claim-email')).to.equal(email);
    expect(await text(linkTab, 'claim-mbs_profile_ids')).to.equal('PS-5001');
    expect(await text(linkTab, 'claim-mbs_roles')).to.equal('PS-5001:partner-admin');
    expect(JSON.parse((await text(linkTab, 'claim-mbs_profiles'))!)).to.deep.equal([{ id: 'PS-5001', portal: 'partnersource', organization: 'Contoso Partners', display_name: partnerProfile.displayName, roles: ['partner-admin'] }]);
    expect((await text(linkTab, 'scope'))!.split(' ')).to.include.members(['openid', 'mbs_profiles']).and.not.include('offline_access');
    expect(await text(linkTab, 'refresh-token'), 'a refresh token for the public client, without offline_access').to.have.length.greaterThan(0);
    for (const path of ['/token', '/me']) {
      expect(await answersTo(path, partnerSource.origin), path).to.deep.equal([`200 ${partnerSource.origin}`]);
    }

    // The CustomerSource link, then SSO into that SPA without the upstream's page or the landing page.
    await linkTab.goto(customerLink);
    await linkTab.getByRole('button', { name: 'Sign in and associate' }).click();
    await signInUpstream(linkTab, 'jane-spa');
    expect(await linkTab.locator('h1').textContent()).to.equal('Your Microsoft account is associated');
    const upstreamPagesBefore = navigations.filter((url) => url.includes('/dev/upstream/interaction/')).length;
    await tab.goto(`${customerSource.origin}/`);
    const pagesBefore = brokerPages.length;
    await tab.locator('#sign-in').click();
    expect(await heading(tab, 'CustomerSource: signed in')).to.equal('CustomerSource: signed in');
    expect(tab.url()).to.equal(`${customerSource.origin}/`);
    expect(navigations.filter((url) => url.includes('/dev/upstream/interaction/')).length, 'no upstream sign-in for SSO').to.equal(upstreamPagesBefore);
    expect(brokerPages.slice(pagesBefore), 'no broker page for SSO').to.deep.equal([]);
    expect(await text(tab, 'claim-sub')).to.equal(subject);
    expect(await text(tab, 'claim-mbs_profile_ids')).to.equal('CS-6001');
    expect(await text(tab, 'claim-mbs_roles')).to.equal('CS-6001:customer-admin,CS-6001:billing');
    await album.take(tab, 'customersource-sso');

    // Refresh: signinSilent uses the refresh token (a refresh_token grant over CORS, no redirect, no iframe);
    // the public client's refresh token is rotated at each use.
    const accessBefore = await text(tab, 'access-token');
    const refreshBefore = await text(tab, 'refresh-token');
    const tokenAnswersBefore = (await answersTo('/token', customerSource.origin)).length;
    const navigationsBefore = navigations.length;
    await tab.locator('#refresh').click();
    await tab.locator('#note').waitFor();
    expect(await tab.locator('#note').textContent()).to.equal('Tokens renewed');
    expect(navigations.length, 'renewed without a navigation').to.equal(navigationsBefore);
    expect((await answersTo('/token', customerSource.origin)).slice(tokenAnswersBefore)).to.deep.equal([`200 ${customerSource.origin}`]);
    expect(await text(tab, 'access-token')).to.not.equal(accessBefore);
    const refreshAfter = await text(tab, 'refresh-token');
    expect(refreshAfter, 'rotated').to.not.equal(refreshBefore);
    expect(await text(tab, 'claim-mbs_profile_ids'), 'userinfo with the renewed token').to.equal('CS-6001');
    const customerClientId = new URL(navigations.filter((url) => url.startsWith(`${running.issuer}/auth?`)).at(-1)!).searchParams.get('client_id')!;
    const refreshWith = (refreshToken: string) => fetch(`${running.issuer}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: customerClientId }) });

    // RP-initiated logout: revocation over CORS, end_session with id_token_hint, the broker's confirmation, back to the SPA.
    const revocationsBefore = (await answersTo('/token/revocation', customerSource.origin)).length;
    await tab.locator('#sign-out').click();
    expect(await heading(tab, 'Sign out')).to.equal('Sign out');
    const endSession = new URL(navigations.filter((url) => url.startsWith(`${running.issuer}/session/end`)).at(-1)!);
    expect(endSession.searchParams.get('id_token_hint')).to.have.length.greaterThan(0);
    expect(endSession.searchParams.get('post_logout_redirect_uri')).to.equal(customerSource.postLogoutRedirectUri);
    // revokeTokensOnSignout: the access and refresh tokens, before the broker session ends.
    expect((await answersTo('/token/revocation', customerSource.origin)).slice(revocationsBefore)).to.deep.equal([`200 ${customerSource.origin}`, `200 ${customerSource.origin}`]);
    expect((await refreshWith(refreshAfter!)).status, 'the revoked refresh token is refused').to.equal(400);
    await tab.getByRole('button', { name: 'Yes, sign me out' }).click();
    await tab.waitForURL((url) => `${url.origin}${url.pathname}` === customerSource.postLogoutRedirectUri);
    expect(await heading(tab, 'Signed out of CustomerSource')).to.equal('Signed out of CustomerSource');
    await album.take(tab, 'customersource-signed-out');

    // A sign-in asks again: the broker session is gone, so its landing page, the upstream, then the SPA, no email step.
    await tab.locator('#sign-in').click();
    expect(await heading(tab, 'Sign in to CustomerSource')).to.equal('Sign in to CustomerSource');
    await tab.getByRole('link', { name: 'Sign in with a Microsoft account' }).click();
    await signInUpstreamIfAsked(tab, 'jane-spa', customerSource.origin);
    expect(await heading(tab, 'CustomerSource: signed in')).to.equal('CustomerSource: signed in');
    expect(await text(tab, 'claim-sub')).to.equal(subject);
    expect(await text(tab, 'claim-mbs_profile_ids')).to.equal('CS-6001');
    await context.close();
  });

  it('sends mbs_action=associate_profile through extraQueryParams: the email step over the session, and a cancel comes back as the library’s access_denied', async () => {
    const context: BrowserContext = await chromium.newContext({ locale: 'en-US' });
    const navigations: string[] = [];
    context.on('request', (request) => {
      if (request.isNavigationRequest()) navigations.push(request.url());
    });
    const tab = await context.newPage();
    await tab.goto(`${partnerSource.origin}/`);
    await tab.locator('#sign-in').click();
    await heading(tab, 'Sign in to PartnerSource');
    await tab.getByRole('link', { name: 'Sign in with a Microsoft account' }).click();
    await signInUpstreamIfAsked(tab, 'jane-spa', partnerSource.origin);
    expect(await heading(tab, 'PartnerSource: signed in')).to.equal('PartnerSource: signed in');

    const upstreamPagesBefore = navigations.filter((url) => url.includes('/dev/upstream/interaction/')).length;
    await tab.locator('#add-profile').click();
    expect(await heading(tab, 'Enter your MBS email address')).to.equal('Enter your MBS email address');
    const authorization = new URL(navigations.filter((url) => url.startsWith(`${running.issuer}/auth?`)).at(-1)!);
    expect(authorization.searchParams.get('mbs_action')).to.equal('associate_profile');
    expect(navigations.filter((url) => url.includes('/dev/upstream/interaction/')).length, 'over the session, no upstream sign-in').to.equal(upstreamPagesBefore);
    await tab.getByRole('button', { name: 'Cancel' }).click();
    expect(await heading(tab, 'PartnerSource: not changed')).to.equal('PartnerSource: not changed');
    expect(await text(tab, 'authorization-error')).to.equal('access_denied');
    expect(await text(tab, 'authorization-error-description')).to.equal('The association was cancelled.');
    await context.close();
  });
});
