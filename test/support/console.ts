// The admin console from a test: a person of the dev upstream given a
// console role (through the admin services, as `admins grant` would), and
// signing in to /admin the way a browser does.
import { expect } from 'chai';
import type { AdminRole } from '../../src/domain/records.ts';
import { devUpstreamPath } from '../../src/upstream/choice.ts';
import { devSubject } from '../../src/upstream/devUpstream.ts';
import type { Page as ChromiumPage } from 'playwright-core';
import type { Page } from './browser.ts';
import type { RunningBroker } from './broker.ts';
import { Person } from './journey.ts';

/** The dev upstream identity of an account name at this broker. */
export const devIdentity = (running: Pick<RunningBroker, 'issuer'>, accountName: string) => ({ issuer: `${running.issuer}${devUpstreamPath}`, subject: devSubject(accountName) });

/** Gives the dev upstream account `accountName` a console role; returns its broker account id. */
export async function grantConsoleRole(running: RunningBroker, accountName: string, role: AdminRole): Promise<string> {
  const granted = await running.broker.administration({ surface: 'cli' }).access.grantIdentity({ ...devIdentity(running, accountName), name: accountName }, role);
  return granted.accountId;
}

/** A person signed in to the console (through the broker and the dev upstream), on the page `path`. */
export async function consoleSignIn(running: RunningBroker, person: Person, path = '/admin'): Promise<Page> {
  const { page } = await person.follow(`${running.issuer}${path}`);
  expect(page, 'a console page').to.not.equal(undefined);
  return page!;
}

/** A person of the dev upstream with `role`, signed in to the console's start page. */
export async function consoleUser(running: RunningBroker, accountName: string, role: AdminRole): Promise<{ person: Person; accountId: string; page: Page }> {
  const accountId = await grantConsoleRole(running, accountName, role);
  const person = new Person(accountName);
  const page = await consoleSignIn(running, person);
  expect(page.status, page.body).to.equal(200);
  return { person, accountId, page };
}

/** In Chromium: from /admin through the broker's landing page and the dev upstream as `accountName`, back on the console. */
export async function signInToConsoleInChromium(page: ChromiumPage, issuer: string, accountName: string): Promise<void> {
  await page.goto(`${issuer}/admin`);
  await page.locator('#sign-in-continue').click();
  await page.locator('#account').fill(accountName);
  await page.locator('#email').fill(`${accountName}@hotmail.example`);
  await page.locator('button[type=submit]').click();
  await page.waitForURL(`${issuer}/admin`);
}
