// A relying party of the interop tests run as its own process on its own
// loopback port, as portals are deployed: the port is reserved first (the
// client is registered with its redirect URI before the portal starts), the
// process answers /healthz once it is up, and what it prints is kept for
// the failure report.
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../../support/broker.ts';
import { within } from '../../support/within.ts';

export class PortalProcess {
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

  /** Runs `command` with only PATH and `environment`; resolves once `/healthz` answers 200 (10 s at most). */
  protected async launch(command: string, args: string[], environment: Record<string, string>): Promise<void> {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...environment } });
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    await within(10, async () => {
      if (child.exitCode !== null) throw new Error('it exited');
      return (await fetch(`${this.origin}/healthz`).then((response) => response.ok).catch(() => false)) || undefined;
    }).catch((error: Error) => {
      throw new Error(`the ${this.name} portal did not start (${error.message}):\n${this.output}`);
    });
  }

  async stop(): Promise<void> {
    if (this.#child && this.#child.exitCode === null) {
      this.#child.kill('SIGTERM');
      await this.#exited;
    }
  }
}
