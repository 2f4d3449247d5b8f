// `mbs-broker bindings …`: which upstream identity each profile is bound
// to, through the directory administration service the admin API uses.
import type { Command } from 'commander';
import { administer, outputFor, pageText } from './context.ts';

export function registerBindings(program: Command): void {
  const bindings = program.command('bindings').description('which upstream identity each profile is bound to');
  bindings
    .command('list')
    .description('list bindings')
    .option('--account <accountId>', 'only this broker account')
    .option('--profile <profileId>', 'only this profile')
    .option('--email <email>', 'only profiles registered to this email')
    .action(async (options: { account?: string; profile?: string; email?: string }, command: Command) => {
      const page = await administer((services) => services.directory.listBindings(options));
      outputFor(command)(page, () => pageText(page, (bound) => `${bound.id}\t${bound.portal}\t${bound.email}\taccount ${bound.binding.accountId}\t${bound.binding.method}`));
    });
  bindings
    .command('add')
    .description('bind an upstream identity (issuer + subject) to a profile (admins and tests)')
    .requiredOption('--profile <profileId>', 'MBS profile id')
    .requiredOption('--issuer <issuer>', 'upstream issuer')
    .requiredOption('--subject <subject>', 'upstream subject (sub)')
    .action(async (options: { profile: string; issuer: string; subject: string }, command: Command) => {
      const result = await administer((services) => services.directory.bind({ profileId: options.profile, issuer: options.issuer, subject: options.subject }));
      outputFor(command)({ account_id: result.accountId, profile_id: result.profile.id, moved_from: result.movedFrom ?? null }, () =>
        `bound profile ${result.profile.id} to account ${result.accountId}${result.movedFrom ? ` (moved from account ${result.movedFrom})` : ''}`,
      );
    });
  bindings
    .command('remove <profileId>')
    .description('unbind a profile')
    .action(async (profileId: string, _options, command: Command) => {
      await administer((services) => services.directory.unbind(profileId));
      outputFor(command)({ removed: profileId }, () => `unbound profile ${profileId}`);
    });
}
