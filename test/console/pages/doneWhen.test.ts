// Issue 16's "done when", walked in real Chromium from a broker started as
// `npm start` starts it (demo portals, the dev upstream, the dev mailbox):
// the demo admin signs in to /admin, registers a client, imports the demo
// profiles with a preview, finds a person, resends their association email
// and sees it in the dev mailbox. Each step is a screenshot in
// test-results/console-done-when (ignored by git), each screen held to axe-core.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { inspectScreen, launchChromium, ScreenshotAlbum, skipWithoutChromium } from '../../support/chromium.ts';
import { freePort, startBroker, type RunningBroker } from '../../support/broker.ts';
import { signInToConsoleInChromium } from '../../support/console.ts';
import { Person, registerPortal } from '../../support/journey.ts';

describe('the console’s “done when” in a real browser', function () {
  this.timeout(180_000);
  let running: RunningBroker;
  let chromium: Browser;
  let album: ScreenshotAlbum;

  before(async function () {
    skipWithoutChromium(this);
    const [partnerPort, customerPort] = [await freePort(), await freePort()];
    running = await startBroker({ DEMO_PORTALS: 'true', PARTNERSOURCE_DEMO_PORT: String(partnerPort), CUSTOMERSOURCE_DEMO_PORT: String(customerPort), OUTBOX_INTERVAL: '25' });
    chromium = await launchChromium();
    album = new ScreenshotAlbum('console-done-when');
  });

  after(async () => {
    await chromium?.close();
    await running?.stop();
  });

  const step = (page: Page, name: string) => inspectScreen(album, page, name);

  it('signs in as the demo admin, registers a client, imports the demo profiles with a preview, finds a person and resends their email into the dev mailbox', async () => {
    // Jane asked for her association emails at PartnerSource and never opened them.
    const portal = await registerPortal(running, 'partnersource');
    const jane = new Person('jane');
    const { page: emailForm } = await jane.startSignIn(portal);
    await jane.submitEmail(emailForm!, 'jane.doe@contoso.example');

    const page = await (await chromium.newContext({ locale: 'en-US', viewport: { width: 1280, height: 900 } })).newPage();
    await signInToConsoleInChromium(page, running.issuer, 'admin');
    await step(page, 'signed-in-as-demo-admin');

    await page.goto(`${running.issuer}/admin/clients/new`);
    await page.locator('#id').fill('reports-portal');
    await page.locator('#name').fill('Reports portal');
    await page.locator('#redirectUris').fill('https://reports.example/callback');
    await page.locator('form[action="/admin/clients"] button[type=submit]').click();
    await page.locator('button[data-copy="secret"]').waitFor({ state: 'visible' });
    await step(page, 'client-registered-secret-once');

    await page.goto(`${running.issuer}/admin/profiles/import`);
    await page.locator('#file').setInputFiles({ name: 'demo-profiles.csv', mimeType: 'text/csv', buffer: readFileSync(new URL('../../../config/demo-profiles.csv', import.meta.url)) });
    await page.locator('form[action="/admin/profiles/import/preview"] button[type=submit]').click();
    await page.waitForURL(`${running.issuer}/admin/profiles/import/preview`);
    await step(page, 'import-preview');
    await page.locator('form[action="/admin/profiles/import"] button[type=submit]').click();
    await page.waitForURL(`${running.issuer}/admin/profiles/import`);
    await step(page, 'import-applied');

    await page.goto(`${running.issuer}/admin/people`);
    await page.locator('#q').fill('jane.doe@contoso.example');
    await page.locator('#q').press('Enter');
    await page.waitForURL(/\/admin\/people\?/);
    await step(page, 'person-found');

    await page.goto(`${running.issuer}/admin/emails?address=jane.doe%40contoso.example`);
    await step(page, 'emails-and-links');
    const before = running.broker.devMailbox!.messages().filter((message) => message.to === 'jane.doe@contoso.example').length;
    await page.locator('form[action$="/resend"] button[type=submit]').first().click();
    await page.waitForURL(/done=resent/);
    await step(page, 'link-resent');

    for (let attempt = 0; attempt < 100 && running.broker.devMailbox!.messages().filter((message) => message.to === 'jane.doe@contoso.example').length === before; attempt += 1) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(running.broker.devMailbox!.messages().filter((message) => message.to === 'jane.doe@contoso.example').length).to.equal(before + 1);
    await page.goto(`${running.issuer}/dev/mail`);
    await step(page, 'resent-email-in-dev-mailbox');
    await page.context().close();
  });
});
