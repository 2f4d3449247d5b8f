// `mbs-broker serve`: runs the broker until SIGTERM or SIGINT (the same as
// the process entry src/server.ts).
import type { Command } from 'commander';
import { createBroker } from '../assembly/broker.ts';
import { loadConfig } from '../config/config.ts';
import { serveUntilSignalled } from '../operations/lifecycle.ts';
import { startTracing } from '../operations/tracing.ts';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the broker (migrates the database first)')
    .action(async () => {
      const config = loadConfig();
      // Before the broker: its request spans are added only when tracing runs.
      const tracing = await startTracing();
      await serveUntilSignalled(await createBroker({ config }), config, tracing);
    });
}
