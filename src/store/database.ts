// Opens the database named by DATABASE_URL: SQLite (one instance; WAL, busy
// timeout, foreign keys) or PostgreSQL (several instances). All other modules
// receive the knex instance from here and never care which one it is.
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import knex, { type Knex } from 'knex';
import pg from 'pg';
import { BrokerError } from '../errors.ts';

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

export function openDatabase({ url, poolMax = 10 }: DatabaseOptions): Database {
  if (url.startsWith('sqlite:')) {
    return knex({
      client: 'sqlite3',
      connection: { filename: sqliteFilename(url) },
      useNullAsDefault: true,
      // One connection: SQLite has one writer anyway, and a single connection
      // keeps ":memory:" databases whole and transactions free of SQLITE_BUSY.
      pool: {
        min: 1,
        max: 1,
        afterCreate(connection: { exec(sql: string, done: (error: Error | null) => void): void }, done: (error: Error | null, connection: unknown) => void) {
          connection.exec(
            'PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;',
            (error) => done(error, connection),
          );
        },
      },
    });
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    return knex({ client: 'pg', connection: url, pool: { min: 0, max: poolMax } });
  }
  throw new BrokerError('invalid_configuration', 'DATABASE_URL must start with sqlite: or postgres://', { detail: url });
}
