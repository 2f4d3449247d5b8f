// Runs the migrations in the top-level `migrations/` folder with knex's
// migrator. Instances starting together on one PostgreSQL database take turns
// under an advisory lock: knex's own lock table does not cover its creation,
// and two instances creating it at once leave it unusable.
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Knex } from 'knex';
import { withExclusiveLock, type Database } from './database.ts';

const migrationsDirectory = fileURLToPath(new URL('../../migrations/', import.meta.url));

interface MigrationModule {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

const migrationSource: Knex.MigrationSource<string> = {
  async getMigrations() {
    return readdirSync(migrationsDirectory)
      .filter((name) => name.endsWith('.ts'))
      .sort();
  },
  getMigrationName(name) {
    return name.replace(/\.ts$/, '');
  },
  async getMigration(name): Promise<MigrationModule> {
    return (await import(pathToFileURL(migrationsDirectory + name).href)) as MigrationModule;
  },
};

const migrationConfig: Knex.MigratorConfig = { migrationSource, tableName: 'knex_migrations' };

/** Applies every pending migration; returns the names applied. */
export async function migrateToLatest(database: Database): Promise<string[]> {
  return withExclusiveLock(database, 'mbs-broker:migrations', async () => {
    const [, applied] = (await database.migrate.latest(migrationConfig)) as [number, string[]];
    return applied;
  });
}

/** Names of migrations not yet applied (empty when the schema is current). */
export async function pendingMigrations(database: Database): Promise<string[]> {
  const [, pending] = (await database.migrate.list(migrationConfig)) as [unknown, { file: string }[]];
  return pending.map((migration) => migration.file);
}

export async function rollbackAll(database: Database): Promise<void> {
  await database.migrate.rollback(migrationConfig, true);
}
