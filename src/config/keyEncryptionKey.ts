// The key-encryption key the broker seals its secrets at rest with (outbox
// bodies, private signing keys, cookie keys). KEY_ENCRYPTION_KEY when set;
// production refuses to start without it (see config.ts). Outside
// production, without one, the broker makes one so that nothing secret is
// ever written in clear, and keeps it where a copy of the database alone does
// not carry it:
//   - an in-memory SQLite database: in memory (the data dies with the process too);
//   - a SQLite file: in a file beside it, `<database file>-key` (mode 0600);
//   - PostgreSQL: in `var/key-encryption-key` under the working directory.
// A key kept only in memory for a file or PostgreSQL database would make the
// queued emails and the signing keys unreadable after a restart.
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { invalidConfiguration } from '../errors.ts';
import type { Config } from './config.ts';

export interface KeyEncryptionKey {
  key: string;
  /** Where it came from: the setting, a generated file (its path), or memory. */
  source: 'setting' | 'memory' | { file: string; created: boolean };
}

const memoryKeys = new Map<string, string>();

/** Where a development key for `databaseUrl` is kept; undefined for an in-memory database. */
export function developmentKeyFile(databaseUrl: string): string | undefined {
  if (databaseUrl.startsWith('sqlite:')) {
    const path = databaseUrl.slice('sqlite:'.length);
    return path === '' || path === ':memory:' ? undefined : `${resolve(path)}-key`;
  }
  return resolve('var/key-encryption-key');
}

/** Reads the key file, or creates it atomically (instances starting together agree on one key). */
function keyFromFile(file: string): { key: string; created: boolean } {
  try {
    return { key: readFileSync(file, 'utf8').trim(), created: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw invalidConfiguration('error.configuration.key_file_unreadable', { file }, { cause: error });
  }
  mkdirSync(dirname(file), { recursive: true });
  const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(draft, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
  try {
    linkSync(draft, file);
    return { key: readFileSync(file, 'utf8').trim(), created: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return { key: readFileSync(file, 'utf8').trim(), created: false };
  } finally {
    rmSync(draft, { force: true });
  }
}

/** The key in force for `config` (see the header for the development rules). */
export function resolveKeyEncryptionKey(config: Pick<Config, 'keyEncryptionKey' | 'nodeEnv' | 'databaseUrl'>): KeyEncryptionKey {
  if (config.keyEncryptionKey) return { key: config.keyEncryptionKey, source: 'setting' };
  if (config.nodeEnv === 'production') throw invalidConfiguration('error.configuration.key_required');
  const file = developmentKeyFile(config.databaseUrl);
  if (!file) {
    let key = memoryKeys.get(config.databaseUrl);
    if (!key) memoryKeys.set(config.databaseUrl, (key = randomBytes(32).toString('base64url')));
    return { key, source: 'memory' };
  }
  const { key, created } = keyFromFile(file);
  if (key.length < 32) throw invalidConfiguration('error.configuration.key_file_unusable', { file });
  return { key, source: { file, created } };
}
