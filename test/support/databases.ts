// The databases a store test runs against: SQLite always, PostgreSQL when
// TEST_POSTGRES_URL is set. Each PostgreSQL use gets a database of its own,
// created for the test and dropped afterwards.
import { randomBytes } from 'node:crypto';
import { createEmailRenderer, type EmailRenderer } from '../../src/mail/render.ts';
import { openDatabase, type Database } from '../../src/store/database.ts';
import { migrateToLatest } from '../../src/store/migrations.ts';
import { ManualClock } from '../../src/clock.ts';
import { createStore } from '../../src/store/knexStore.ts';
import type { Store } from '../../src/store/store.ts';

export interface TestDatabase {
  name: 'sqlite' | 'postgres';
  /** A fresh, migrated database. */
  open(): Promise<Database>;
  /** Destroys the connection pool and drops what open() created. */
  close(database: Database): Promise<void>;
}

const sqlite: TestDatabase = {
  name: 'sqlite',
  async open() {
    const database = openDatabase({ url: 'sqlite::memory:' });
    await migrateToLatest(database);
    return database;
  },
  close: (database) => database.destroy(),
};

/**
 * A new, empty PostgreSQL database on the server of `serverUrl`, for a test
 * that needs a URL (broker processes); `drop` removes it, connections and all.
 */
export async function createPostgresDatabase(serverUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `mbs_test_${randomBytes(6).toString('hex')}`;
  const admin = openDatabase({ url: serverUrl, poolMax: 1 });
  try {
    await admin.raw(`CREATE DATABASE ${name}`);
  } finally {
    await admin.destroy();
  }
  const target = new URL(serverUrl);
  target.pathname = `/${name}`;
  return {
    url: target.href,
    async drop() {
      const dropper = openDatabase({ url: serverUrl, poolMax: 1 });
      try {
        await dropper.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await dropper.destroy();
      }
    },
  };
}

function postgres(url: string): TestDatabase {
  const created = new WeakMap<Database, () => Promise<void>>();
  return {
    name: 'postgres',
    async open() {
      const fresh = await createPostgresDatabase(url);
      const database = openDatabase({ url: fresh.url, poolMax: 10 });
      await migrateToLatest(database);
      created.set(database, fresh.drop);
      return database;
    },
    async close(database) {
      await database.destroy();
      await created.get(database)?.();
    },
  };
}

export function testDatabases(): TestDatabase[] {
  const url = process.env.TEST_POSTGRES_URL;
  return url ? [sqlite, postgres(url)] : [sqlite];
}

/**
 * Mocha hooks for a suite of a service over one test database and the real
 * email renderer: both opened before the suite and closed after it; read
 * them from the returned object inside the tests.
 */
export function serviceSuite(testDatabase: TestDatabase): { readonly database: Database; readonly emails: EmailRenderer } {
  const parts = {} as { database: Database; emails: EmailRenderer };
  before(async () => {
    parts.database = await testDatabase.open();
    parts.emails = createEmailRenderer({ cache: true });
  });
  after(async () => {
    await parts.emails.close();
    await testDatabase.close(parts.database);
  });
  return parts;
}

/**
 * For a describe block: a fresh database of `testDatabase` opened before its
 * tests, closed after, with a store on it (on a manual clock at the real now).
 */
export function suiteStore(testDatabase: TestDatabase): { readonly database: Database; readonly store: Store; readonly clock: ManualClock } {
  const suite = {} as { database: Database; store: Store; clock: ManualClock };
  before(async () => {
    suite.database = await testDatabase.open();
    suite.clock = new ManualClock(Date.now());
    suite.store = createStore(suite.database, suite.clock);
  });
  after(() => testDatabase.close(suite.database));
  return suite;
}
