// Debian's Apache httpd with mod_auth_openidc as a relying party of the
// broker, run from the project's own config/apache-mod_auth_openidc.example.conf
// (only host names, ports, file paths and secrets replaced), in the
// foreground with its own ServerRoot, PidFile and logs in a temporary folder;
// and the portal application behind it, which shows what the module passed
// on (the OIDC_CLAIM_* headers).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, getGlobalDispatcher, setGlobalDispatcher, type Dispatcher } from 'undici';
import { freePort } from '../../support/broker.ts';

export const apacheBinary = '/usr/sbin/apache2';
export const modulesDirectory = '/usr/lib/apache2/modules';
export const exampleConfigPath = fileURLToPath(new URL('../../../config/apache-mod_auth_openidc.example.conf', import.meta.url));

/**
 * Whether Apache and mod_auth_openidc are here. CI installs them (.ci/run),
 * so there a missing one is a failure, not a skip.
 */
export function apacheAvailable(): boolean {
  const present = existsSync(apacheBinary) && existsSync(join(modulesDirectory, 'mod_auth_openidc.so'));
  if (!present && process.env.CI) throw new Error('Apache or mod_auth_openidc is missing: .ci/run installs apache2 and libapache2-mod-auth-openidc');
  return present;
}

/** mod_auth_openidc's version, as its package says. */
export function modAuthOpenidcVersion(): string {
  return execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'libapache2-mod-auth-openidc'], { encoding: 'utf8' }).trim();
}

export function apacheVersion(): string {
  return /Apache\/(\S+)/.exec(execFileSync(apacheBinary, ['-v'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
}

/** One portal: a virtual host made from the example file, and its application. */
export interface PortalSite {
  /** The host name the browser uses; two portals need two, as their session cookies ignore ports. */
  hostName: string;
  port: number;
  clientId: string;
  clientSecret: string;
  application: PortalApplication;
}

export const siteOrigin = (site: Pick<PortalSite, 'hostName' | 'port'>): string => `https://${site.hostName}:${site.port}`;

/** The example file with this site's host name, ports, paths and secrets. */
export function siteConfiguration(example: string, site: PortalSite, directory: string, issuer: string): string {
  const origin = siteOrigin(site);
  const replaced = example
    .replace('<VirtualHost *:443>', `<VirtualHost 127.0.0.1:${site.port}>`)
    .replace(/^(\s*ServerName) partnersource\.example\.com$/m, `$1 ${site.hostName}`)
    .replaceAll('https://partnersource.example.com', origin)
    .replaceAll('https://login.example.com', issuer)
    .replace(/^(\s*SSLCertificateFile) \S+$/m, `$1 ${join(directory, 'certificate.pem')}`)
    .replace(/^(\s*SSLCertificateKeyFile) \S+$/m, `$1 ${join(directory, 'key.pem')}`)
    .replaceAll('${APACHE_LOG_DIR}/partnersource.', `${directory}/${site.hostName}.`)
    .replace(/^(\s*OIDCClientID) \S+$/m, `$1 ${site.clientId}`)
    .replace(/^(\s*OIDCClientSecret) "[^"]*"$/m, `$1 "${site.clientSecret}"`)
    .replace(/^(\s*OIDCCryptoPassphrase) "[^"]*"$/m, `$1 "${createHash('sha256').update(`${site.clientSecret}:passphrase`).digest('hex')}"`)
    .replaceAll('http://127.0.0.1:8080/', `http://127.0.0.1:${site.application.port}/`);
  if (replaced.includes('example.com') || replaced.includes(':8080')) throw new Error(`an address of the example was not replaced:\n${replaced}`);
  return replaced;
}

/** What the server around the sites needs: the modules a2enmod would enable, and its own files. */
function serverConfiguration(directory: string, sites: PortalSite[], siteFile: string): string {
  const modules = ['mpm_prefork', 'authz_core', 'authn_core', 'authz_user', 'socache_shmcb', 'ssl', 'headers', 'proxy', 'proxy_http', 'auth_openidc'];
  const running = process.getuid?.() === 0;
  return [
    `ServerRoot "${directory}"`,
    `PidFile "${join(directory, 'apache2.pid')}"`,
    `ErrorLog "${join(directory, 'error.log')}"`,
    `DefaultRuntimeDir "${directory}"`,
    `Mutex file:${directory} default`,
    'LogLevel warn auth_openidc:info',
    'ServerName 127.0.0.1',
    ...modules.map((module) => `LoadModule ${module}_module ${join(modulesDirectory, `mod_${module}.so`)}`),
    // As root, Apache serves as www-data (it refuses to serve as root).
    ...(running ? ['User www-data', 'Group www-data'] : []),
    'StartServers 2',
    'MinSpareServers 1',
    'MaxSpareServers 4',
    'MaxRequestWorkers 16',
    'LogFormat "%h %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\"" combined',
    'SSLSessionCache none',
    ...sites.map((site) => `Listen 127.0.0.1:${site.port}`),
    `Include "${siteFile}"`,
    '',
  ].join('\n');
}

/** A self-signed certificate for 127.0.0.1 and localhost (openssl). */
function makeCertificate(directory: string): string {
  const certificate = join(directory, 'certificate.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', join(directory, 'key.pem'), '-out', certificate], { stdio: 'ignore' });
  return certificate;
}

export interface RunningApache {
  directory: string;
  /** The access logs' request lines with their statuses, of every site. */
  accessLog(): Array<{ site: string; request: string; status: number }>;
  errorLog(): string;
  stop(): Promise<void>;
}

export interface ApacheSetup {
  directory: string;
  certificate: string;
  /** Trusts the test certificate in this process's fetch (the broker posts back-channel logouts to the sites) until stop. */
  untrust(): void;
}

/** The folder and certificate, before the sites are registered at the broker. */
export function prepareApache(): ApacheSetup {
  const directory = mkdtempSync(join(tmpdir(), 'mbs-apache-'));
  const certificate = makeCertificate(directory);
  const previous: Dispatcher = getGlobalDispatcher();
  setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(certificate, 'utf8') } }));
  return { directory, certificate, untrust: () => setGlobalDispatcher(previous) };
}

/** Writes the configuration of `sites` and runs Apache in the foreground until stop. */
export async function startApache(setup: ApacheSetup, sites: PortalSite[], issuer: string): Promise<RunningApache> {
  const { directory } = setup;
  const example = readFileSync(exampleConfigPath, 'utf8');
  const siteFile = join(directory, 'sites.conf');
  writeFileSync(siteFile, sites.map((site) => siteConfiguration(example, site, directory, issuer)).join('\n'));
  const configPath = join(directory, 'apache2.conf');
  writeFileSync(configPath, serverConfiguration(directory, sites, siteFile));
  const errorLogPath = join(directory, 'error.log');
  const errorLog = () => (existsSync(errorLogPath) ? readFileSync(errorLogPath, 'utf8') : '');
  let output = '';
  // In a process group of its own: prefork's parent signals its whole group
  // when it stops, which would otherwise include mocha.
  const child: ChildProcess = spawn(apacheBinary, ['-f', configPath, '-DFOREGROUND'], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C' } });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let attempt = 0; ; attempt += 1) {
    if (child.exitCode !== null) throw new Error(`apache2 exited: ${output}\n${errorLog()}`);
    const up = await Promise.all(sites.map((site) => fetch(`https://127.0.0.1:${site.port}/signed-out`).then((response) => response.status < 500).catch(() => false)));
    if (up.every(Boolean)) break;
    if (attempt > 100) throw new Error(`apache2 did not answer: ${output}\n${errorLog()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    directory,
    accessLog() {
      return sites.flatMap((site) => {
        const path = join(directory, `${site.hostName}.access.log`);
        if (!existsSync(path)) return [];
        return readFileSync(path, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => {
            const match = /"([^"]*)" (\d{3}) /.exec(line);
            return { site: site.hostName, request: match?.[1] ?? line, status: Number(match?.[2] ?? 0) };
          });
      });
    },
    errorLog,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      setup.untrust();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** One request the application saw: its path and the headers mod_auth_openidc set. */
export interface SeenRequest {
  path: string;
  headers: IncomingHttpHeaders;
}

const escapeHtml = (value: unknown): string => String(value ?? '').replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);

/**
 * The portal application behind Apache: a page listing the OIDC_CLAIM_*
 * headers it received (each in an element with id `claim-<name>`), the
 * remote user, a digest of the access token and its expiry, and a sign-out
 * link to the module's logout. `/signed-out` is the page after sign-out.
 */
export class PortalApplication {
  readonly name: string;
  readonly seen: SeenRequest[] = [];
  port = 0;
  #server: Server | undefined;

  constructor(name: string) {
    this.name = name;
  }

  async start(): Promise<void> {
    this.port = await freePort();
    this.#server = createServer((request, response) => {
      const path = request.url ?? '/';
      this.seen.push({ path, headers: request.headers });
      const origin = `${request.headers['x-forwarded-proto'] ?? 'https'}://${request.headers['x-forwarded-host'] ?? request.headers.host}`;
      response.setHeader('content-type', 'text/html; charset=utf-8');
      response.setHeader('cache-control', 'no-store');
      if (path.startsWith('/signed-out')) {
        response.end(`<!doctype html><html lang="en"><title>${escapeHtml(this.name)}</title><main><h1>Signed out of ${escapeHtml(this.name)}</h1></main></html>`);
        return;
      }
      const claims = Object.entries(request.headers)
        .filter(([name]) => name.startsWith('oidc_claim_'))
        .map(([name, value]) => `<dt>${escapeHtml(name.slice('oidc_claim_'.length))}</dt><dd id="claim-${escapeHtml(name.slice('oidc_claim_'.length))}">${escapeHtml(value)}</dd>`)
        .join('');
      const accessToken = String(request.headers.oidc_access_token ?? '');
      const signOut = `/oidc/callback?logout=${encodeURIComponent(`${origin}/signed-out`)}`;
      response.end(
        `<!doctype html><html lang="en"><title>${escapeHtml(this.name)}</title><main><h1>${escapeHtml(this.name)}: ${escapeHtml(path)}</h1>` +
          `<p id="remote-user">${escapeHtml(request.headers['x-remote-user'])}</p>` +
          `<p id="access-token">${accessToken ? createHash('sha256').update(accessToken).digest('hex').slice(0, 16) : ''}</p>` +
          `<p id="access-token-expires">${escapeHtml(request.headers.oidc_access_token_expires)}</p>` +
          `<dl id="claims">${claims}</dl><a id="sign-out" href="${escapeHtml(signOut)}">Sign out</a></main></html>`,
      );
    });
    await new Promise<void>((resolve) => this.#server!.listen(this.port, '127.0.0.1', resolve));
  }

  stop(): Promise<void> {
    return new Promise((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}
