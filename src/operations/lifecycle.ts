// The broker process's life: the background work that starts with it (the
// sweeper, key refresh, the outbox worker), listening, and the graceful
// shutdown on SIGTERM/SIGINT (finish requests and the email batch in hand,
// cut short after the grace period).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import type { Config } from '../config/config.ts';
import type { Logger } from '../logging.ts';
import type { Tracing } from './tracing.ts';

export interface BackgroundWork {
  config: Pick<Config, 'sweepInterval' | 'auditRetention' | 'keyRefreshInterval' | 'outboxInterval'>;
  logger: Logger;
  sweepExpired(options: { auditRetentionMilliseconds: number }): Promise<unknown>;
  live: { start(intervalSeconds: number, onError: (error: unknown) => void): void; stop(): void };
  outbox: { releaseClaimsOfPredecessor(): Promise<number> };
  outboxWorker: { start(intervalMilliseconds: number): void };
}

/** Starts the sweeper, key refresh and outbox worker; returns what stops the first two (the worker stops on its own call). */
export async function startBackgroundWork(work: BackgroundWork): Promise<() => void> {
  const { config, logger } = work;
  const sweeper = setInterval(() => {
    work.sweepExpired({ auditRetentionMilliseconds: config.auditRetention * 24 * 60 * 60 * 1000 }).catch((error: unknown) => logger.error({ err: error }, 'sweeping expired rows failed'));
  }, config.sweepInterval * 1000);
  sweeper.unref();
  work.live.start(config.keyRefreshInterval, (error) => logger.error({ err: error }, 'reading the keys in force failed'));
  const released = await work.outbox.releaseClaimsOfPredecessor();
  if (released > 0) logger.warn({ emails: released }, 'took over the emails the previous process had claimed');
  work.outboxWorker.start(config.outboxInterval);
  return () => {
    clearInterval(sweeper);
    work.live.stop();
  };
}

/** Serves `app` on port and host; resolves once bound. */
export async function listenOn(app: Koa, port: number, host: string | undefined): Promise<{ port: number; server: Server }> {
  const server = createServer(app.callback());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { port: (server.address() as AddressInfo).port, server };
}

/**
 * Stops taking requests and waits for those in hand and for `finishing`
 * (the email batch, the demo portals); connections still open after the
 * grace period are cut.
 */
export async function drain(server: Server | undefined, finishing: Array<Promise<unknown> | undefined>, options: { gracePeriodSeconds: number; logger: Logger }): Promise<void> {
  const requestsDone = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
  server?.closeIdleConnections();
  const grace = setTimeout(() => {
    options.logger.warn({ gracePeriodSeconds: options.gracePeriodSeconds }, 'grace period over: closing the connections still open');
    server?.closeAllConnections();
  }, options.gracePeriodSeconds * 1000);
  grace.unref();
  await Promise.all([requestsDone, ...finishing]);
  clearTimeout(grace);
}

/**
 * Runs `broker` until SIGTERM or SIGINT, then closes it gracefully, exports
 * the last spans (when tracing) and exits (1 when closing fails or hangs).
 */
export async function serveUntilSignalled(broker: { listen(): Promise<{ port: number }>; close(): Promise<void>; logger: Logger }, config: Pick<Config, 'issuer' | 'shutdownGracePeriod'>, tracing?: Pick<Tracing, 'shutdown'>): Promise<void> {
  const { port } = await broker.listen();
  broker.logger.info({ port, issuer: config.issuer }, `MBS identity broker listening on port ${port}`);
  const stop = (signal: string) => {
    broker.logger.info({ signal, gracePeriodSeconds: config.shutdownGracePeriod }, 'shutting down: finishing requests and the email batch in hand');
    // Should closing hang past the grace period (and a little), leave anyway.
    setTimeout(() => {
      broker.logger.error('shutdown did not finish in time');
      process.exit(1);
    }, config.shutdownGracePeriod * 1000 + 5000).unref();
    broker.close().then(
      async () => {
        await tracing?.shutdown().catch((error: unknown) => broker.logger.warn({ err: error }, 'exporting the last spans failed'));
        broker.logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        broker.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
