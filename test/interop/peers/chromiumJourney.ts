// The broker's screens as a person in Chromium walks them, shared by the
// relying-party interop tests.
import type { Page } from 'playwright-core';

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
