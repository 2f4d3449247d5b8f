// What a database failure means for the caller. node:sqlite errors carry
// SQLite's extended result code (`errcode`) and its text (`errstr`);
// PostgreSQL's carry a SQLSTATE (`code`). A full disk, an I/O error or a
// lock held too long by another process is the storage being unavailable for
// a moment: a 503 the caller may retry, with the cause in the private detail.
import { setTimeout as pause } from 'node:timers/promises';
import { temporarilyUnavailable, type BrokerError } from '../errors.ts';

/** SQLite's primary result codes we act on (the low byte of an extended code). */
const sqliteBusy = 5;
const sqliteLocked = 6;
const sqliteIoError = 10;
const sqliteFull = 13;
const sqliteCannotOpen = 14;
/** Extended codes of a UNIQUE and a PRIMARY KEY constraint failure. */
const sqliteUniqueViolations = new Set([2067, 1555]);
const postgresUniqueViolation = '23505';

/** The SQLite extended result code of a node:sqlite error, if it is one. */
export function sqliteErrorCode(error: unknown): number | undefined {
  const errcode = typeof error === 'object' && error !== null ? (error as { errcode?: unknown }).errcode : undefined;
  return typeof errcode === 'number' ? errcode : undefined;
}

/** Another connection holds the lock (SQLITE_BUSY and its extended codes, 517 BUSY_SNAPSHOT among them). */
export function isSqliteBusy(error: unknown): boolean {
  const errcode = sqliteErrorCode(error);
  return errcode !== undefined && (errcode & 0xff) === sqliteBusy;
}

/** A UNIQUE or PRIMARY KEY violation, on either database. */
export function isUniqueViolation(error: unknown): boolean {
  const errcode = sqliteErrorCode(error);
  if (errcode !== undefined) return sqliteUniqueViolations.has(errcode);
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === postgresUniqueViolation;
}

/** A BrokerError (503, retryable) saying the storage cannot take the request right now. */
export function storageUnavailable(detail: string, cause?: unknown): BrokerError {
  return temporarilyUnavailable(detail, cause);
}

/** A private detail naming the SQLite failure. */
function describeSqliteError(error: unknown): string {
  const { errcode, errstr, message } = error as { errcode?: number; errstr?: string; message?: string };
  return `SQLite ${errstr ?? 'error'} (errcode ${errcode}): ${message ?? String(error)}`;
}

/**
 * The error a caller should see for a failed statement: a storage failure
 * (busy, locked, I/O, full, cannot open) becomes `storageUnavailable`; any
 * other error (a constraint, a bug) is returned as it is.
 */
export function storageError(error: unknown): unknown {
  const errcode = sqliteErrorCode(error);
  if (errcode === undefined) return error;
  const primary = errcode & 0xff;
  if (primary === sqliteBusy || primary === sqliteLocked || primary === sqliteIoError || primary === sqliteFull || primary === sqliteCannotOpen) {
    return storageUnavailable(describeSqliteError(error), error);
  }
  return error;
}

/**
 * How long a statement waits, in all, for a lock another process holds (the
 * CLI beside a running broker) before it fails as unavailable. The wait is
 * asynchronous: the event loop serves other requests meanwhile.
 */
export const busyWaitLimitMilliseconds = 5000;

/** The pause before the `attempt`-th retry (from 1): 1, 2, 4 ms, then 5 ms, with jitter: short, to catch the gaps an import leaves between its chunks. */
export function busyBackoffMilliseconds(attempt: number): number {
  const ceiling = Math.min(5, 2 ** (attempt - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/**
 * The one schedule for waiting out a lock another process holds, kept by
 * both waiters: retryWhileBusy (one statement on a connection it holds) and
 * the prepared-statement queue (database.ts, which gives the connection back
 * between tries). Try again after a growing pause until the busy wait limit
 * has passed since the wait began; then fail as unavailable.
 */
export const busyWait = {
  /** Whether a statement waiting since `since` has waited the whole limit. */
  isOver: (since: number, now: number = Date.now()): boolean => now - since >= busyWaitLimitMilliseconds,
  /** Waits before the `attempt`-th retry (from 1). */
  pause: (attempt: number): Promise<void> => pause(busyBackoffMilliseconds(attempt)),
  /** The 503 for a statement that waited the whole limit; `statement` says which, for the logs. */
  gaveUp: (statement: string, cause?: unknown): BrokerError =>
    storageUnavailable(`the database stayed locked by another process for ${busyWaitLimitMilliseconds} ms: ${statement}`, cause),
};

/**
 * Runs `attempt` (a synchronous statement on the connection) and, while it
 * fails with SQLITE_BUSY and `retryable` says the failed attempt changed
 * nothing, tries again on the busy wait schedule.
 */
export async function retryWhileBusy<Result>(attempt: () => Result, retryable: () => boolean = () => true): Promise<Result> {
  const started = Date.now();
  for (let tries = 1; ; tries += 1) {
    try {
      return attempt();
    } catch (error) {
      if (!isSqliteBusy(error) || !retryable()) throw storageError(error);
      if (busyWait.isOver(started)) throw busyWait.gaveUp(describeSqliteError(error), error);
      await busyWait.pause(tries);
    }
  }
}
