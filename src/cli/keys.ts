// `mbs-broker keys …`: token signing and cookie keys, through the key
// administration service the admin API uses (each rotation an audit event).
import type { Command } from 'commander';
import { signingKeyJson } from '../admin/recordJson.ts';
import type { SigningKeyRecord } from '../domain/records.ts';
import { administer, outputFor } from './context.ts';

function printKeys(command: Command, keys: SigningKeyRecord[]): void {
  const list = keys.map(signingKeyJson);
  outputFor(command)(list, () => list.map((key) => `${key.kid}\t${key.alg}\t${key.status}\t${key.created_at}`).join('\n'));
}

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('token signing keys');
  keys
    .command('list')
    .description('list signing keys (active keys sign, retired keys still verify)')
    .action(async (_options, command: Command) => printKeys(command, await administer((services) => services.keys.list())));
  keys
    .command('rotate')
    .description('add a new signing key per algorithm: every instance publishes it within KEY_REFRESH_INTERVAL and signs with it after twice that; old keys stay published so issued tokens keep verifying')
    .action(async (_options, command: Command) => printKeys(command, await administer((services) => services.keys.rotateSigningKeys())));
  keys
    .command('rotate-cookie-key')
    .description('add a new cookie key: it signs cookies after twice KEY_REFRESH_INTERVAL; older keys keep verifying, so nobody is signed out')
    .action(async (_options, command: Command) => {
      await administer((services) => services.keys.rotateCookieKey());
      outputFor(command)({ rotated: 'cookie_key' }, () => 'added a new cookie key');
    });
}
