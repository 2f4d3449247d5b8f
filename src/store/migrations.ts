// Runs the migrations in the top-level `migrations/` folder with knex's
// migrator. Instances starting together on one PostgreSQL database take turns
// under an advisory lock: knex's own lock table does not cover its creation,
// and two instances creating it at once leave it unusable.
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Knex } from 'knex';
import { withExclusiveLock, type Database } from './database.ts';

const migrationsDirectory = fileURLToPath(new URL('../../migrations/', import.meta.url));

/**
 * What a migration may need beyond the schema: the key that seals secrets
 * written in clear by older versions (the outbox's bodies).
 */
export interface MigrationContext {
  keyEncryptionKey?: string;
}

interface MigrationModule {
  up(knex: Knex, context?: MigrationContext): Promise<void>;
  down(knex: Knex, context?: MigrationContext): Promise<void>;
}

const migrationSource = (context: MigrationContext): Knex.MigrationSource<string> => ({
  async getMigrations() {
    return readdirSync(migrationsDirectory)
      .filter((name) => name.endsWith('.ts'))
      .sort();
  },
  getMigrationName(name) {
    return name.replace(/\.ts$/, '');
  },
  async getMigration(name): Promise<MigrationModule> {
    const migration = (await import(pathToFileURL(migrationsDirectory + name).href)) as MigrationModule;
    return { up: (knex) => migration.up(knex, context), down: (knex) => migration.down(knex, context) };
  },
});

const migrationConfig = (context: MigrationContext = {}): Knex.MigratorConfig => ({ migrationSource: migrationSource(context), tableName: 'knex_migrations' });

/** Applies every pending migration; returns the names applied. */
export async function migrateToLatest(database: Database, context: MigrationContext = {}): Promise<string[]> {
  return withExclusiveLock(database, 'mbs-broker:migrations', async () => {
    const [, applied] = (await database.migrate.latest(migrationConfig(context))) as [number, string[]];
    return applied;
  });
}

/** Names of migrations not yet applied (empty when the schema is current). */
export async function pendingMigrations(database: Database): Promise<string[]> {
  const [, pending] = (await database.migrate.list(migrationConfig())) as [unknown, { file: string }[]];
  return pending.map((migration) => migration.file);
}

export async function rollbackAll(database: Database, context: MigrationContext = {}): Promise<void> {
  await database.migrate.rollback(migrationConfig(context), true);
}
