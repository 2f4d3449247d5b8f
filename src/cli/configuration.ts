// `mbs-broker config`, `doctor` and `migrate`: the effective configuration,
// the production check, and the database schema.
import type { Command } from 'commander';
import { loadConfig, productionProblems, type Config } from '../config/config.ts';
import { resolveKeyEncryptionKey } from '../config/keyEncryptionKey.ts';
import { maskedConfiguration } from '../config/reference.ts';
import { isBrokerError } from '../errors.ts';
import { openDatabase } from '../store/database.ts';
import { migrateToLatest, pendingMigrations } from '../store/migrations.ts';
import { outputFor } from './context.ts';

export function registerConfiguration(program: Command): void {
  program
    .command('config')
    .description('print the effective configuration, secrets masked')
    .action((_options, command: Command) => {
      const effective = maskedConfiguration(loadConfig());
      outputFor(command)(effective, () =>
        Object.entries(effective)
          .map(([name, value]) => `${name}=${value === null ? '' : String(value)}`)
          .join('\n'),
      );
    });

  program
    .command('doctor')
    .description('check the configuration against the production rules, and that the database answers')
    .action(async (_options, command: Command) => {
      const problems = await productionReadiness();
      outputFor(command)({ ok: problems.length === 0, problems }, () =>
        problems.length === 0 ? 'ready for production: no problems found' : `fix before production:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`,
      );
      if (problems.length > 0) process.exitCode = 1;
    });

  program
    .command('migrate')
    .description('apply pending database migrations')
    .action(async (_options, command: Command) => {
      const config = loadConfig();
      const database = openDatabase({ url: config.databaseUrl, poolMax: config.databasePoolMax });
      try {
        const applied = await migrateToLatest(database, { keyEncryptionKey: resolveKeyEncryptionKey(config).key });
        outputFor(command)({ applied }, () => (applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date'));
      } finally {
        await database.destroy();
      }
    });
}

/** Every production rule the configuration breaks, and whether the database answers with its schema current. */
async function productionReadiness(): Promise<string[]> {
  const problems: string[] = [];
  let config: Config | undefined;
  try {
    // Validate as production would, without refusing: list every rule broken.
    config = loadConfig({ ...process.env, NODE_ENV: 'development' });
    problems.push(...productionProblems({ ...config, nodeEnv: 'production' }));
  } catch (error) {
    problems.push(isBrokerError(error) ? error.publicMessage : String(error));
  }
  if (!config) return problems;
  const database = openDatabase({ url: config.databaseUrl, poolMax: 1 });
  try {
    await database.raw('select 1');
    const pending = await pendingMigrations(database);
    if (pending.length > 0) problems.push(`${pending.length} database migration(s) pending: run \`mbs-broker migrate\``);
  } catch (error) {
    problems.push(`DATABASE_URL: the database does not answer (${(error as Error).message.split('\n')[0]})`);
  } finally {
    await database.destroy();
  }
  return problems;
}
