// `mbs-broker dev-subject`: the subject the embedded dev upstream gives an
// account name, for `bindings add` in development.
import type { Command } from 'commander';
import { loadConfig } from '../config/config.ts';
import { devUpstreamPath } from '../upstream/choice.ts';
import { devSubject } from '../upstream/devUpstream.ts';
import { outputFor } from './context.ts';

export function registerDevSubject(program: Command): void {
  program
    .command('dev-subject <accountName>')
    .description('the subject the dev upstream gives an account name (for `bindings add` in development)')
    .action((accountName: string, _options, command: Command) => {
      const issuer = `${loadConfig().issuer.replace(/\/$/, '')}${devUpstreamPath}`;
      const subject = devSubject(accountName);
      outputFor(command)({ issuer, subject }, () => `issuer:  ${issuer}\nsubject: ${subject}`);
    });
}
