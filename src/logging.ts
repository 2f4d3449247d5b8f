// Structured JSON logs (pino), pretty in development. Secrets never reach a
// log line: the paths that can carry them are redacted here, callers log
// identifiers, not tokens, and requests are logged by route template. Every
// line written while a request is handled carries its request id (and its
// interaction, when there is one) through AsyncLocalStorage.
import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export interface RequestLogContext {
  requestId: string;
  interaction?: string | undefined;
}

/** The request being handled, for every log line written on its behalf. */
export const requestLogContext = new AsyncLocalStorage<RequestLogContext>();

export const redactedPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  '*.client_secret',
  '*.clientSecret',
  '*.password',
  '*.token',
  '*.code',
  '*.code_verifier',
  '*.codeVerifier',
  '*.refresh_token',
  '*.access_token',
  '*.id_token',
  '*.id_token_hint',
  '*.cookie',
  '*.authorization',
  '*.link',
];

export interface LoggerOptions {
  level: string;
  name?: string;
  /** Human-readable output (pino-pretty), for development on a terminal. */
  pretty?: boolean;
  /** Where lines go (tests capture them); standard output by default. */
  destination?: DestinationStream;
}

function prettyStream(): DestinationStream | undefined {
  try {
    // pino-pretty is a development dependency: without it, logs stay JSON.
    const pretty = createRequire(import.meta.url)('pino-pretty') as (options: object) => DestinationStream;
    return pretty({ colorize: process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
  } catch {
    return undefined;
  }
}

export function createLogger(options: LoggerOptions): Logger {
  const destination = options.destination ?? (options.pretty ? prettyStream() : undefined);
  const settings = {
    name: options.name ?? 'mbs-broker',
    level: options.level,
    redact: { paths: redactedPaths, censor: '[redacted]' },
    mixin: () => ({ ...requestLogContext.getStore() }),
  };
  return destination ? pino(settings, destination) : pino(settings);
}
