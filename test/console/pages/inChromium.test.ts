// The console's pages of this branch in real Chromium, in English, German
// and French, at desktop, tablet and phone width: an admin signs in through
// the broker and the dev upstream, then opens each page (dashboard, people,
// a person, emails and links, the audit log, clients with a registration
// and its secret, profiles with an import's preview and apply, and each
// form showing bad input). Every screen is
// screenshotted (test-results/console-pages, ignored by git) and held to
// axe-core: no serious or critical violation.
import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import { inspectScreen, launchChromium, ScreenshotAlbum, skipWithoutChromium } from '../../support/chromium.ts';
import { startBroker, type RunningBroker } from '../../support/broker.ts';
import { grantConsoleRole, signInToConsoleInChromium } from '../../support/console.ts';
import { buildLinkRequest, buildOutgoingMessage, buildProfile } from '../../support/factories.ts';

const locales = [
  { locale: 'en', acceptLanguage: 'en-US,en;q=0.9', viewport: { width: 1280, height: 900 } },
  { locale: 'de', acceptLanguage: 'de-DE,de;q=0.9', viewport: { width: 390, height: 844 } },
  { locale: 'fr', acceptLanguage: 'fr-FR,fr;q=0.9', viewport: { width: 1024, height: 768 } },
] as const;

describe('the console’s pages in a real browser', function () {
  this.timeout(180_000);
  let running: RunningBroker;
  let chromium: Browser;
  let album: ScreenshotAlbum;
  let accountId: string;
  let profileIds: string[];
  /** Errors the pages logged in the browser (a refused inline script or style would be one). */
  const browserErrors: string[] = [];
  const email = 'dana.quinn@contoso.example';

  before(async function () {
    skipWithoutChromium(this);
    running = await startBroker();
    chromium = await launchChromium();
    album = new ScreenshotAlbum('console-pages');
    await grantConsoleRole(running, 'console-browser-admin', 'admin');
    // A person with a bound profile, an unbound one with a pending link, a delivered and a failing email.
    const profiles = [buildProfile({ email, organization: 'Contoso Pharmaceuticals' }), buildProfile({ email, portal: 'customersource', organization: 'Contoso Retail' })];
    profileIds = profiles.map((profile) => profile.id);
    accountId = await running.broker.store.transaction(async (repositories) => {
      for (const profile of profiles) await repositories.profiles.upsert(profile);
      const account = await repositories.accounts.create({ email, emailVerified: true, name: 'Dana Quinn' });
      const identity = await repositories.identities.create({ accountId: account.id, issuer: `${running.issuer}/dev/upstream`, subject: 'dana-subject', emailHint: 'dana@hotmail.example' });
      await repositories.profileBindings.bind({ profileId: profiles[0]!.id, accountId: account.id, identityId: identity.id, method: 'association' });
      await repositories.linkRequests.create(buildLinkRequest(profiles[1]!.id, { subject: 'dana-subject' }));
      await repositories.auditEvents.record({ type: 'sign_in', outcome: 'success', accountId: account.id, clientId: 'partnersource-portal', ip: '203.0.113.5' });
      await repositories.auditEvents.record({ type: 'sign_in', outcome: 'failure', accountId: account.id, clientId: 'partnersource-portal', ip: '203.0.113.5', details: { reason: 'upstream_error' } });
      return account.id;
    });
    await running.broker.outbox.queue(running.broker.database, buildOutgoingMessage({ kind: 'association_link', recipient: email, subject: 'Associate your PartnerSource profile' }));
    await running.broker.outboxWorker.runOnce();
  });

  after(async () => {
    await chromium?.close();
    await running?.stop();
  });

  /** The screen as inspectScreen checks it, and no wider than the window (wide tables scroll in their own box). */
  async function screen(page: Page, name: string): Promise<void> {
    await inspectScreen(album, page, name);
    const widths = await page.evaluate(() => {
      const browser = globalThis as unknown as { innerWidth: number; document: { documentElement: { scrollWidth: number } } };
      return { page: browser.document.documentElement.scrollWidth, window: browser.innerWidth };
    });
    expect(widths.page, `${name} is no wider than the window`).to.be.at.most(widths.window);
  }

  /** A tab in `locale`, signed in to the console through the broker's landing page and the dev upstream. */
  async function signedInTab(settings: (typeof locales)[number]): Promise<Page> {
    const context = await chromium.newContext({ locale: settings.locale, extraHTTPHeaders: { 'Accept-Language': settings.acceptLanguage }, viewport: settings.viewport });
    const page = await context.newPage();
    // Answers with an error status (the 400s of bad input) are expected; refusals and script errors are not.
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) browserErrors.push(`${page.url()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => browserErrors.push(`${page.url()}: ${error.message}`));
    await signInToConsoleInChromium(page, running.issuer, 'console-browser-admin');
    return page;
  }

  for (const settings of locales) {
    it(`shows every page in ${settings.locale}, keyboard-reachable and accessible`, async () => {
      const page = await signedInTab(settings);
      const shot = (name: string) => screen(page, `${settings.locale}-${name}`);

      await page.goto(`${running.issuer}/admin/dashboard`);
      expect(await page.locator('svg.chart').count()).to.equal(2);
      await shot('dashboard');

      await page.goto(`${running.issuer}/admin/people`);
      await shot('people');
      await page.locator('#q').fill(email);
      await page.locator('#q').press('Enter');
      await page.waitForURL(/\/admin\/people\?/);
      expect(await page.locator(`a[href="/admin/people/${accountId}"]`).count()).to.equal(1);
      await shot('people-found');
      await page.goto(`${running.issuer}/admin/people?by=email&q=`);
      await shot('people-bad-input');

      await page.goto(`${running.issuer}/admin/people/${accountId}`);
      await shot('person');
      // Keyboard: the bind form's fields are reachable, the empty reason comes back beside its field.
      await page.locator('#profileId').focus();
      await page.keyboard.type('MBS-nothing');
      await page.keyboard.press('Tab');
      await page.keyboard.type('x');
      await page.keyboard.press('Enter');
      await page.waitForURL(/\/bind$/);
      expect(await page.locator('#reason[aria-invalid="true"]').count()).to.equal(1);
      await shot('person-bad-input');

      await page.goto(`${running.issuer}/admin/emails?address=${encodeURIComponent(email)}`);
      expect(await page.locator('code', { hasText: '250 kept in the dev mailbox' }).count()).to.be.greaterThan(0);
      await shot('emails');
      await page.goto(`${running.issuer}/admin/emails?address=`);
      await shot('emails-bad-input');

      await page.goto(`${running.issuer}/admin/audit`);
      await shot('audit');
      await page.goto(`${running.issuer}/admin/audit?since=someday`);
      await shot('audit-bad-input');

      await page.goto(`${running.issuer}/admin/clients`);
      await shot('clients');
      await page.goto(`${running.issuer}/admin/clients/new`);
      await shot('client-new');
      await page.locator('#redirectUris').fill('http://not-local.example/cb');
      await page.locator('form[action="/admin/clients"] button[type=submit]').click();
      await page.waitForURL(`${running.issuer}/admin/clients`);
      expect(await page.locator('#redirectUris[aria-invalid="true"]').count()).to.equal(1);
      await shot('client-bad-input');
      await page.locator('#redirectUris').fill(`https://app-${settings.locale}.example/cb`);
      await page.locator('#id').fill(`browser-app-${settings.locale}`);
      await page.locator('form[action="/admin/clients"] button[type=submit]').click();
      await page.waitForURL(`${running.issuer}/admin/clients`);
      // The copy button, shown by the console's script (the CSP allows it: it is the broker's own file).
      await page.locator('button[data-copy="secret"]').waitFor({ state: 'visible' });
      await shot('client-secret');
      await page.goto(`${running.issuer}/admin/clients/browser-app-${settings.locale}`);
      await shot('client-edit');
      await page.goto(`${running.issuer}/admin/clients/browser-app-${settings.locale}/delete`);
      await shot('client-delete');

      await page.goto(`${running.issuer}/admin/profiles?by=organization&q=contoso`);
      await shot('profiles');
      await page.goto(`${running.issuer}/admin/profiles/${profileIds[0]}`);
      await shot('profile');
      await page.goto(`${running.issuer}/admin/profiles/import`);
      await shot('import');
      await page.locator('#file').setInputFiles({ name: 'profiles.csv', mimeType: 'text/csv', buffer: Buffer.from(`id,portal,email,display_name,organization,roles\nBR-${settings.locale}-1,partnersource,new.${settings.locale}@contoso.example,New Person,Contoso Browser,\nBR-${settings.locale}-2,elsewhere,x,,,\n`) });
      await page.locator('form[action="/admin/profiles/import/preview"] button[type=submit]').click();
      await page.waitForURL(`${running.issuer}/admin/profiles/import/preview`);
      await shot('import-preview');
      await page.locator('form[action="/admin/profiles/import"] button[type=submit]').click();
      await page.waitForURL(`${running.issuer}/admin/profiles/import`);
      expect(await running.broker.store.profiles.find(`BR-${settings.locale}-1`)).to.not.equal(undefined);
      await shot('import-applied');
      await page.context().close();
      expect(browserErrors, 'nothing refused by the Content-Security-Policy, no script errors').to.deep.equal([]);
    });
  }
});
