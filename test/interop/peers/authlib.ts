// The authlib portal (test/interop/peers/authlib_portal.py) as a child
// process: Debian's python3 with python3-authlib, python3-flask and
// python3-requests (PyPI is not used).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../support/broker.ts';

export const python = '/usr/bin/python3';
const portalScript = fileURLToPath(new URL('./authlib_portal.py', import.meta.url));

/** The versions of authlib, Flask and requests, or undefined when one is missing. */
function versions(): Record<string, string> | undefined {
  if (!existsSync(python)) return undefined;
  try {
    return JSON.parse(execFileSync(python, ['-c', 'import json, authlib, flask, requests; print(json.dumps({"authlib": authlib.__version__, "flask": flask.__version__, "requests": requests.__version__}))'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as Record<string, string>;
  } catch {
    return undefined;
  }
}

/** Whether authlib and Flask are here; CI installs them (.ci/run), so there a missing one is a failure. */
export function authlibVersions(): Record<string, string> | undefined {
  const found = versions();
  if (!found && process.env.CI) throw new Error('python3-authlib, python3-flask or python3-requests is missing: .ci/run installs them');
  return found;
}

export class AuthlibPortal {
  readonly name: string;
  port = 0;
  output = '';
  #child: ChildProcess | undefined;
  #exited: Promise<void> | undefined;

  constructor(name: string) {
    this.name = name;
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Reserves the port, so the client can be registered with its redirect URI first. */
  async reserve(): Promise<string> {
    this.port = await freePort();
    return this.origin;
  }

  async start(issuer: string, clientId: string, clientSecret: string): Promise<void> {
    const child = spawn(python, [portalScript], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // The test broker's issuer is http on 127.0.0.1, which authlib refuses
      // without AUTHLIB_INSECURE_TRANSPORT (it allows only https and http://localhost).
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ISSUER: issuer, CLIENT_ID: clientId, CLIENT_SECRET: clientSecret, PORT: String(this.port), PORTAL_NAME: this.name, AUTHLIB_INSECURE_TRANSPORT: '1', PYTHONUNBUFFERED: '1' },
    });
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    for (let attempt = 0; ; attempt += 1) {
      if (child.exitCode !== null) throw new Error(`the authlib portal exited:\n${this.output}`);
      if (await fetch(`${this.origin}/healthz`).then((response) => response.ok).catch(() => false)) return;
      if (attempt > 100) throw new Error(`the authlib portal did not answer:\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async stop(): Promise<void> {
    if (this.#child && this.#child.exitCode === null) {
      this.#child.kill('SIGTERM');
      await this.#exited;
    }
  }
}
