#!/usr/bin/env -S node --max-semi-space-size=8
// Composition root of the `mbs-broker` command: registers the command
// groups (src/cli/, one file each) and turns failures into a message and an
// exit code. The commands work through the same administration services the
// admin API uses.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { errorMessage, isBrokerError } from './errors.ts';
import { registerAdmins } from './cli/admins.ts';
import { registerAudit } from './cli/audit.ts';
import { registerBindings } from './cli/bindings.ts';
import { registerClients } from './cli/clients.ts';
import { registerApis } from './cli/apis.ts';
import { registerConfiguration } from './cli/configuration.ts';
import { CliError, type GlobalOptions } from './cli/context.ts';
import { registerDevSubject } from './cli/devSubject.ts';
import { registerKeys } from './cli/keys.ts';
import { registerOutbox } from './cli/outbox.ts';
import { registerProfiles } from './cli/profiles.ts';
import { registerServe } from './cli/serve.ts';

export function buildProgram(): Command {
  const program = new Command('mbs-broker')
    .description('MBS identity broker: OpenID Connect in front of PartnerSource and CustomerSource')
    .option('--json', 'machine-readable output')
    .showHelpAfterError();
  for (const register of [registerServe, registerConfiguration, registerClients, registerApis, registerProfiles, registerBindings, registerKeys, registerAdmins, registerAudit, registerOutbox, registerDevSubject]) {
    register(program);
  }
  return program;
}

export async function runCli(argv: string[]): Promise<void> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('commander.')) {
      process.exitCode = (error as { exitCode?: number }).exitCode ?? 1;
      return;
    }
    const known = isBrokerError(error) || error instanceof CliError;
    const message = isBrokerError(error) ? error.publicMessage : error instanceof CliError ? error.message : errorMessage('error.cli.unexpected');
    if (!known) console.error(error);
    if (program.opts<GlobalOptions>().json) {
      process.stderr.write(`${JSON.stringify({ error: isBrokerError(error) ? error.code : 'error', error_description: message })}\n`);
    } else {
      process.stderr.write(`mbs-broker: ${message}\n`);
    }
    process.exitCode = 1;
  }
}

const invokedDirectly = process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  await runCli(process.argv);
}
