// The migrations on both databases: they apply from empty, roll back, and
// instances starting together on an empty database all come up with one
// schema (the first creates knex's tables, the others wait their turn).
import { expect } from 'chai';
import { openDatabase } from '../../src/store/database.ts';
import { migrateToLatest, pendingMigrations, rollbackAll } from '../../src/store/migrations.ts';
import { createPostgresDatabase } from '../support/databases.ts';

describe('migrations', function () {
  this.timeout(60_000);

  it('apply from empty, leave nothing pending, and roll back to empty (SQLite)', async () => {
    const database = openDatabase({ url: 'sqlite::memory:' });
    try {
      expect((await migrateToLatest(database)).length).to.be.greaterThan(0);
      expect(await pendingMigrations(database)).to.deep.equal([]);
      await rollbackAll(database);
      expect((await pendingMigrations(database)).length).to.be.greaterThan(0);
    } finally {
      await database.destroy();
    }
  });

  it('run once when four instances start together on an empty PostgreSQL database', async function () {
    const serverUrl = process.env.TEST_POSTGRES_URL;
    if (!serverUrl) this.skip();
    const fresh = await createPostgresDatabase(serverUrl!);
    const instances = Array.from({ length: 4 }, () => openDatabase({ url: fresh.url, poolMax: 2 }));
    try {
      const applied = await Promise.all(instances.map((database) => migrateToLatest(database)));
      const all = applied.flat();
      expect(new Set(all).size, 'each migration applied by exactly one instance').to.equal(all.length);
      expect(await pendingMigrations(instances[0]!)).to.deep.equal([]);
      const batches = (await instances[0]!('knex_migrations').select('name')) as Array<{ name: string }>;
      expect(batches.map((row) => row.name).sort()).to.deep.equal([...all].sort());
    } finally {
      await Promise.all(instances.map((database) => database.destroy()));
      await fresh.drop();
    }
  });
});
