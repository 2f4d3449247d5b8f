// Starts a real broker for tests: its own SQLite file in a temporary folder,
// the dev upstream inside it, a free loopback port; restartable on the same
// database to test what survives a restart.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config, type Environment } from '../../src/config/config.ts';
import { createBroker, type Broker } from '../../src/assembly/broker.ts';
import { createLogger } from '../../src/logging.ts';
import type { Clock } from '../../src/clock.ts';
import type { UpstreamFetch } from '../../src/upstream/oidcUpstream.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface RunningBroker {
  broker: Broker;
  config: Config;
  issuer: string;
  /** The environment the broker runs with (for CLI child processes). */
  environment: Record<string, string>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface StartOptions {
  clock?: Clock;
  /** Collects every log line (level trace) instead of the TEST_LOG_LEVEL output. */
  logLines?: string[];
  /** The upstreams' HTTP client (test/support/microsoftImitation.ts routes Microsoft's host to loopback). */
  upstreamFetch?: UpstreamFetch;
  /** The port to listen on (from freePort()), when an upstream must know the broker's callback before it starts. */
  port?: number;
}

export async function startBroker(overrides: Environment = {}, options: StartOptions = {}): Promise<RunningBroker> {
  const port = options.port ?? (await freePort());
  const directory = mkdtempSync(join(tmpdir(), 'mbs-broker-test-'));
  const issuer = `http://127.0.0.1:${port}`;
  const environment: Record<string, string> = {
    NODE_ENV: 'test',
    PORT: String(port),
    HOST: '127.0.0.1',
    ISSUER: issuer,
    DATABASE_URL: `sqlite:${join(directory, 'broker.sqlite')}`,
    LOG_LEVEL: 'silent',
  };
  for (const [name, value] of Object.entries(overrides)) if (value !== undefined) environment[name] = value;
  const config = loadConfig(environment);
  const lines = options.logLines;
  const logger = lines
    ? createLogger({ level: 'trace', destination: { write: (line: string) => void lines.push(line) } })
    : createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const running: RunningBroker = {
    broker: await createBroker({ config, logger, ...(options.clock ? { clock: options.clock } : {}), ...(options.upstreamFetch ? { upstreamFetch: options.upstreamFetch } : {}) }),
    config,
    issuer,
    environment,
    async restart() {
      await running.broker.close();
      // The tests' HTTP clients share this event loop: give them a turn to
      // see the keep-alive connections the old broker closed, as clients in
      // other processes would, before the new one answers on the same port.
      await new Promise((resolve) => setTimeout(resolve, 20));
      running.broker = await createBroker({ config, logger, ...(options.clock ? { clock: options.clock } : {}), ...(options.upstreamFetch ? { upstreamFetch: options.upstreamFetch } : {}) });
      await running.broker.listen();
    },
    async stop() {
      await running.broker.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
  await running.broker.listen();
  return running;
}
