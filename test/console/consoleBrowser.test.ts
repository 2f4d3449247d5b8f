// The console in real Chromium, as an admin meets it: signing in to /admin
// through the broker's landing page and the dev upstream, the layout under
// its Content-Security-Policy with no violation reported, the keyboard path
// from the skip link through the navigation, and each page of this branch
// (overview, admins with an API token and its revocation's confirmation, keys,
// the recent-sign-in and refusal pages) in English,
// German and French, held to axe-core (no serious or critical violation) and
// screenshotted (test-results/console/), wide and narrow.
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { chromiumAvailable, launchChromium, ScreenshotAlbum, seriousAccessibilityViolations } from '../support/chromium.ts';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { grantConsoleRole } from '../support/console.ts';

describe('the admin console in a real browser', function () {
  this.timeout(120_000);
  let running: RunningBroker;
  let chromium: Browser;
  let album: ScreenshotAlbum;
  let tokenId: string;

  before(async function () {
    if (!chromiumAvailable()) {
      console.warn('    (skipped: no Chromium at /usr/bin/chromium; apt-get install chromium)');
      this.skip();
    }
    running = await startBroker({ CONSOLE_RECENT_SIGN_IN: '2' });
    await grantConsoleRole(running, 'chromium-admin', 'admin');
    await grantConsoleRole(running, 'chromium-support', 'support');
    // A token in the admins page's list, and its revocation's confirmation page.
    tokenId = (await running.broker.administration({ surface: 'cli' }).access.issueToken('support', 'Helpdesk integration')).record.id;
    chromium = await launchChromium();
    album = new ScreenshotAlbum('console');
  });

  after(async () => {
    await chromium?.close();
    await running?.stop();
  });

  /** Screenshots the page and holds it to axe-core. */
  async function screen(page: Page, name: string): Promise<void> {
    await page.waitForLoadState('load');
    await album.take(page, name);
    const violations = await seriousAccessibilityViolations(page);
    expect(violations, `${name} (${page.url()}): ${JSON.stringify(violations, null, 2)}`).to.deep.equal([]);
  }

  /** From /admin through the broker's landing page and the dev upstream, back on the console. */
  async function signIn(page: Page, accountName: string): Promise<void> {
    await page.goto(`${running.issuer}/admin`);
    await page.locator('#sign-in-continue').click();
    await page.locator('#account').fill(accountName);
    await page.locator('#email').fill(`${accountName}@hotmail.example`);
    await page.locator('button[type=submit]').click();
    await page.waitForURL(`${running.issuer}/admin`);
  }

  it('signs an admin in through the broker, with no CSP violation, and is keyboard-usable', async () => {
    const context: BrowserContext = await chromium.newContext({ locale: 'en-US', viewport: { width: 1024, height: 768 } });
    const page = await context.newPage();
    const refused: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) refused.push(message.text());
    });
    await signIn(page, 'chromium-admin');
    expect(await page.locator('h1').textContent()).to.equal('Console overview');
    await album.take(page, 'overview-en');
    for (const path of ['/admin/admins', '/admin/keys']) {
      await page.goto(`${running.issuer}${path}`);
      expect(await page.locator('main h1').count()).to.equal(1);
    }
    expect(refused, 'the console breaks none of its own policy').to.deep.equal([]);

    // Keyboard: the skip link first, then the navigation, in reading order.
    await page.goto(`${running.issuer}/admin`);
    await page.keyboard.press('Tab');
    expect(await page.locator(':focus').getAttribute('class')).to.equal('skip');
    await page.keyboard.press('Tab');
    expect(await page.locator(':focus').getAttribute('href')).to.equal('/admin');
    await page.keyboard.press('Tab');
    // The second section of the navigation, whichever it is (more pages come from other branches).
    const second = await page.locator(':focus').getAttribute('href');
    await page.keyboard.press('Enter');
    await page.waitForURL(`${running.issuer}${second}`);
    await context.close();
  });

  for (const [locale, language, headings] of [
    ['en-US', 'en', { admins: 'Admins', keys: 'Keys' }],
    ['de-DE', 'de', { admins: 'Admins', keys: 'Schlüssel' }],
    ['fr-FR', 'fr', { admins: 'Admins', keys: 'Clés' }],
  ] as const) {
    it(`shows the overview, admins and keys pages in ${language} with no serious accessibility violation`, async () => {
      // axe-core is injected as a script, which the console's policy would refuse: these contexts bypass it.
      const context = await chromium.newContext({ locale, viewport: { width: 1024, height: 768 }, bypassCSP: true });
      const page = await context.newPage();
      await signIn(page, 'chromium-admin');
      expect(await page.locator('html').getAttribute('lang')).to.equal(language);
      await screen(page, `overview-${language}`);
      await page.goto(`${running.issuer}/admin/admins`);
      expect(await page.locator('h1').textContent()).to.equal(headings.admins);
      await screen(page, `admins-${language}`);
      await page.goto(`${running.issuer}/admin/admins/tokens/${tokenId}/revoke`);
      expect(await page.locator('form[action$="/revoke"] button').count()).to.equal(1);
      await screen(page, `token-revoke-${language}`);
      await page.goto(`${running.issuer}/admin/keys`);
      expect(await page.locator('h1').textContent()).to.equal(headings.keys);
      await screen(page, `keys-${language}`);
      // Long enough after the sign-in that rotating asks for it again.
      await page.waitForTimeout(3100);
      await page.locator('form[action="/admin/keys/rotate-cookie"] button').click();
      expect(await page.locator('a[href^="/admin/reauthenticate"]').count()).to.equal(1);
      await screen(page, `reauthenticate-${language}`);
      await page.setViewportSize({ width: 375, height: 812 });
      await page.goto(`${running.issuer}/admin/admins`);
      await screen(page, `admins-narrow-${language}`);
      await context.close();
    });
  }

  it('shows a support user only what support may open, and refuses the keys page', async () => {
    const context = await chromium.newContext({ locale: 'en-US', viewport: { width: 1024, height: 768 }, bypassCSP: true });
    const page = await context.newPage();
    await signIn(page, 'chromium-support');
    expect(await page.locator('nav a[href="/admin/keys"]').count()).to.equal(0);
    await screen(page, 'overview-support');
    const refused = await page.goto(`${running.issuer}/admin/keys`);
    expect(refused?.status()).to.equal(403);
    await screen(page, 'keys-refused-support');
    await context.close();
  });
});
