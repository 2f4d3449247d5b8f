// A knex client for SQLite on Node's built-in `node:sqlite` driver. knex
// compiles the SQL as for any SQLite database (its better-sqlite3 dialect,
// whose synchronous calls node:sqlite's DatabaseSync mirrors); only the
// connection and the query execution are ours.
//
// Why not the asynchronous `sqlite3` addon: every statement there is a round
// trip through libuv's thread pool, and the broker's one connection runs its
// statements one after the other. Under load the event loop sat 40 % idle
// waiting for those hops, while the pool thread spent more CPU on them than
// SQLite spent on the statements. A lookup by primary key takes a few
// microseconds in SQLite itself; done synchronously it costs the event loop
// exactly that.
import { createRequire } from 'node:module';
import { DatabaseSync, type StatementSync, type SQLInputValue } from 'node:sqlite';
import { AsyncLocalStorage } from 'node:async_hooks';
import { Worker } from 'node:worker_threads';
import type { Knex } from 'knex';
import { retryWhileBusy, storageUnavailable } from './storageErrors.ts';

const require = createRequire(import.meta.url);
// knex ships its dialects as CommonJS classes without type declarations.
const BetterSqliteClient = require('knex/lib/dialects/better-sqlite3/index.js') as new (config: Knex.Config) => object;

/**
 * Settings every connection gets: write-ahead log, a commit that survives a
 * process crash, foreign keys, and secure_delete: deleted and overwritten
 * content is zeroed in its page, so a delivered email's sealed body or an
 * expired row leaves no old bytes for a copy of the file to show.
 */
const connectionPragmas = 'PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;';
/**
 * Checkpoints run in a worker thread every 100 ms.
 * The connection's own automatic checkpoint stays as a backstop, at 10,000
 * pages (40 MB of log) instead of 1,000, should the worker fall behind; the
 * log file is cut back to 64 MB after a checkpoint that let it grow beyond.
 */
const checkpointIntervalMilliseconds = 100;
const backstopPragmas = 'PRAGMA wal_autocheckpoint = 10000; PRAGMA journal_size_limit = 67108864;';
/**
 * The checkpoint worker: on its own connection, every interval, it copies
 * committed pages from the log into the database file and syncs it. PASSIVE:
 * it never waits for, nor blocks, the broker's reads and writes; a busy round
 * is simply tried again at the next. A failure (a full disk, an I/O error, a
 * file it cannot open) is posted to the main thread, which logs and counts
 * it. Plain JavaScript evaluated in the thread: a TypeScript file would load
 * Node's type stripper there too (17 MB).
 */
const checkpointWorkerSource = `
const { DatabaseSync } = require('node:sqlite');
const { parentPort, workerData } = require('node:worker_threads');
let connection;
const timer = setInterval(() => {
  try {
    connection ??= new DatabaseSync(workerData.filename, { timeout: 1000 });
    connection.exec('PRAGMA wal_checkpoint(PASSIVE)');
  } catch (error) {
    parentPort.postMessage({ errcode: error.errcode, message: String(error.message) });
  }
}, workerData.intervalMilliseconds);
parentPort.once('message', () => {
  clearInterval(timer);
  connection?.close();
  parentPort.close();
});
`;
/**
 * The broker's connection never waits for a lock inside SQLite: its busy
 * timeout would stop the whole event loop while another process (the CLI's
 * import) holds the write lock. A busy statement is retried asynchronously
 * instead (retryWhileBusy), bounded by busyWaitLimitMilliseconds.
 */
const busyTimeoutMilliseconds = 0;
/** Prepared statements kept per connection; knex's SQL is parameterized, so few distinct texts recur. */
const statementCacheSize = 500;

interface QueryObject {
  sql?: string;
  bindings?: unknown[];
  method?: string;
  returning?: unknown;
  response?: unknown;
  context?: { lastID: number | bigint; changes: number | bigint };
}

const statementCaches = new WeakMap<DatabaseSync, Map<string, StatementSync>>();
/** The connections opened and not yet closed, by the knex config of their database (the pool holds at most one). */
const openConnections = new WeakMap<object, Set<DatabaseSync>>();
const checkpointWorkers = new WeakMap<DatabaseSync, Worker>();

/** The connection's prepared statement for `sql`, prepared once (least recently used ones are dropped). */
function preparedStatement(connection: DatabaseSync, sql: string): StatementSync {
  let cache = statementCaches.get(connection);
  if (!cache) {
    cache = new Map();
    statementCaches.set(connection, cache);
  }
  let statement = cache.get(sql);
  if (statement) {
    cache.delete(sql);
  } else {
    statement = connection.prepare(sql);
    if (cache.size >= statementCacheSize) cache.delete(cache.keys().next().value!);
  }
  cache.set(sql, statement);
  return statement;
}

/** What node:sqlite can bind: dates as epoch milliseconds and booleans as 0/1, as knex's other SQLite clients do. */
function sqliteValue(value: unknown): SQLInputValue {
  if (value === undefined) return null;
  if (value instanceof Date) return value.valueOf();
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value as SQLInputValue;
}

const rowReturning = new WeakMap<StatementSync, boolean>();

/** Whether the statement returns rows (a SELECT, a PRAGMA, or a write with RETURNING); asked once per statement. */
function returnsRows(statement: StatementSync): boolean {
  let answer = rowReturning.get(statement);
  if (answer === undefined) {
    answer = statement.columns().length > 0;
    rowReturning.set(statement, answer);
  }
  return answer;
}

/**
 * Runs `sql` with `parameters` through the connection's prepared statement:
 * the rows when it returns rows (a SELECT, a PRAGMA, a write with
 * RETURNING), else what it changed.
 */
export function executeSql(
  connection: DatabaseSync,
  sql: string,
  parameters: readonly unknown[],
): { rows: Array<Record<string, unknown>> } | { changes: number; lastInsertRowid: number | bigint } {
  const statement = preparedStatement(connection, sql);
  const bindings = parameters.map(sqliteValue);
  if (returnsRows(statement)) return { rows: statement.all(...bindings) as Array<Record<string, unknown>> };
  const result = statement.run(...bindings);
  return { changes: Number(result.changes), lastInsertRowid: result.lastInsertRowid };
}

/** A knex transaction in progress on a SQLite database, known to the code it runs. */
interface HeldConnection {
  /** The knex config of the database (a transaction's client is a copy sharing it). */
  config: object;
  open: boolean;
}

const transactionScope = new AsyncLocalStorage<HeldConnection>();

/**
 * Whether the code calling runs inside a knex transaction on the database
 * whose knex config is `config`: that transaction holds the database's one
 * connection until it ends, so anything waiting for the connection there
 * would wait for itself.
 */
export function insideTransaction(config: object): boolean {
  const held = transactionScope.getStore();
  return held !== undefined && held.open && held.config === config;
}

/** A checkpoint the worker could not make. */
export interface CheckpointFailure {
  errcode: number | undefined;
  message: string;
}

export const checkpointFailureEvent = 'sqlite-checkpoint-failure';

/** Connections with a transaction knex began and has not ended yet. */
const openTransactions = new WeakSet<DatabaseSync>();

const beginStatement = /^BEGIN;?$/i;
const endStatement = /^(COMMIT|ROLLBACK);?$/i;
const rollbackStatement = /^ROLLBACK;?$/i;
const commitStatement = /^COMMIT;?$/i;

type TransactionContainer = (transaction: unknown) => unknown;

/** What the client reads of knex's connection pool (tarn): how many connections are where. */
interface PoolCounts {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
  numPendingCreates(): number;
  numPendingValidations(): number;
}

export class NodeSqliteClient extends (BetterSqliteClient as unknown as new (config: Knex.Config) => {
  connectionSettings: { filename: string };
  config: object;
  pool: PoolCounts | undefined;
  emit(event: string, ...values: unknown[]): boolean;
  transaction(container: unknown, config?: unknown, outerTransaction?: unknown): unknown;
}) {
  _driver(): unknown {
    return { DatabaseSync };
  }

  /**
   * The database's one connection when the pool has it idle: none in use,
   * none being made or checked, nobody waiting for it. Whoever runs
   * statements on it synchronously right away, without awaiting, cannot
   * meet a knex query or transaction (those take it from the pool first),
   * and skips the pool's acquire and release (a timer and several promises).
   */
  idleConnection(): DatabaseSync | undefined {
    const pool = this.pool;
    const open = openConnections.get(this.config);
    if (!pool || open?.size !== 1 || pool.numFree() !== 1 || pool.numUsed() !== 0) return undefined;
    if (pool.numPendingAcquires() + pool.numPendingCreates() + pool.numPendingValidations() !== 0) return undefined;
    const [connection] = open;
    return connection!.isOpen ? connection : undefined;
  }

  /** Runs the transaction's work knowing it holds the connection (see insideTransaction). */
  override transaction(container: unknown, config?: unknown, outerTransaction?: unknown): unknown {
    if (typeof container !== 'function') return super.transaction(container, config, outerTransaction);
    const held: HeldConnection = { config: this.config, open: true };
    const work = container as TransactionContainer;
    return super.transaction(
      (transaction: unknown) =>
        transactionScope.run(held, async () => {
          try {
            return await work(transaction);
          } finally {
            held.open = false;
          }
        }),
      config,
      outerTransaction,
    );
  }

  async acquireRawConnection(): Promise<DatabaseSync> {
    const { filename } = this.connectionSettings;
    const connection = new DatabaseSync(filename, { timeout: busyTimeoutMilliseconds });
    await retryWhileBusy(() => connection.exec(connectionPragmas));
    if (filename !== ':memory:') {
      await retryWhileBusy(() => connection.exec(backstopPragmas));
      const worker = new Worker(checkpointWorkerSource, {
        eval: true,
        workerData: { filename, intervalMilliseconds: checkpointIntervalMilliseconds },
        // It allocates next to nothing: a small heap keeps its memory small.
        resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
      });
      // Never what keeps a process alive; a worker that fails leaves the backstop.
      worker.unref();
      worker.on('message', (failure: CheckpointFailure) => this.emit(checkpointFailureEvent, failure));
      worker.on('error', (error: Error) => this.emit(checkpointFailureEvent, { errcode: undefined, message: `checkpoint worker failed: ${error.message}` } satisfies CheckpointFailure));
      checkpointWorkers.set(connection, worker);
    }
    const open = openConnections.get(this.config) ?? new Set<DatabaseSync>();
    openConnections.set(this.config, open.add(connection));
    return connection;
  }

  async destroyRawConnection(connection: DatabaseSync): Promise<void> {
    openConnections.get(this.config)?.delete(connection);
    statementCaches.delete(connection);
    const worker = checkpointWorkers.get(connection);
    checkpointWorkers.delete(connection);
    if (worker) {
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      worker.postMessage('stop');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
      await worker.terminate();
    }
    if (connection.isOpen) connection.close();
  }

  /**
   * Runs one statement of knex's. Transactions begin IMMEDIATE: the write
   * lock is taken (or waited for, asynchronously) before any statement runs,
   * so none fails later with SQLITE_BUSY_SNAPSHOT (517) because another
   * process wrote since the transaction read. When SQLite has rolled a
   * transaction back by itself (a full disk, an I/O error), no later
   * statement of it runs outside it in autocommit: each fails, and knex's
   * ROLLBACK is a no-op that keeps the error which caused it.
   */
  async _query(connection: DatabaseSync, query: QueryObject): Promise<QueryObject> {
    if (!query.sql) throw new Error('The query is empty');
    const sql = query.sql.trim();
    const inTransaction = openTransactions.has(connection);
    if (endStatement.test(sql)) openTransactions.delete(connection);
    if (rollbackStatement.test(sql) && !connection.isTransaction) {
      query.response = [];
      return query;
    }
    if (inTransaction && !connection.isTransaction) {
      throw storageUnavailable(`SQLite rolled the transaction back after an earlier failure; not running "${sql.slice(0, 80)}" outside it`);
    }
    const text = beginStatement.test(sql) ? 'BEGIN IMMEDIATE' : query.sql;
    let outcome: ReturnType<typeof executeSql>;
    try {
      // A busy statement changed nothing, unless it ended the transaction it ran in.
      outcome = await retryWhileBusy(
        () => executeSql(connection, text, query.bindings ?? []),
        () => !inTransaction || connection.isTransaction,
      );
    } catch (error) {
      // knex does not roll back after a failed COMMIT: nothing of the
      // transaction is kept, and the connection is left clean for the next.
      if (commitStatement.test(sql) && connection.isTransaction) connection.exec('ROLLBACK');
      throw error;
    }
    if (text === 'BEGIN IMMEDIATE') openTransactions.add(connection);
    if ('rows' in outcome) {
      query.response = outcome.rows;
      return query;
    }
    query.response = outcome;
    query.context = { lastID: outcome.lastInsertRowid, changes: outcome.changes };
    return query;
  }
}

Object.assign(NodeSqliteClient.prototype, { driverName: 'node:sqlite' });
