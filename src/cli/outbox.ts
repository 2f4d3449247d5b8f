// `mbs-broker outbox …`: emails waiting for delivery, and retries; --json
// prints the admin API's outbox shape (bodies never: they hold secret links).
import type { Command } from 'commander';
import { outboxJson } from '../admin/recordJson.ts';
import { administer, integer, outputFor, pageText } from './context.ts';

export function registerOutbox(program: Command): void {
  const outbox = program.command('outbox').description('emails waiting for delivery, and retries');
  outbox
    .command('list')
    .description('list queued and sent emails (newest first; bodies are not shown: they hold secret links)')
    .option('--pending', 'only unsent emails')
    .option('--limit <n>', 'page size', integer, 50)
    .action(async (options: { pending?: boolean; limit: number }, command: Command) => {
      const page = await administer((services) => services.outbox.list({ pending: options.pending ?? false, limit: options.limit }));
      outputFor(command)({ items: page.items.map(outboxJson), total: page.total }, () =>
        pageText(page, (item) => `${item.id}\t${item.kind}\t${item.recipient}\t${item.sentAt ? `sent ${new Date(item.sentAt).toISOString()}` : `pending (attempts ${item.attempts}${item.lastError ? `, last error: ${item.lastError}` : ''})`}`),
      );
    });
  outbox
    .command('retry <id>')
    .description('make an unsent email due now')
    .action(async (id: string, _options, command: Command) => {
      await administer((services) => services.outbox.retry(id));
      outputFor(command)({ retried: id }, () => `email ${id} is due now`);
    });
}
