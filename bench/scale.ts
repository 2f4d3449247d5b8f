// The store at scale, for the benchmark: active sessions written straight
// into `oidc_payloads` beside the running broker (a session, its grant and
// its refresh token per user, as a sign-in with offline_access leaves them),
// fast enough for a million sessions (3 M rows) in minutes, and the count of
// expired rows that the sweep scenario watches fall.
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import pg from 'pg';

const columns = ['type', 'id', 'uid', 'grant_id', 'account_id', 'expires_at', 'payload'] as const;
type Row = [string, string, string | null, string | null, string, number, string];

/** Users per transaction: 30,000 rows, a few hundred milliseconds of SQLite's write lock. */
const usersPerTransaction = 10_000;

/** The three rows of user `index`, expiring at `expiresAt` (epoch ms); `prefix` keeps sets of rows apart. */
function rowsOfUser(prefix: string, index: number, now: number, expiresAt: number): Row[] {
  const accountId = `${prefix}-account-${index}`;
  const grantId = `${prefix}-grant-${index}`;
  const uid = `${prefix}-session-uid-${index}`;
  const iat = Math.floor(now / 1000);
  const exp = Math.floor(expiresAt / 1000);
  return [
    ['Session', `${prefix}-session-${index}`, uid, null, accountId, expiresAt, JSON.stringify({ accountId, uid, loginTs: iat, kind: 'Session', exp, iat, authorizations: { 'bench-portal': { sid: `sid-${prefix}-${index}`, grantId, persistsLogout: false } } })],
    ['Grant', grantId, null, null, accountId, expiresAt, JSON.stringify({ accountId, clientId: 'bench-portal', kind: 'Grant', openid: { scope: 'openid offline_access' }, exp, iat, jti: grantId })],
    ['RefreshToken', `sha256:${prefix}-refresh-${index}`.padEnd(50, 'x'), null, grantId, accountId, expiresAt, JSON.stringify({ accountId, clientId: 'bench-portal', grantId, kind: 'RefreshToken', scope: 'openid offline_access', gty: 'authorization_code', authTime: iat, sessionUid: uid, exp, iat, rotations: 0, iiat: iat })],
  ];
}

export interface SessionSet {
  /** Users (3 rows each). */
  users: number;
  prefix: string;
  /** When user `index`'s rows expire (epoch ms). */
  expiresAt(index: number, now: number): number;
  /** All in one transaction (so that the sweeper sees them all at once), rather than in transactions of 10,000 users. */
  atomically?: boolean;
}

/** Writes the rows of `set` into the store at `databaseUrl` (`sqlite:<file>` or a PostgreSQL URL); resolves to the seconds it took. */
export async function insertSessions(databaseUrl: string, set: SessionSet): Promise<number> {
  const started = performance.now();
  const now = Date.now();
  const batchUsers = set.atomically ? set.users : usersPerTransaction;
  const writer = databaseUrl.startsWith('sqlite:') ? sqliteWriter(databaseUrl.slice('sqlite:'.length)) : await postgresWriter(databaseUrl);
  try {
    for (let first = 0; first < set.users; first += batchUsers) {
      const rows: Row[] = [];
      for (let index = first; index < Math.min(set.users, first + batchUsers); index += 1) rows.push(...rowsOfUser(set.prefix, index, now, set.expiresAt(index, now)));
      await writer.write(rows);
      // Between transactions the broker's own writes get the lock.
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    await writer.close();
  }
  return (performance.now() - started) / 1000;
}

interface Writer {
  write(rows: Row[]): Promise<void>;
  close(): Promise<void>;
}

/** One prepared INSERT on node:sqlite, run per row inside BEGIN IMMEDIATE … COMMIT. */
function sqliteWriter(file: string): Writer {
  const database = new DatabaseSync(file, { timeout: 10_000 });
  const insert = database.prepare(`insert into oidc_payloads (${columns.join(', ')}) values (${columns.map(() => '?').join(', ')})`);
  return {
    async write(rows) {
      database.exec('begin immediate');
      try {
        for (const row of rows) insert.run(...(row as SQLInputValue[]));
        database.exec('commit');
      } catch (error) {
        database.exec('rollback');
        throw error;
      }
    },
    async close() {
      database.close();
    },
  };
}

/** Multi-row inserts through unnest() of one array per column, 5,000 rows a statement, one transaction per batch. */
async function postgresWriter(url: string): Promise<Writer> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const statement = `insert into oidc_payloads (${columns.join(', ')}) select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[])`;
  return {
    async write(rows) {
      await client.query('begin');
      try {
        for (let start = 0; start < rows.length; start += 5000) {
          const slice = rows.slice(start, start + 5000);
          await client.query(statement, columns.map((_, column) => slice.map((row) => row[column])));
        }
        await client.query('commit');
      } catch (error) {
        await client.query('rollback');
        throw error;
      }
    },
    async close() {
      await client.end();
    },
  };
}

export interface RowCounter {
  /** Rows of `oidc_payloads` that expire at exactly the counter's moment (one set's: no other row has that millisecond). */
  count(): Promise<number>;
  /**
   * Whether a DELETE on `oidc_payloads` is running. On PostgreSQL the
   * sweeper's one statement commits its rows all at once, so the count shows
   * its end only; SQLite's chunks show in the count as they commit.
   */
  deleting(): Promise<boolean>;
  close(): Promise<void>;
}

/** Counts the rows of `oidc_payloads` expiring at `expiresAt` (through the index on expires_at), on a connection of its own, while the broker runs. */
export async function rowCounter(databaseUrl: string, expiresAt: number): Promise<RowCounter> {
  const query = 'select count(*) as count from oidc_payloads where expires_at = ?';
  if (databaseUrl.startsWith('sqlite:')) {
    const database = new DatabaseSync(databaseUrl.slice('sqlite:'.length), { timeout: 10_000, readOnly: true });
    const statement = database.prepare(query);
    return { count: async () => Number((statement.get(expiresAt) as { count: number }).count), deleting: async () => false, close: async () => database.close() };
  }
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  return {
    count: async () => Number(((await client.query(query.replace('?', '$1'), [expiresAt])) as { rows: Array<{ count: string }> }).rows[0]!.count),
    deleting: async () => ((await client.query(`select 1 from pg_stat_activity where datname = current_database() and state = 'active' and query ilike 'delete from "oidc_payloads"%'`)) as { rowCount: number | null }).rowCount! > 0,
    close: () => client.end(),
  };
}
