// Several broker processes behind Debian's nginx, run from the project's own
// config/nginx.example.conf (only addresses, ports and paths replaced): the
// deployment the README describes, with TLS ended at nginx by a certificate
// made for the test and trusted through NODE_EXTRA_CA_CERTS and an undici
// dispatcher.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, getGlobalDispatcher, setGlobalDispatcher, type Dispatcher } from 'undici';
import { freePort } from './broker.ts';

const cliPath = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const exampleConfigPath = fileURLToPath(new URL('../../config/nginx.example.conf', import.meta.url));

export const nginxBinary = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((path) => existsSync(path));

/** One `mbs-broker serve` process. */
export class BrokerProcess {
  readonly port: number;
  readonly environment: Record<string, string>;
  output = '';
  #child: ChildProcess | undefined;
  #exited: Promise<number | null> | undefined;

  constructor(port: number, environment: Record<string, string>) {
    this.port = port;
    this.environment = { ...environment, PORT: String(port), HOST: '127.0.0.1' };
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Starts the process; resolves once its /healthz answers. */
  async start(): Promise<void> {
    const child = spawn(process.execPath, [cliPath, 'serve'], { env: { PATH: process.env.PATH ?? '', ...this.environment }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', resolve));
    child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    for (let attempt = 0; attempt < 300; attempt += 1) {
      if (!this.running) throw new Error(`broker on ${this.address} exited:\n${this.output}`);
      const healthy = await fetch(`http://${this.address}/healthz`).then((response) => response.ok).catch(() => false);
      if (healthy) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`broker on ${this.address} did not start:\n${this.output}`);
  }

  /** SIGKILL: no shutdown of any kind, as when a machine dies. */
  async kill(): Promise<void> {
    this.#child?.kill('SIGKILL');
    await this.#exited;
  }

  async stop(): Promise<number | null> {
    if (!this.running) return this.#exited ?? null;
    this.#child!.kill('SIGTERM');
    return this.#exited!;
  }
}

export interface RunningNginx {
  /** https://127.0.0.1:<port> */
  origin: string;
  /** The instance (`127.0.0.1:<port>`) that answered each request so far, in order. */
  upstreamLog(): Array<{ request: string; upstream: string; status: number }>;
  stop(): Promise<void>;
}

/** A self-signed certificate for 127.0.0.1 (openssl), and its files. */
function makeCertificate(directory: string): { certificate: string; key: string } {
  const certificate = join(directory, 'fullchain.pem');
  const key = join(directory, 'privkey.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', certificate], { stdio: 'ignore' });
  return { certificate, key };
}

export interface NginxSetup {
  directory: string;
  port: number;
  certificate: string;
  /** Trusts the test certificate in this process's fetch until `untrust`. */
  untrust(): void;
}

/** Reserves the port and makes the certificate, so that brokers can be configured with the issuer first. */
export async function prepareNginx(): Promise<NginxSetup> {
  const directory = mkdtempSync(join(tmpdir(), 'mbs-nginx-'));
  const { certificate } = makeCertificate(directory);
  const previous: Dispatcher = getGlobalDispatcher();
  setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(certificate, 'utf8') } }));
  return { directory, port: await freePort(), certificate, untrust: () => setGlobalDispatcher(previous) };
}

/**
 * The example configuration with only its addresses, ports and paths
 * replaced, pointed at the instances at `addresses` (`127.0.0.1:<port>`);
 * also used by the benchmark's two-instance mode (bench/instances.ts).
 */
export async function nginxConfiguration(setup: NginxSetup, addresses: string[]): Promise<string> {
  const { directory, port } = setup;
  return (
    readFileSync(exampleConfigPath, 'utf8')
      .replace(/^pid .*;$/m, `pid ${join(directory, 'nginx.pid')};`)
      .replace(/^error_log (\S+)/m, `error_log ${join(directory, 'error.log')}`)
      .replace(/access_log \S+/, `access_log ${join(directory, 'access.log')}`)
      .replace(/(upstream mbs_broker \{\n)(?:\s*server .*\n)+/, (_match, opening: string) => opening + addresses.map((address) => `    server ${address} max_fails=1 fail_timeout=10s;\n`).join(''))
      .replace('listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`)
      .replace(/ssl_certificate \S+;/, `ssl_certificate ${join(directory, 'fullchain.pem')};`)
      .replace(/ssl_certificate_key \S+;/, `ssl_certificate_key ${join(directory, 'privkey.pem')};`)
      .replace('listen 80;', `listen 127.0.0.1:${await freePort()};`)
      // One worker: nginx keeps a round-robin position per worker.
      .replace(/^worker_processes .*;$/m, 'worker_processes 1;')
  );
}

/** nginx's command-line arguments for the configuration at `configPath`, in the foreground. */
export const nginxArguments = (setup: NginxSetup, configPath: string): string[] => ['-p', setup.directory, '-e', join(setup.directory, 'error.log'), '-c', configPath, '-g', 'daemon off;'];

/** Runs nginx with the example configuration, pointed at the given instances. */
export async function startNginx(setup: NginxSetup, instances: BrokerProcess[]): Promise<RunningNginx> {
  if (!nginxBinary) throw new Error('nginx is not installed (apt-get install nginx)');
  const { directory, port } = setup;
  const accessLog = join(directory, 'access.log');
  const configPath = join(directory, 'nginx.conf');
  writeFileSync(configPath, await nginxConfiguration(setup, instances.map((instance) => instance.address)));
  const child = spawn(nginxBinary, nginxArguments(setup, configPath), { stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr!.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const origin = `https://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt += 1) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${errors}${existsSync(join(directory, 'error.log')) ? readFileSync(join(directory, 'error.log'), 'utf8') : ''}`);
    if (await fetch(`${origin}/healthz`).then((response) => response.ok).catch(() => false)) break;
    if (attempt > 100) throw new Error(`nginx did not answer on ${origin}: ${errors}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    origin,
    upstreamLog() {
      if (!existsSync(accessLog)) return [];
      return readFileSync(accessLog, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const match = /"([^"]*)" (\d{3}) (\S+)/.exec(line);
          return { request: match?.[1] ?? line, status: Number(match?.[2] ?? 0), upstream: match?.[3] ?? '-' };
        });
    },
    async stop() {
      child.kill('SIGQUIT');
      await exited;
      setup.untrust();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
