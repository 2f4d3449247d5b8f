// The hot statements on PostgreSQL (see hotStatements in database.ts): named
// prepared statements, parsed once per connection, on a few pipelined
// connections of their own beside knex's pool. Everything queued in one turn
// of the event loop leaves in one write and comes back in one round trip:
// the reads each on their own, the writes in one transaction, so that they
// share one commit (one WAL flush) as on SQLite. Each caller's write settles
// only once its transaction committed; reads settle with their rows.
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { PreparedStatements } from './database.ts';

interface QueuedStatement {
  kind: 'get' | 'all' | 'run';
  statement: pg.QueryConfig;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** One pipelined connection: the client once connected, and how many statements it has in flight. */
interface Lane {
  client: Promise<pg.Client> | undefined;
  inFlight: number;
}

/** What pg keeps private but documents: the socket, corked while a batch is written. */
interface PipelinedClient {
  connection: { stream: { cork(): void; uncork(): void } };
  ref(): void;
  unref(): void;
}

export interface PostgresStatements extends PreparedStatements {
  /** Closes the connections (the database's destroy calls it). */
  end(): Promise<void>;
}

export interface PostgresStatementOptions {
  connection: string | pg.ClientConfig;
  /** How many connections the statements use at most. */
  connections: number;
  /** The statement's text with PostgreSQL's numbered placeholders ($1, $2, …) for knex's `?`. */
  numbered(sql: string): string;
}

export function postgresStatements(options: PostgresStatementOptions): PostgresStatements {
  const lanes: Lane[] = Array.from({ length: Math.max(1, options.connections) }, () => ({ client: undefined, inFlight: 0 }));
  const named = new Map<string, pg.QueryConfig>();
  const queue: QueuedStatement[] = [];
  let scheduled = false;

  /** The statement's name and numbered text, computed once per SQL text. */
  function statementOf(sql: string, parameters: unknown[]): pg.QueryConfig {
    let statement = named.get(sql);
    if (!statement) {
      statement = { name: `mbs_${createHash('sha256').update(sql).digest('base64url').slice(0, 20)}`, text: options.numbered(sql) };
      named.set(sql, statement);
    }
    return { ...statement, values: parameters };
  }

  function enqueue(kind: QueuedStatement['kind'], sql: string, parameters: unknown[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      queue.push({ kind, statement: statementOf(sql, parameters), resolve, reject });
      if (scheduled) return;
      scheduled = true;
      // The rest of this turn's requests queue theirs too and leave together.
      setImmediate(() => {
        scheduled = false;
        void send(queue.splice(0));
      });
    });
  }

  async function send(batch: QueuedStatement[]): Promise<void> {
    // The least busy connection: a batch waiting for its commit does not hold up the next.
    const lane = lanes.reduce((least, candidate) => (candidate.inFlight < least.inFlight ? candidate : least));
    lane.inFlight += batch.length;
    try {
      const client = await connected(lane);
      (client as unknown as PipelinedClient).ref();
      await runBatch(client, batch);
    } catch (error) {
      for (const queued of batch) queued.reject(error);
    } finally {
      lane.inFlight -= batch.length;
      // An idle connection does not keep the process alive.
      if (lane.inFlight === 0) void lane.client?.then((client) => (client as unknown as PipelinedClient).unref(), () => undefined);
    }
  }

  function connected(lane: Lane): Promise<pg.Client> {
    if (lane.client) return lane.client;
    const config = typeof options.connection === 'string' ? { connectionString: options.connection } : options.connection;
    const client = new pg.Client({ ...config, pipeline: true });
    const forget = () => {
      if (lane.client === opened) lane.client = undefined;
    };
    // A broken connection is dropped; the next batch opens another.
    client.on('error', forget);
    client.on('end', forget);
    const opened = client.connect().then(() => client);
    opened.catch(forget);
    lane.client = opened;
    return opened;
  }

  return {
    get: (sql, parameters) => enqueue('get', sql, parameters) as Promise<Record<string, unknown> | undefined>,
    all: (sql, parameters) => enqueue('all', sql, parameters) as Promise<Array<Record<string, unknown>>>,
    run: (sql, parameters) => enqueue('run', sql, parameters) as Promise<number>,
    async end() {
      const clients = lanes.map((lane) => lane.client);
      lanes.forEach((lane) => (lane.client = undefined));
      await Promise.all(clients.map(async (client) => (await client?.catch(() => undefined))?.end()));
    },
  };
}

/** The value a statement's caller receives from its result. */
function valueOf(kind: QueuedStatement['kind'], result: pg.QueryResult): unknown {
  if (kind === 'get') return result.rows[0];
  if (kind === 'all') return result.rows;
  return result.rowCount ?? 0;
}

function settle(queued: QueuedStatement, outcome: Promise<pg.QueryResult>): Promise<void> {
  return outcome.then(
    (result) => queued.resolve(valueOf(queued.kind, result)),
    (error: unknown) => queued.reject(error),
  );
}

/**
 * Writes the batch in one go: every read, then the writes, in one
 * transaction when there are several. When the transaction did not commit
 * (a write failed, so PostgreSQL rolled all of them back), each write runs
 * again on its own, so that every caller learns its own statement's outcome.
 */
async function runBatch(client: pg.Client, batch: QueuedStatement[]): Promise<void> {
  const reads = batch.filter((queued) => queued.kind !== 'run');
  const writes = batch.filter((queued) => queued.kind === 'run');
  const stream = (client as unknown as PipelinedClient).connection.stream;
  stream.cork();
  const settled = reads.map((queued) => settle(queued, client.query(queued.statement)));
  let transaction: Promise<boolean> | undefined;
  if (writes.length === 1) settled.push(settle(writes[0]!, client.query(writes[0]!.statement)));
  else if (writes.length > 1) transaction = writeTogether(client, writes);
  process.nextTick(() => stream.uncork());
  const committed = transaction ? await transaction : true;
  if (!committed) {
    stream.cork();
    settled.push(...writes.map((queued) => settle(queued, client.query(queued.statement))));
    process.nextTick(() => stream.uncork());
  }
  await Promise.all(settled);
}

/** Runs the writes in one transaction; true when it committed (and each write then settled). */
async function writeTogether(client: pg.Client, writes: QueuedStatement[]): Promise<boolean> {
  const begin = client.query('begin');
  const outcomes = writes.map((queued) => client.query(queued.statement).then((result) => ({ ok: true as const, result }), (error: unknown) => ({ ok: false as const, error })));
  const commit = client.query('commit');
  // A broken connection fails all three: nobody knows what committed.
  const [, results, ending] = await Promise.all([begin, Promise.all(outcomes), commit]);
  // A transaction in which a statement failed ends in ROLLBACK, also when asked to commit.
  const committed = ending.command === 'COMMIT' && results.every((outcome) => outcome.ok);
  if (committed) results.forEach((outcome, index) => outcome.ok && writes[index]!.resolve(valueOf(writes[index]!.kind, outcome.result)));
  return committed;
}
