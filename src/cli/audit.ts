// `mbs-broker audit list`: the audit log, newest first, in the admin API's
// event shape.
import type { Command } from 'commander';
import { auditJson } from '../admin/recordJson.ts';
import { administer, integer, outputFor, pageText, parseTime } from './context.ts';

interface AuditListOptions {
  type?: string;
  account?: string;
  profile?: string;
  client?: string;
  since?: number;
  until?: number;
  limit: number;
  offset: number;
}

export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('the audit log');
  audit
    .command('list')
    .description('audit events, newest first')
    .option('--type <type>', 'only this event type (e.g. sign_in, binding.created, client.created)')
    .option('--account <accountId>', 'only events of this account')
    .option('--profile <profileId>', 'only events of this profile')
    .option('--client <clientId>', 'only events of this client')
    .option('--since <time>', 'from this ISO 8601 time', parseTime)
    .option('--until <time>', 'before this ISO 8601 time', parseTime)
    .option('--limit <n>', 'page size', integer, 50)
    .option('--offset <n>', 'events to skip', integer, 0)
    .action(async (options: AuditListOptions, command: Command) => {
      const page = await administer((services) => services.directory.listAuditEvents(options));
      const shown = { items: page.items.map(auditJson), total: page.total };
      outputFor(command)(shown, () =>
        pageText(shown, (event) => [event.occurredAt, event.type, event.outcome, event.actor ?? '-', event.accountId ?? '-', event.profileId ?? '-', event.clientId ?? '-', event.ip ?? '-'].join('\t')),
      );
    });
}
