// The whole journey in real Chromium, as a newcomer walks it after
// `npm start`: the PartnerSource demo portal, the broker's landing page, the
// dev upstream, the MBS email, the dev mailbox, the association link,
// re-authentication, success, back to the portal; SSO to CustomerSource
// without another upstream sign-in; sign-out. Then jane with both her
// PartnerSource profiles picks one, and switches through the portal's link. Every screen is screenshotted
// (test-results/journey) and checked with axe-core.
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ClientAdministration } from '../../src/admin/clientAdministration.ts';
import { chromiumAvailable, launchChromium, ScreenshotAlbum, seriousAccessibilityViolations } from '../support/chromium.ts';
import { freePort, startBroker, type RunningBroker } from '../support/broker.ts';
import { buildProfile } from '../support/factories.ts';
import { bindDevAccount } from '../support/journey.ts';

const demoEmail = 'jane.doe@contoso.example';

describe('the journey in a real browser', function () {
  this.timeout(120_000);
  let running: RunningBroker;
  let chromium: Browser;
  let partnerSource: string;
  let customerSource: string;

  before(async function () {
    if (!chromiumAvailable()) {
      console.warn('    (skipped: no Chromium at /usr/bin/chromium; apt-get install chromium)');
      this.skip();
    }
    const [partnerPort, customerPort] = [await freePort(), await freePort()];
    running = await startBroker({ DEMO_PORTALS: 'true', PARTNERSOURCE_DEMO_PORT: String(partnerPort), CUSTOMERSOURCE_DEMO_PORT: String(customerPort), OUTBOX_INTERVAL: '25', LINK_REQUESTS_PER_HOUR: '3' });
    partnerSource = `http://127.0.0.1:${partnerPort}/`;
    customerSource = `http://127.0.0.1:${customerPort}/`;
    chromium = await launchChromium();
  });

  after(async () => {
    await chromium?.close();
    await running?.stop();
  });

  /** Screenshots the screen and holds it to axe-core: no serious or critical violation. */
  async function screen(album: ScreenshotAlbum, page: Page, name: string): Promise<void> {
    await page.waitForLoadState('load');
    await album.take(page, name);
    const violations = await seriousAccessibilityViolations(page);
    expect(violations, `${name} (${page.url()}): ${JSON.stringify(violations, null, 2)}`).to.deep.equal([]);
  }

  async function signInUpstream(page: Page, accountName: string): Promise<void> {
    await page.getByLabel('Account name').fill(accountName);
    await page.getByLabel('Email').fill(`${accountName}@hotmail.example`);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  /** Waits until the dev mailbox holds emails satisfying `enough`, and returns each email's subject, recipient line and link. */
  async function mailboxLinks(page: Page, enough: (emails: Array<{ subject: string; to: string; link: string }>) => boolean): Promise<Array<{ subject: string; to: string; link: string }>> {
    for (let attempt = 0; attempt < 100; attempt += 1) {
      await page.goto(`${running.issuer}/dev/mail`);
      const links = await page.locator('article.mail').evaluateAll((articles) =>
        articles.map((article) => ({
          subject: article.querySelector('h2')?.textContent ?? '',
          to: article.querySelector('p.hint')?.textContent ?? '',
          link: article.querySelector('a[href*="/link/"]')?.getAttribute('href') ?? '',
        })),
      );
      if (enough(links)) return links;
      await page.waitForTimeout(50);
    }
    throw new Error('the dev mailbox never held the expected emails');
  }

  it('walks from the PartnerSource portal through association to tokens, SSO to CustomerSource, and signs out', async () => {
    const album = new ScreenshotAlbum('journey');
    const context: BrowserContext = await chromium.newContext({ locale: 'en-US', viewport: { width: 1024, height: 768 } });
    const visited: string[] = [];
    context.on('request', (request) => {
      if (request.isNavigationRequest()) visited.push(request.url());
    });
    const tab = await context.newPage();

    // Step 2: the portal.
    await tab.goto(partnerSource);
    await screen(album, tab, 'partnersource-portal');
    await tab.getByRole('link', { name: 'Sign in' }).click();

    // Step 1/3: the broker's landing page, branded for PartnerSource.
    await expect(tab.locator('h1')).to.exist;
    expect(await tab.locator('h1').textContent()).to.equal('Sign in to PartnerSource');
    expect(await tab.locator('.portal-name').textContent()).to.equal('PartnerSource');
    expect(await tab.getByRole('link', { name: 'Create one' }).getAttribute('href')).to.contain('/help/sign-up');
    await screen(album, tab, 'landing');
    await tab.getByRole('link', { name: 'Sign in with a Microsoft account' }).click();

    // Step 3: the upstream.
    await screen(album, tab, 'upstream-sign-in');
    await signInUpstream(tab, 'jane-in-chromium');

    // Step 4: the MBS email; a wrong one first, with its message tied to the field.
    expect(await tab.locator('h1').textContent()).to.equal('Enter your MBS email address');
    await tab.getByLabel('MBS email address').fill('not an email');
    await tab.getByRole('button', { name: 'Continue' }).click();
    expect(await tab.getByLabel('MBS email address').getAttribute('aria-describedby')).to.equal('email-problem');
    await screen(album, tab, 'email-entry-problem');
    await tab.getByLabel('MBS email address').fill(demoEmail);
    await screen(album, tab, 'email-entry');
    await tab.getByRole('button', { name: 'Continue' }).click();

    // Step 5: check your inbox.
    expect(await tab.locator('h1').textContent()).to.equal('Check your inbox');
    await screen(album, tab, 'check-inbox');
    const inboxUrl = tab.url();

    // Step 6: one email per profile (jane has two PartnerSource and one CustomerSource profile).
    const mail = await context.newPage();
    const links = (await mailboxLinks(mail, (emails) => emails.length >= 3)).slice(0, 3);
    expect(links).to.have.length(3);
    await screen(album, mail, 'dev-mailbox');
    const partnerLink = links.find((entry) => entry.subject.includes('PartnerSource'))!;
    const customerLink = links.find((entry) => entry.subject.includes('CustomerSource'))!;

    // Step 7–8: the link, then the same Microsoft account again.
    await mail.goto(partnerLink.link);
    expect(await mail.locator('h1').textContent()).to.equal('Associate your Microsoft account');
    await screen(album, mail, 'link-confirm');
    await mail.getByRole('button', { name: 'Sign in and associate' }).click();
    await screen(album, mail, 'upstream-re-authentication');
    await signInUpstream(mail, 'jane-in-chromium');

    // Step 9: the success page names the bound profile and says what the other emails are for.
    expect(await mail.locator('h1').textContent()).to.equal('Your Microsoft account is associated');
    expect(await mail.locator('#associated-profile').textContent()).to.match(/^You have successfully associated your Microsoft account with your PartnerSource profile for Contoso (Partners|Consulting)\.$/);
    expect(await mail.locator('dl.profile').textContent()).to.contain('PS-100').and.to.contain('Jane Doe').and.to.contain('PartnerSource');
    expect(await mail.locator('#other-emails').textContent()).to.contain('2 more profiles are registered to jane.doe@contoso.example');
    await screen(album, mail, 'associated-continue');

    // Step 10: this browser started the sign-in, so the button continues it into the portal.
    await mail.getByRole('link', { name: 'Continue to PartnerSource' }).click();
    await mail.waitForURL(partnerSource);
    expect(await mail.locator('#profiles tbody tr').count()).to.be.greaterThan(0);
    expect(await mail.locator('#profiles').textContent()).to.contain('PS-100');
    await screen(album, mail, 'partnersource-signed-in');

    // The tab that waited (it left the continuation to the success page) says the sign-in went on elsewhere.
    await tab.goto(inboxUrl);
    expect(await tab.locator('h1').textContent()).to.equal('Your Microsoft account is associated');
    await screen(album, tab, 'waiting-tab-after-resume');

    // The CustomerSource profile's link: success page with the portal links.
    await tab.goto(customerLink.link);
    await tab.getByRole('button', { name: 'Sign in and associate' }).click();
    await signInUpstream(tab, 'jane-in-chromium');
    expect(await tab.locator('h1').textContent()).to.equal('Your Microsoft account is associated');
    expect(await tab.locator('.portal-name').textContent()).to.equal('CustomerSource');
    expect(await tab.locator('#other-emails').textContent()).to.contain('One more profile is registered to jane.doe@contoso.example');
    expect(await tab.getByRole('link', { name: /^Continue to/ }).count(), 'no button once the sign-in went on').to.equal(0);
    await screen(album, tab, 'associated');

    // SSO: CustomerSource signs in without the upstream's page.
    const upstreamPagesBefore = visited.filter((url) => url.includes('/dev/upstream/interaction/')).length;
    await tab.getByRole('link', { name: 'Go to CustomerSource' }).click();
    await tab.getByRole('link', { name: 'Sign in' }).click();
    await tab.waitForURL(customerSource);
    expect(await tab.locator('#profiles').textContent()).to.contain('CS-2001');
    expect(visited.filter((url) => url.includes('/dev/upstream/interaction/')).length).to.equal(upstreamPagesBefore);
    await screen(album, tab, 'customersource-signed-in');

    // The account page lists both profiles.
    await tab.goto(`${running.issuer}/account`);
    expect(await tab.locator('h1').textContent()).to.equal('Your Microsoft Dynamics account');
    expect(await tab.locator('table.profiles').textContent()).to.contain('CS-2001').and.to.contain('PS-100');
    await screen(album, tab, 'account');
    await tab.goto(customerSource);

    // Sign out through the broker.
    await tab.getByRole('button', { name: 'Sign out' }).click();
    expect(await tab.locator('h1').textContent()).to.equal('Sign out');
    await screen(album, tab, 'logout-confirmation');
    await tab.getByRole('button', { name: 'Yes, sign me out' }).click();
    await tab.waitForURL(customerSource);
    expect(await tab.locator('h1').textContent()).to.equal('Welcome to CustomerSource');
    await screen(album, tab, 'customersource-signed-out');
    // Single logout: PartnerSource heard of it over the back channel.
    await mail.goto(partnerSource);
    expect(await mail.locator('h1').textContent(), 'PartnerSource is signed out too').to.equal('Welcome to PartnerSource');

    // The audit log tells the whole story.
    const recorded = new Set((await running.broker.store.auditEvents.list({ limit: 500 })).items.map((event) => event.type));
    for (const type of ['association.started', 'association.email_submitted', 'association.link_queued', 'association.link_opened', 'binding.created', 'sign_in', 'logout']) {
      expect(recorded.has(type), `audit event ${type}`).to.equal(true);
    }
    await context.close();
  });

  it('adds a profile from the demo portal’s button over the SSO session, and shows a cancel and a failure as the portal got them', async () => {
    const album = new ScreenshotAlbum('portal-association');
    const bound = buildProfile({ portal: 'partnersource', email: 'ada.old@contoso.example', organization: 'Ada Partners' });
    const partnerToAdd = buildProfile({ portal: 'partnersource', email: 'ada@contoso.example', organization: 'Ada Consulting' });
    const customerOnly = buildProfile({ portal: 'customersource', email: 'ada.retail@contoso.example', organization: 'Ada Retail' });
    await bindDevAccount(running, 'ada-adds-profiles', [bound], running.broker.store);
    for (const profile of [partnerToAdd, customerOnly]) await running.broker.store.profiles.upsert(profile);
    const context = await chromium.newContext({ locale: 'en-US', viewport: { width: 1024, height: 768 } });
    const visited: string[] = [];
    context.on('request', (request) => {
      if (request.isNavigationRequest()) visited.push(request.url());
    });
    const tab = await context.newPage();
    const mail = await context.newPage();
    const upstreamPages = () => visited.filter((url) => url.includes('/dev/upstream/interaction/')).length;
    /** Confirms the one association email sent to `address` and goes on from the success page into the portal. */
    const confirmAndContinue = async (address: string) => {
      const [entry] = (await mailboxLinks(mail, (emails) => emails.some((email) => email.to.includes(address)))).filter((email) => email.to.includes(address));
      await mail.goto(entry!.link);
      await mail.getByRole('button', { name: 'Sign in and associate' }).click();
      await signInUpstream(mail, 'ada-adds-profiles');
      expect(await mail.locator('h1').textContent()).to.equal('Your Microsoft account is associated');
      await mail.getByRole('link', { name: 'Continue to PartnerSource' }).click();
      await mail.waitForURL((url) => url.href.startsWith(partnerSource));
    };

    // Signed in to PartnerSource with the profile bound already.
    await tab.goto(partnerSource);
    await tab.getByRole('link', { name: 'Sign in' }).click();
    await tab.getByRole('link', { name: 'Sign in with a Microsoft account' }).click();
    await signInUpstream(tab, 'ada-adds-profiles');
    await tab.waitForURL(partnerSource);
    expect(await tab.locator('#profiles').textContent()).to.contain(bound.id).and.not.to.contain(partnerToAdd.id);
    await screen(album, tab, 'portal-with-one-profile');

    // Bound: "Add a profile" goes to the email step over the session, without the upstream's page.
    const upstreamPagesBefore = upstreamPages();
    await tab.getByRole('link', { name: 'Add a profile' }).click();
    expect(await tab.locator('h1').textContent()).to.equal('Enter your MBS email address');
    expect(upstreamPages(), 'no upstream sign-in over the session').to.equal(upstreamPagesBefore);
    await screen(album, tab, 'email-step-from-portal');
    await tab.getByLabel('MBS email address').fill(partnerToAdd.email);
    await tab.getByRole('button', { name: 'Continue' }).click();
    expect(await tab.locator('h1').textContent()).to.equal('Check your inbox');
    await confirmAndContinue(partnerToAdd.email);
    expect(await mail.locator('#action-outcome').textContent()).to.contain('Profile added');
    expect(await mail.locator('#profiles').textContent()).to.contain(bound.id).and.to.contain(partnerToAdd.id);
    await screen(album, mail, 'portal-profile-added');

    // Cancelled at the email step: the portal says so, and the person stays signed in there.
    await tab.goto(partnerSource);
    await tab.getByRole('link', { name: 'Add a profile' }).click();
    await tab.getByRole('button', { name: 'Cancel' }).click();
    await tab.waitForURL((url) => url.href.startsWith(`${partnerSource}callback`));
    expect(await tab.locator('#action-outcome').getAttribute('data-error')).to.equal('access_denied');
    expect(await tab.locator('#action-outcome').textContent()).to.contain('You cancelled adding a profile');
    await screen(album, tab, 'portal-add-profile-cancelled');

    // Failed: the link bound a CustomerSource profile, none of PartnerSource's.
    await tab.goto(partnerSource);
    await tab.getByRole('link', { name: 'Add a profile' }).click();
    await tab.getByLabel('MBS email address').fill(customerOnly.email);
    await tab.getByRole('button', { name: 'Continue' }).click();
    await confirmAndContinue(customerOnly.email);
    expect(await mail.locator('#action-outcome').getAttribute('data-error')).to.equal('association_failed');
    await screen(album, mail, 'portal-add-profile-failed');
    await mail.goto(partnerSource);
    expect(await mail.locator('#profiles').textContent(), 'still signed in, with the same profiles').to.contain(partnerToAdd.id).and.not.to.contain(customerOnly.id);
    await context.close();
  });

  it('shows the other screens branded, in German and French, and accessible', async () => {
    const album = new ScreenshotAlbum('screens');
    const german = await chromium.newContext({ locale: 'de-DE', extraHTTPHeaders: { 'Accept-Language': 'de-DE,de;q=0.9' }, viewport: { width: 390, height: 844 } });
    const page = await german.newPage();

    // A person bound only to CustomerSource who signs in to PartnerSource (phone width, German).
    await page.goto(customerSource);
    await page.getByRole('link', { name: 'Sign in' }).click();
    expect(await page.locator('html').getAttribute('lang')).to.equal('de');
    expect(await page.locator('h1').textContent()).to.equal('Bei CustomerSource anmelden');
    await screen(album, page, 'landing-de-phone');
    await page.getByRole('link', { name: 'Mit einem Microsoft-Konto anmelden' }).click();
    await signInUpstream(page, 'sam-in-chromium');
    await page.getByLabel('MBS-E-Mail-Adresse').fill('sam.lee@fabrikam.example');
    await page.getByRole('button', { name: 'Weiter' }).click();
    const mail = await german.newPage();
    const germanCustomerSourceEmail = (entry: { subject: string }) => entry.subject.includes('CustomerSource') && entry.subject.startsWith('Ordnen');
    const [link] = (await mailboxLinks(mail, (emails) => emails.some(germanCustomerSourceEmail))).filter(germanCustomerSourceEmail);
    expect(link, 'a German association email for CustomerSource').to.not.equal(undefined);
    await mail.goto(link!.link);
    expect(await mail.locator('html').getAttribute('lang')).to.equal('de');
    await mail.getByRole('button', { name: 'Anmelden und zuordnen' }).click();
    // Someone else signs in at the upstream: the mismatch page, and the link still works.
    await signInUpstream(mail, 'not-sam');
    expect(await mail.locator('h1').textContent()).to.equal('Ein anderes Microsoft-Konto hat sich angemeldet');
    await screen(album, mail, 'mismatch-de-phone');
    await mail.goto(link!.link);
    await mail.getByRole('button', { name: 'Anmelden und zuordnen' }).click();
    await signInUpstream(mail, 'sam-in-chromium');
    // The success page in German; in the browser that started the sign-in it continues by itself.
    expect(await mail.locator('h1').textContent()).to.equal('Ihr Microsoft-Konto ist zugeordnet');
    expect(await mail.locator('#associated-profile').textContent()).to.equal('Sie haben Ihr Microsoft-Konto erfolgreich Ihrem CustomerSource-Profil für Fabrikam zugeordnet.');
    expect(await mail.locator('#other-emails').textContent()).to.contain('Alle für sam.lee@fabrikam.example registrierten Profile');
    await screen(album, mail, 'associated-de-phone');
    await mail.waitForURL(customerSource, { timeout: 30_000 });

    // Same person at PartnerSource: no PartnerSource profile yet.
    await page.goto(partnerSource);
    await page.getByRole('link', { name: 'Sign in' }).click();
    expect(await page.locator('h1').textContent()).to.equal('Noch kein PartnerSource-Profil');
    await screen(album, page, 'portal-fit-de-phone');

    // A third-party application asks for consent (same session, German).
    const thirdParty = await new ClientAdministration(running.broker.store.clients).register({
      name: 'Contoso Reports',
      portal: 'both',
      redirectUris: ['http://127.0.0.1:9/callback'],
    });
    const authorize = new URL('/auth', running.issuer);
    authorize.search = new URLSearchParams({
      client_id: thirdParty.client.id,
      response_type: 'code',
      scope: 'openid email mbs_profiles',
      redirect_uri: 'http://127.0.0.1:9/callback',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
      state: 'consent-screen',
    }).toString();
    await page.goto(authorize.href);
    expect(await page.locator('h1').textContent()).to.equal('Zugriff erlauben?');
    expect(await page.locator('main').textContent()).to.contain('Contoso Reports').and.to.contain('Ihre MBS-Profile');
    await screen(album, page, 'consent-de-phone');

    // Too many association emails: the 429 page.
    const rita = await chromium.newContext({ locale: 'de-DE', extraHTTPHeaders: { 'Accept-Language': 'de' }, viewport: { width: 390, height: 844 } });
    const eager = await rita.newPage();
    await eager.goto(`${partnerSource}login`);
    await eager.getByRole('link', { name: 'Mit einem Microsoft-Konto anmelden' }).click();
    await signInUpstream(eager, 'rita-in-chromium');
    let status = 0;
    for (let attempt = 0; attempt < 4 && status !== 429; attempt += 1) {
      await eager.getByLabel('MBS-E-Mail-Adresse').fill(`rita${attempt}@contoso.example`);
      const [response] = await Promise.all([eager.waitForResponse((candidate) => candidate.request().method() === 'POST'), eager.getByRole('button', { name: 'Weiter' }).click()]);
      status = response.status();
      if (status !== 429) await eager.getByRole('link', { name: 'geben Sie eine andere Adresse ein' }).click();
    }
    expect(status).to.equal(429);
    expect(await eager.locator('main').textContent()).to.contain('Es wurden zu viele Zuordnungs-E-Mails angefordert');
    expect(await eager.locator('.portal-name').textContent(), 'error pages inside a sign-in carry the portal’s branding').to.equal('PartnerSource');
    await screen(album, eager, 'rate-limited-de-phone');
    await rita.close();

    // The used link, and a page that does not exist, in French.
    const french = await chromium.newContext({ locale: 'fr-FR', extraHTTPHeaders: { 'Accept-Language': 'fr-FR,fr;q=0.9' } });
    const frenchPage = await french.newPage();
    await frenchPage.goto(link!.link);
    expect(await frenchPage.locator('h1').textContent()).to.equal('Ce lien a déjà été utilisé');
    expect(await frenchPage.locator('html').getAttribute('lang')).to.equal('fr');
    await screen(album, frenchPage, 'link-used-fr');
    const missing = await frenchPage.goto(`${running.issuer}/nothing-here`);
    expect(missing?.status()).to.equal(404);
    expect(await frenchPage.locator('h1').textContent()).to.equal('Page introuvable');
    await screen(album, frenchPage, 'not-found-fr');
    await french.close();
    await german.close();
  });

  it('has jane pick one of her two PartnerSource profiles, shows it in the portal, and switches it with the portal’s link', async () => {
    const album = new ScreenshotAlbum('profile-picker-demo');
    const { store } = running.broker;
    const both = await Promise.all(['PS-1001', 'PS-1002'].map(async (id) => (await store.profiles.find(id))!));
    await bindDevAccount(running, 'jane', both, store);
    const context = await chromium.newContext({ locale: 'en-US', viewport: { width: 1024, height: 768 } });
    const upstreamPages: string[] = [];
    context.on('request', (request) => {
      if (request.isNavigationRequest() && request.url().includes('/dev/upstream/interaction/')) upstreamPages.push(request.url());
    });
    const tab = await context.newPage();
    await tab.goto(partnerSource);
    await tab.getByRole('link', { name: 'Sign in' }).click();
    await tab.getByRole('link', { name: 'Sign in with a Microsoft account' }).click();
    await signInUpstream(tab, 'jane');

    expect(await tab.locator('h1').textContent()).to.equal('Which profile?');
    expect(await tab.locator('.portal-name').textContent()).to.equal('PartnerSource');
    await screen(album, tab, 'picker');
    await tab.getByRole('radio', { name: 'Contoso Consulting' }).check();
    await tab.getByRole('button', { name: 'Continue with this profile' }).click();
    await tab.waitForURL(partnerSource);
    expect(await tab.locator('#current-profile').textContent()).to.contain('Contoso Consulting').and.to.contain('PS-1002');
    await screen(album, tab, 'partnersource-acting-as-consulting');

    // "Switch profile": the picker again, the current choice preselected, no upstream page.
    const upstreamPagesBefore = upstreamPages.length;
    await tab.getByRole('link', { name: 'Switch profile' }).click();
    expect(await tab.locator('h1').textContent()).to.equal('Which profile?');
    expect(await tab.getByRole('radio', { name: 'Contoso Consulting' }).isChecked()).to.equal(true);
    await tab.getByRole('radio', { name: 'Contoso Partners' }).check();
    await tab.getByRole('button', { name: 'Continue with this profile' }).click();
    await tab.waitForURL(partnerSource);
    expect(await tab.locator('#current-profile').textContent()).to.contain('Contoso Partners').and.to.contain('PS-1001');
    expect(upstreamPages.length).to.equal(upstreamPagesBefore);
    await screen(album, tab, 'partnersource-switched-to-partners');
    await context.close();
  });
});
