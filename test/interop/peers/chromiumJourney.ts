// The broker's screens as a person in Chromium walks them, shared by the
// relying-party interop tests.
import { expect } from 'chai';
import type { BrowserContext, Page } from 'playwright-core';
import { linkOf, mailFor } from '../../support/journey.ts';
import type { TestSmtpServer } from '../../support/smtp.ts';

/** Signs in at the dev upstream's page (the stand-in for Microsoft accounts). */
export async function signInUpstream(page: Page, accountName: string): Promise<void> {
  await page.getByLabel('Account name').fill(accountName);
  await page.getByLabel('Email').fill(`${accountName}@hotmail.example`);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/**
 * After a confirmed association link in the browser that started the
 * sign-in: the broker either resumes into the portal at once or shows its
 * success page with a button to continue; either way, end at `origin`.
 */
export async function continueToPortal(page: Page, origin: string): Promise<void> {
  const atPortal = (url: URL) => url.origin === origin;
  await page.waitForLoadState('load');
  if (!atPortal(new URL(page.url()))) {
    const onward = page.getByRole('link', { name: /continue|go to/i }).or(page.getByRole('button', { name: /continue|go to/i }));
    if (await onward.count()) await onward.first().click();
  }
  await page.waitForURL(atPortal);
}

/**
 * A returning person: the upstream may still hold its own session (the
 * broker's ended) and sign them in without its page. Ends at `origin`.
 */
export async function signInUpstreamIfAsked(page: Page, accountName: string, origin: string): Promise<void> {
  const accountField = page.getByLabel('Account name');
  await page.waitForURL((url) => url.origin === origin || url.pathname.includes('/dev/upstream/'));
  if (new URL(page.url()).origin !== origin && (await accountField.count())) await signInUpstream(page, accountName);
  await page.waitForURL((url) => url.origin === origin);
}

export interface FirstAssociation {
  /** The dev upstream account the person signs in with, both times. */
  accountName: string;
  /** The MBS email address registered for both profiles. */
  email: string;
  /** Where the PartnerSource profile's link ends (the portal's origin). */
  portalOrigin: string;
}

/**
 * Guide steps 3 to 9 from the broker's sign-in page: the upstream, the MBS
 * email, "check your inbox", one email per profile (the PartnerSource one of
 * Contoso Partners, the CustomerSource one of Contoso Retail), the
 * PartnerSource link confirmed with the same account in a second tab of the
 * browser, and on into the portal. Returns that tab, and the CustomerSource
 * link for later.
 */
export async function associateFirstProfile(context: BrowserContext, tab: Page, smtp: TestSmtpServer, journey: FirstAssociation): Promise<{ linkTab: Page; customerLink: string }> {
  await tab.getByRole('link', { name: 'Sign in with a Microsoft account' }).click();
  await signInUpstream(tab, journey.accountName);
  await tab.getByLabel('MBS email address').fill(journey.email);
  await tab.getByRole('button', { name: 'Continue' }).click();
  expect(await tab.locator('h1').textContent()).to.equal('Check your inbox');

  const mails = await mailFor(smtp, 2);
  expect(mails).to.have.length(2);
  const partnerLink = linkOf(mails.find((mail) => mail.text.includes('Contoso Partners'))!);
  const customerLink = linkOf(mails.find((mail) => mail.text.includes('Contoso Retail'))!);
  const linkTab = await context.newPage();
  await linkTab.goto(partnerLink);
  await linkTab.getByRole('button', { name: 'Sign in and associate' }).click();
  await signInUpstream(linkTab, journey.accountName);
  await continueToPortal(linkTab, journey.portalOrigin);
  return { linkTab, customerLink };
}
