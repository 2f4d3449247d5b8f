// Structured JSON logs (pino). Secrets never reach a log line: the paths that
// can carry them are redacted here, and callers log identifiers, not tokens.
import { pino, type Logger } from 'pino';

export type { Logger };

export const redactedPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.client_secret',
  '*.password',
  '*.token',
  '*.code',
  '*.refresh_token',
  '*.access_token',
  '*.id_token',
];

export function createLogger(options: { level: string; name?: string }): Logger {
  return pino({
    name: options.name ?? 'mbs-broker',
    level: options.level,
    redact: { paths: redactedPaths, censor: '[redacted]' },
  });
}
