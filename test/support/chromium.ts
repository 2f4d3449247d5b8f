// Real Chromium for browser tests: Debian's /usr/bin/chromium driven by
// playwright-core, headless, with axe-core checks and screenshots saved under
// test-results/ as artifacts.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import axe from 'axe-core';
import { chromium, type Browser, type Page } from 'playwright-core';

export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Whether real Chromium is here; CI installs it, so there a missing one is a failure, not a skip. */
export function chromiumAvailable(): boolean {
  if (existsSync(chromiumPath)) return true;
  if (process.env.CI) throw new Error(`${chromiumPath} is missing: .ci/run installs Debian's chromium package`);
  return false;
}

/** For a suite's before hook: skips the suite, saying why, where Chromium is missing (fails on CI, see chromiumAvailable). */
export function skipWithoutChromium(suite: { skip(): never }): void {
  if (chromiumAvailable()) return;
  console.warn('    (skipped: no Chromium at /usr/bin/chromium; apt-get install chromium)');
  suite.skip();
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    // Without the background-networking flags Chromium keeps calling out to
    // Google's hosts, which a closed network refuses.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export interface AxeViolation {
  id: string;
  impact: string | null | undefined;
  help: string;
  targets: string[];
}

/** Runs axe-core on the page; returns the serious and critical violations. */
export async function seriousAccessibilityViolations(page: Page): Promise<AxeViolation[]> {
  // Evaluated through the DevTools protocol rather than added as an inline
  // script: pages under a strict Content-Security-Policy (the console) refuse those.
  await page.evaluate(axe.source);
  const violations = await page.evaluate(async () => {
    const result = await (globalThis as unknown as { axe: typeof axe }).axe.run({ resultTypes: ['violations'] });
    return result.violations.map((violation) => ({ id: violation.id, impact: violation.impact, help: violation.help, targets: violation.nodes.map((node) => node.target.join(' ')) }));
  });
  return violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical');
}

/** Saves full-page screenshots as numbered test artifacts in test-results/<suite>/. */
export class ScreenshotAlbum {
  readonly directory: string;
  #count = 0;
  constructor(suite: string) {
    this.directory = join('test-results', suite);
    rmSync(this.directory, { recursive: true, force: true });
    mkdirSync(this.directory, { recursive: true });
  }

  async take(page: Page, name: string): Promise<string> {
    this.#count += 1;
    const path = join(this.directory, `${String(this.#count).padStart(2, '0')}-${name}.png`);
    await page.screenshot({ path, fullPage: true });
    return path;
  }
}

/** Screenshots the page into the album and holds it to axe-core: no serious or critical violation. */
export async function inspectScreen(album: ScreenshotAlbum, page: Page, name: string): Promise<void> {
  await page.waitForLoadState('load');
  await album.take(page, name);
  const violations = await seriousAccessibilityViolations(page);
  if (violations.length > 0) throw new Error(`${name} (${page.url()}): ${JSON.stringify(violations, null, 2)}`);
}
