// oidc-client-ts (npm) as a public single-page client of the broker: a small
// Node http server serves one portal's static pages, the library's own
// browser bundle from node_modules and the page script
// (oidc_client_ts_spa.js), which only calls the library's UserManager.
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../support/broker.ts';

const packageDirectory = dirname(createRequire(import.meta.url).resolve('oidc-client-ts/package.json'));
const bundlePath = join(packageDirectory, 'dist/browser/oidc-client-ts.min.js');
const pageScriptPath = fileURLToPath(new URL('./oidc_client_ts_spa.js', import.meta.url));

/**
 * oidc-client-ts's version, or undefined when its browser bundle is missing.
 * It is a devDependency, so in CI a missing one is a failure.
 */
export function oidcClientTsVersion(): string | undefined {
  if (!existsSync(bundlePath)) {
    if (process.env.CI) throw new Error(`${bundlePath} is missing: npm ci installs oidc-client-ts`);
    return undefined;
  }
  return (JSON.parse(readFileSync(join(packageDirectory, 'package.json'), 'utf8')) as { version: string }).version;
}

const escapeHtml = (value: string): string => value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Every path of the portal gets this shell; the page script decides by path what it is. */
function shell(name: string, settings: Record<string, string>): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(name)}</title></head>
<body>
<main id="app"><p>Loading…</p></main>
<script type="application/json" id="settings">${escapeHtml(JSON.stringify(settings))}</script>
<script src="/oidc-client-ts.min.js"></script>
<script src="/app.js"></script>
</body>
</html>`;
}

/** One portal as a single-page application on its own origin (its own port on 127.0.0.1). */
export class SpaPortal {
  readonly name: string;
  port = 0;
  #server: Server | undefined;

  constructor(name: string) {
    this.name = name;
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get redirectUri(): string {
    return `${this.origin}/callback`;
  }

  get postLogoutRedirectUri(): string {
    return `${this.origin}/signed-out`;
  }

  /** Reserves the port, so the client can be registered with its redirect URI first. */
  async reserve(): Promise<string> {
    this.port = await freePort();
    return this.origin;
  }

  async start(issuer: string, clientId: string): Promise<void> {
    const bundle = readFileSync(bundlePath);
    const pageScript = readFileSync(pageScriptPath);
    const page = shell(this.name, { name: this.name, issuer, clientId });
    this.#server = createServer((request, response) => {
      const path = new URL(request.url ?? '/', this.origin).pathname;
      if (path === '/oidc-client-ts.min.js' || path === '/app.js') {
        response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
        response.end(path === '/app.js' ? pageScript : bundle);
      } else if (path === '/' || path === '/callback' || path === '/signed-out') {
        response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        response.end(page);
      } else {
        response.writeHead(404, { 'content-type': 'text/plain' });
        response.end('not found');
      }
    });
    const server = this.#server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
