// `mbs-broker profiles …`: importing and listing the MBS profile directory,
// through the directory administration service the admin API uses.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { administer, CliError, integer, outputFor, pageText } from './context.ts';

export function registerProfiles(program: Command): void {
  const profiles = program.command('profiles').description('the MBS profile directory');
  profiles
    .command('import <file>')
    .description('import profiles from CSV (header: id,portal,email,display_name,organization,roles) or JSON; upserts by id')
    .action(async (file: string, _options, command: Command) => {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        throw new CliError('error.cli.file_unreadable', { file });
      }
      const report = await administer((services) => services.directory.importProfiles(file, text));
      outputFor(command)(report, () =>
        [
          `created ${report.created}, updated ${report.updated}, unchanged ${report.unchanged}, rejected ${report.rejected.length}`,
          ...report.rejected.map((row) => `  line ${row.line}: ${row.reason}`),
        ].join('\n'),
      );
      if (report.rejected.length > 0) process.exitCode = 2;
    });
  profiles
    .command('list')
    .description('list profiles')
    .option('--email <email>', 'only profiles registered to this email')
    .option('--limit <n>', 'page size', integer, 50)
    .option('--offset <n>', 'skip this many', integer, 0)
    .action(async (options: { email?: string; limit: number; offset: number }, command: Command) => {
      const page = await administer((services) =>
        services.directory.listProfiles(options),
      );
      outputFor(command)(page, () => pageText(page, (profile) => `${profile.id}\t${profile.portal}\t${profile.email}\t${profile.organization}\t${profile.displayName}`));
    });
}
