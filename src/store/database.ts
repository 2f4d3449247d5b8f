// Opens the database named by DATABASE_URL: SQLite (one instance; WAL, an
// asynchronous wait for other processes' locks, foreign keys) or PostgreSQL
// (several instances). All other modules receive the knex instance from here
// and never care which one it is.
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import knex, { type Knex } from 'knex';
import pg from 'pg';
import type { DatabaseSync } from 'node:sqlite';
import { invalidConfiguration, serverError } from '../errors.ts';
import { inSpan } from '../spans.ts';
import type { Logger } from '../logging.ts';
import { NodeSqliteClient, checkpointFailureEvent, executeSql, insideTransaction, type CheckpointFailure } from './nodeSqliteClient.ts';
import { postgresStatements } from './postgresStatements.ts';
import { busyWait, isSqliteBusy, storageError } from './storageErrors.ts';

export type Database = Knex;
export type DatabaseClient = 'sqlite' | 'postgres';

export interface DatabaseOptions {
  url: string;
  poolMax?: number;
}

// int8 (COUNT, bigint epoch milliseconds) comes back from pg as a string by
// default; every value we store fits in a double.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number.parseInt(value, 10));

export function databaseClient(database: Database): DatabaseClient {
  return database.client.config.client === 'pg' ? 'postgres' : 'sqlite';
}

function sqliteFilename(url: string): string {
  const path = url.slice('sqlite:'.length);
  if (path === '' || path === ':memory:') return ':memory:';
  const filename = resolve(path);
  mkdirSync(dirname(filename), { recursive: true });
  return filename;
}

/** How many of its connections a PostgreSQL database gives the hot statements (pipelined, each carries many). */
const hotConnectionCount = new WeakMap<Database, number>();
const hotConnectionsOf = (poolMax: number): number => Math.min(4, Math.max(1, Math.floor(poolMax / 3)));

export function openDatabase({ url, poolMax = 10 }: DatabaseOptions): Database {
  if (url.startsWith('sqlite:')) {
    return knex({
      client: NodeSqliteClient as unknown as typeof knex.Client,
      connection: { filename: sqliteFilename(url) },
      useNullAsDefault: true,
      // One connection: SQLite has one writer anyway, and a single connection
      // keeps ":memory:" databases whole and transactions free of SQLITE_BUSY.
      pool: { min: 1, max: 1 },
    });
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    // The pool shares DATABASE_POOL_MAX with the hot statements' connections.
    const hot = hotConnectionsOf(poolMax);
    const database = knex({ client: 'pg', connection: url, pool: { min: 0, max: Math.max(1, poolMax - hot) } });
    hotConnectionCount.set(database, hot);
    return database;
  }
  throw invalidConfiguration('error.configuration.database_url', {}, { detail: url });
}

/**
 * Runs `work` holding a PostgreSQL advisory lock named `name`, taken on a
 * connection of its own so that `work` has the whole pool; instances that
 * start together on one database take turns. On SQLite (one process) `work`
 * simply runs.
 */
export async function withExclusiveLock<Result>(database: Database, name: string, work: () => Promise<Result>): Promise<Result> {
  if (databaseClient(database) !== 'postgres') return work();
  const connection = database.client.config.connection as string | pg.ClientConfig;
  const session = new pg.Client(typeof connection === 'string' ? { connectionString: connection } : connection);
  await session.connect();
  try {
    await session.query('select pg_advisory_lock(hashtext($1))', [name]);
    return await work();
  } finally {
    // Ending the session releases the lock, even when `work` failed.
    await session.end();
  }
}

/**
 * Prepared statements for the hottest queries on SQLite (the oidc-provider
 * adapter's lookups and writes, the claims lookups). Knex compiles every
 * query anew; these skip the query builder and reuse the connection's
 * prepared statement.
 *
 * Statements queued in one turn of the event loop, or while the connection
 * is taken (a knex transaction), run together, in arrival order, in one
 * transaction (group commit): SQLite appends the pages a commit touches to
 * its log once per batch instead of once per statement (measured: 190 µs an
 * upsert on its own, 40 µs in a batch of 32). Each caller's promise settles
 * after the batch commits, with its statement's real outcome (see runBatch).
 * While another process holds the write lock, the queue waits between tries
 * without holding the connection. Awaiting one of these inside a knex
 * transaction fails at once: the transaction holds the one connection.
 * On PostgreSQL: named prepared statements on pipelined connections, one
 * transaction per turn's writes (postgresStatements.ts).
 */
export interface PreparedStatements {
  get(sql: string, parameters: unknown[]): Promise<Record<string, unknown> | undefined>;
  all(sql: string, parameters: unknown[]): Promise<Array<Record<string, unknown>>>;
  /** Resolves with the number of rows changed. */
  run(sql: string, parameters: unknown[]): Promise<number>;
}

interface QueuedStatement {
  kind: 'get' | 'all' | 'run';
  sql: string;
  parameters: unknown[];
  /** When it was queued: a statement kept busy beyond the busy wait limit fails. */
  queuedAt: number;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** The most statements one transaction takes: bounds the wait of the last. */
const largestBatch = 64;

/** One set per database, so that every caller's statements share one queue and batch together. */
const preparedByDatabase = new WeakMap<Database, PreparedStatements>();

function execute(connection: DatabaseSync, queued: QueuedStatement): Outcome {
  try {
    // Every statement runs to its end, even for one row, so no read
    // transaction stays open between calls.
    const outcome = executeSql(connection, queued.sql, queued.parameters);
    const rows = 'rows' in outcome ? outcome.rows : [];
    if (queued.kind === 'run') return { ok: true, value: 'rows' in outcome ? outcome.rows.length : outcome.changes };
    return { ok: true, value: queued.kind === 'get' ? rows[0] : rows };
  } catch (error) {
    return { ok: false, error };
  }
}

const settle = (queued: QueuedStatement, outcome: Outcome): void => (outcome.ok ? queued.resolve(outcome.value) : queued.reject(storageError(outcome.error)));

/**
 * Each statement of the batch on its own, settled as it runs. A busy one
 * changed nothing: it and those after it are returned, to run again later
 * in their order.
 */
function runEach(connection: DatabaseSync, batch: QueuedStatement[]): QueuedStatement[] {
  for (const [index, queued] of batch.entries()) {
    const outcome = execute(connection, queued);
    if (!outcome.ok && isSqliteBusy(outcome.error)) return batch.slice(index);
    settle(queued, outcome);
  }
  return [];
}

/**
 * Reads only: one read transaction around them all, so that SQLite takes
 * its read lock on the log once for the batch rather than once per
 * statement (measured: 3.9 µs a lookup on its own, 1.9 µs in a batch of 32).
 * They read one snapshot, as of the batch's start; a read changes nothing,
 * so ending the transaction cannot undo anything a caller was told.
 */
function runReads(connection: DatabaseSync, batch: QueuedStatement[]): QueuedStatement[] {
  connection.exec('BEGIN');
  try {
    return runEach(connection, batch);
  } finally {
    endReadTransaction(connection);
  }
}

/** Ends a read transaction; should its COMMIT fail, a ROLLBACK leaves the connection clean all the same. */
function endReadTransaction(connection: DatabaseSync): void {
  if (!connection.isTransaction) return;
  try {
    connection.exec('COMMIT');
  } catch {
    if (connection.isTransaction) connection.exec('ROLLBACK');
  }
}

/**
 * Runs one batch on the connection and settles every statement whose outcome
 * is known; returns those that did not run, or ran and left nothing behind
 * because another process held the lock, to be run again.
 *
 * Exact outcomes: a statement is reported done only when what it wrote is
 * committed, failed only when nothing of it persists. When SQLite rolls the
 * batch's transaction back by itself (SQLITE_FULL, SQLITE_IOERR), the
 * statements that ran in it fail with that error and the rest run again in
 * a later batch, never in autocommit behind the caller's back; when the
 * COMMIT fails, every statement of the batch fails (reads too: they may have
 * seen the batch's own writes).
 */
function runBatch(connection: DatabaseSync, batch: QueuedStatement[]): QueuedStatement[] {
  const writes = batch.filter((queued) => queued.kind === 'run').length;
  if (writes === 0 && batch.length > 2) return runReads(connection, batch);
  // A lone write commits by itself (autocommit), its reads beside it too.
  if (writes < 2) return runEach(connection, batch);
  try {
    connection.exec('BEGIN IMMEDIATE');
  } catch (error) {
    if (isSqliteBusy(error)) return batch;
    for (const queued of batch) queued.reject(storageError(error));
    return [];
  }
  const outcomes: Outcome[] = [];
  for (const [index, queued] of batch.entries()) {
    const outcome = execute(connection, queued);
    if (!outcome.ok && !connection.isTransaction) {
      // SQLite rolled the batch back: what ran so far is undone.
      for (const ran of batch.slice(0, index + 1)) ran.reject(storageError(outcome.error));
      return batch.slice(index + 1);
    }
    outcomes.push(outcome);
  }
  try {
    connection.exec('COMMIT');
  } catch (error) {
    if (connection.isTransaction) connection.exec('ROLLBACK');
    if (isSqliteBusy(error)) return batch;
    for (const queued of batch) queued.reject(storageError(error));
    return [];
  }
  batch.forEach((queued, index) => settle(queued, outcomes[index]!));
  return [];
}

/** Why a prepared statement awaited inside a knex transaction would hang, for the private detail. */
const heldConnectionDetail =
  'a prepared statement (preparedStatements) was awaited inside a knex transaction on SQLite: the transaction holds the single connection, so the statement would wait for it until knex\'s acquire timeout; use the transaction\'s repositories instead';

export function preparedStatements(database: Database): PreparedStatements {
  const existing = preparedByDatabase.get(database);
  if (existing) return existing;
  if (databaseClient(database) === 'postgres') return postgresStatementsOf(database);
  const client = database.client as { config: object; acquireConnection(): Promise<DatabaseSync>; releaseConnection(connection: DatabaseSync): Promise<void>; idleConnection(): DatabaseSync | undefined };
  const queue: QueuedStatement[] = [];
  let draining = false;

  async function drain(): Promise<void> {
    let busyRounds = 0;
    while (queue.length > 0) {
      const batch = queue.splice(0, largestBatch);
      let again: QueuedStatement[] = [];
      try {
        // The single SQLite connection, taken from knex's pool like any
        // query, so statements never interleave with a knex transaction;
        // used in place when the pool has it idle and nobody waits for it
        // (runBatch is synchronous: nothing can take it meanwhile).
        const idle = client.idleConnection();
        const connection = idle ?? (await client.acquireConnection());
        try {
          again = inSpan('db.batch', { withinTrace: true, attributes: { 'db.system': 'sqlite', 'db.operation.batch.size': batch.length } }, () => runBatch(connection, batch));
        } finally {
          if (!idle) await client.releaseConnection(connection);
        }
      } catch (error) {
        for (const queued of batch) queued.reject(storageError(error));
      }
      if (again.length === 0) {
        busyRounds = 0;
        continue;
      }
      // Another process holds the write lock: wait without blocking the
      // event loop (knex's queries go on meanwhile), then run them again,
      // first, in their order; those kept waiting too long fail.
      const now = Date.now();
      const expired = again.filter((queued) => busyWait.isOver(queued.queuedAt, now));
      for (const queued of expired) queued.reject(busyWait.gaveUp('a prepared statement'));
      queue.unshift(...again.filter((queued) => !expired.includes(queued)));
      busyRounds += 1;
      await busyWait.pause(busyRounds);
    }
    draining = false;
  }

  function enqueue(kind: QueuedStatement['kind'], sql: string, parameters: unknown[]): Promise<unknown> {
    if (insideTransaction(client.config)) {
      return Promise.reject(serverError(heldConnectionDetail));
    }
    return new Promise((resolve, reject) => {
      queue.push({ kind, sql, parameters, queuedAt: Date.now(), resolve, reject });
      if (!draining) {
        draining = true;
        // Wait for the rest of this turn of the event loop: under load, the
        // requests it serves queue their statements too and commit together.
        setImmediate(() => void drain());
      }
    });
  }

  const statements: PreparedStatements = {
    get: (sql, parameters) => enqueue('get', sql, parameters) as Promise<Record<string, unknown> | undefined>,
    all: (sql, parameters) => enqueue('all', sql, parameters) as Promise<Array<Record<string, unknown>>>,
    run: (sql, parameters) => enqueue('run', sql, parameters) as Promise<number>,
  };
  preparedByDatabase.set(database, statements);
  return statements;
}

/**
 * The hot statements of a database: each written once, as one SQL text with
 * `?` placeholders, and run on SQLite as a prepared statement (above) and on
 * PostgreSQL as a named prepared statement with the placeholders numbered
 * ($1, $2, …) as knex numbers them — so the two databases run the same
 * statement and cannot drift apart. The text must be SQL both understand
 * (`on conflict … do update`, `limit`).
 */
export function hotStatements(database: Database): PreparedStatements {
  return preparedStatements(database);
}

/** The PostgreSQL statements of a database, closed with it. */
function postgresStatementsOf(database: Database): PreparedStatements {
  const client = database.client as { config: { connection: string | pg.ClientConfig }; positionBindings(sql: string): string; destroy(callback?: unknown): Promise<void> };
  const statements = postgresStatements({
    connection: client.config.connection,
    connections: hotConnectionCount.get(database) ?? 1,
    numbered: (sql) => client.positionBindings(sql),
  });
  // database.destroy() ends knex's client: the statements' connections end with it.
  const destroy = client.destroy.bind(client);
  client.destroy = async (callback?: unknown) => {
    await statements.end();
    return destroy(callback);
  };
  preparedByDatabase.set(database, statements);
  return statements;
}

/** At most one log line per this many milliseconds about failed checkpoints (the worker tries ten times a second). */
const checkpointLogIntervalMilliseconds = 60_000;

/**
 * Reports the checkpoints the SQLite checkpoint worker could not make (a
 * full disk, an I/O error): `counted` for every one, and an error line in
 * the broker's log at most once a minute, saying how many failed since the
 * last. Nothing on PostgreSQL.
 */
export function reportCheckpointFailures(database: Database, logger: Logger, counted: () => void): void {
  if (databaseClient(database) !== 'sqlite') return;
  let lastLogged = Number.NEGATIVE_INFINITY;
  let unlogged = 0;
  (database.client as { on(event: string, listener: (failure: CheckpointFailure) => void): void }).on(checkpointFailureEvent, (failure) => {
    counted();
    unlogged += 1;
    const now = Date.now();
    if (now - lastLogged < checkpointLogIntervalMilliseconds) return;
    logger.error({ errcode: failure.errcode, detail: failure.message, failures: unlogged }, 'SQLite checkpoint failed');
    lastLogged = now;
    unlogged = 0;
  });
}
