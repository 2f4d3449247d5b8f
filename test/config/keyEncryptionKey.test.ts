// The key-encryption key in force: the setting; outside production without
// it, a development key kept in memory for an in-memory database and in a
// file beside a SQLite file (so that queued mail and keys survive restarts);
// production refuses to start without one.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from 'chai';
import { developmentKeyFile, resolveKeyEncryptionKey } from '../../src/config/keyEncryptionKey.ts';
import { isBrokerError } from '../../src/errors.ts';

describe('the key-encryption key', () => {
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'mbs-kek-'));
  });
  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  it('is KEY_ENCRYPTION_KEY when set, in every mode', () => {
    for (const nodeEnv of ['development', 'test', 'production'] as const) {
      expect(resolveKeyEncryptionKey({ nodeEnv, databaseUrl: `sqlite:${join(directory, 'b.sqlite')}`, keyEncryptionKey: 'k'.repeat(40) })).to.deep.equal({ key: 'k'.repeat(40), source: 'setting' });
    }
  });

  it('is refused absent in production: no development key is made there', () => {
    let refusal: unknown;
    try {
      resolveKeyEncryptionKey({ nodeEnv: 'production', databaseUrl: `sqlite:${join(directory, 'b.sqlite')}`, keyEncryptionKey: undefined });
    } catch (error) {
      refusal = error;
    }
    expect(isBrokerError(refusal) && refusal.publicMessage).to.equal('KEY_ENCRYPTION_KEY must be set in production');
    expect(() => statSync(join(directory, 'b.sqlite-key'))).to.throw();
  });

  it('outside production, for a SQLite file, is made once in a file beside it (mode 0600) and read back after', () => {
    const config = { nodeEnv: 'development' as const, databaseUrl: `sqlite:${join(directory, 'broker.sqlite')}`, keyEncryptionKey: undefined };
    const first = resolveKeyEncryptionKey(config);
    const file = join(directory, 'broker.sqlite-key');
    expect(first.source).to.deep.equal({ file, created: true });
    expect(first.key).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(statSync(file).mode & 0o777).to.equal(0o600);
    expect(readFileSync(file, 'utf8').trim()).to.equal(first.key);
    expect(resolveKeyEncryptionKey(config)).to.deep.equal({ key: first.key, source: { file, created: false } });
  });

  it('outside production, for an in-memory database, lives in memory; for PostgreSQL in var/key-encryption-key', () => {
    const memory = resolveKeyEncryptionKey({ nodeEnv: 'test', databaseUrl: 'sqlite::memory:', keyEncryptionKey: undefined });
    expect(memory.source).to.equal('memory');
    expect(resolveKeyEncryptionKey({ nodeEnv: 'test', databaseUrl: 'sqlite::memory:', keyEncryptionKey: undefined }).key).to.equal(memory.key);
    expect(developmentKeyFile('postgres://db.example/broker')).to.equal(resolve('var/key-encryption-key'));
  });

  it('refuses a development key file that holds no usable key, saying what to do', () => {
    const config = { nodeEnv: 'development' as const, databaseUrl: `sqlite:${join(directory, 'broker.sqlite')}`, keyEncryptionKey: undefined };
    resolveKeyEncryptionKey(config);
    writeFileSync(join(directory, 'broker.sqlite-key'), 'short\n');
    expect(() => resolveKeyEncryptionKey(config)).to.throw(/holds no usable key/);
  });
});
