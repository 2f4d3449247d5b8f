// The upgrade of a database written before secrets were sealed: the outbox's
// clear bodies sealed with the key given to the migration (or dropped, and
// the message given up, without one), delivered bodies gone, stored
// sessions rehashed, in-flight upstream round trips dropped; and SQLite
// connections zero what they delete.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { expect } from 'chai';
import type { Knex } from 'knex';
import { systemClock } from '../../src/clock.ts';
import { Outbox } from '../../src/mail/outbox.ts';
import { openDatabase, type Database } from '../../src/store/database.ts';
import { migrateToLatest } from '../../src/store/migrations.ts';
import { createOidcAdapter } from '../../src/store/oidcAdapter.ts';
import { createPostgresDatabase } from '../support/databases.ts';

const migrationsDirectory = fileURLToPath(new URL('../../migrations/', import.meta.url));
const keyEncryptionKey = 'migration-test-key-encryption-key-0123456789';
const clearLink = 'https://broker.example/link/a-working-link-token-written-in-clear-0123';

/** Applies the migrations written before secrets were sealed (up to 0005), as an older broker did. */
async function migrateAsBefore(database: Database): Promise<void> {
  const names = readdirSync(migrationsDirectory).filter((name) => name.endsWith('.ts') && name < '20261203');
  const source: Knex.MigrationSource<string> = {
    getMigrations: async () => names.sort(),
    getMigrationName: (name) => name.replace(/\.ts$/, ''),
    getMigration: async (name) => (await import(pathToFileURL(migrationsDirectory + name).href)) as Knex.Migration,
  };
  await database.migrate.latest({ migrationSource: source, tableName: 'knex_migrations' });
}

async function writeAsBefore(database: Database): Promise<void> {
  const message = { kind: 'association_link', recipient: 'jane@contoso.example', subject: 'Associate', html: `<a href="${clearLink}">x</a>`, text: clearLink, attempts: 0, created_at: 1 };
  await database('outbox').insert([
    { id: 'unsent', ...message, next_attempt_at: 1 },
    { id: 'delivered', ...message, next_attempt_at: 1, sent_at: 2 },
  ]);
  const session = { jti: 'a-session-cookie-value-from-before', kind: 'Session', uid: 'session-uid', accountId: 'account-1', exp: Math.floor(Date.now() / 1000) + 3600 };
  await database('oidc_payloads').insert({ type: 'Session', id: session.jti, payload: JSON.stringify(session), uid: session.uid, account_id: 'account-1', expires_at: Date.now() + 3_600_000 });
  const interaction = { jti: 'interaction-1', kind: 'Interaction', session: { accountId: 'account-1', uid: 'session-uid', cookie: session.jti } };
  await database('oidc_payloads').insert({ type: 'Interaction', id: 'interaction-1', payload: JSON.stringify(interaction), expires_at: Date.now() + 3_600_000 });
  await database('upstream_transactions').insert({ state: 'a-state-in-clear', purpose: 'sign_in', code_verifier: 'a-verifier-in-clear', nonce: 'a-nonce', context: '{}', created_at: 1, expires_at: Date.now() + 600_000 });
}

const databases: Array<{ name: string; open(): Promise<{ database: Database; drop(): Promise<void> }> }> = [
  { name: 'sqlite', open: async () => ({ database: openDatabase({ url: 'sqlite::memory:' }), drop: async () => undefined }) },
];
if (process.env.TEST_POSTGRES_URL) {
  databases.push({
    name: 'postgres',
    async open() {
      const fresh = await createPostgresDatabase(process.env.TEST_POSTGRES_URL!);
      return { database: openDatabase({ url: fresh.url, poolMax: 2 }), drop: fresh.drop };
    },
  });
}

for (const target of databases) {
  describe(`upgrading a database written in clear, on ${target.name}`, function () {
    this.timeout(30_000);
    let database: Database;
    let drop: () => Promise<void>;

    beforeEach(async () => {
      ({ database, drop } = await target.open());
      await migrateAsBefore(database);
      await writeAsBefore(database);
    });
    afterEach(async () => {
      await database.destroy();
      await drop();
    });

    it('seals the unsent emails with the key it is given, drops delivered bodies, and the outbox delivers the sealed one', async () => {
      await migrateToLatest(database, { keyEncryptionKey });
      const text = JSON.stringify(await database('outbox').select('*'));
      expect(text).to.not.contain('a-working-link-token').and.not.contain('"html"');
      const rows = (await database('outbox').select('id', 'sealed_body').orderBy('id')) as Array<{ id: string; sealed_body: string | null }>;
      expect(rows.find((row) => row.id === 'delivered')!.sealed_body).to.equal(null);
      expect(rows.find((row) => row.id === 'unsent')!.sealed_body).to.match(/^sealed:v1:/);
      const [claimed] = await new Outbox(database, systemClock, keyEncryptionKey).claimDue(10);
      expect(claimed).to.deep.include({ id: 'unsent', text: clearLink, html: `<a href="${clearLink}">x</a>` });
    });

    it('without a key, drops the clear bodies and gives the unsent email up with a reason `outbox list` shows', async () => {
      await migrateToLatest(database);
      expect(JSON.stringify(await database('outbox').select('*'))).to.not.contain('a-working-link-token');
      const { items } = await new Outbox(database, systemClock, keyEncryptionKey).list({ pending: true });
      expect(items).to.have.length(1);
      expect(items[0]!.lastError).to.contain('dropped at upgrade');
      expect(await new Outbox(database, systemClock, keyEncryptionKey).claimDue(10)).to.deep.equal([]);
    });

    it('rehashes the stored sessions (still found by their cookie value), strips interactions of it, drops upstream round trips in flight', async () => {
      await migrateToLatest(database, { keyEncryptionKey });
      const payloads = JSON.stringify(await database('oidc_payloads').select('*'));
      expect(payloads).to.not.contain('a-session-cookie-value-from-before');
      const Adapter = createOidcAdapter(database, {});
      expect(await new Adapter('Session').find('a-session-cookie-value-from-before')).to.deep.include({ jti: 'a-session-cookie-value-from-before', accountId: 'account-1' });
      expect(await new Adapter('Interaction').find('interaction-1')).to.deep.include({ session: { accountId: 'account-1', uid: 'session-uid' } });
      const remaining = (await database('upstream_transactions').count({ count: '*' }).first()) as { count: number | string };
      expect(Number(remaining.count)).to.equal(0);
    });
  });
}

describe('SQLite connections', () => {
  it('leave no clear body in the file after the upgrade: the rebuilt table’s old pages are zeroed', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'mbs-secrets-migration-'));
    const url = `sqlite:${join(directory, 'broker.sqlite')}`;
    try {
      const before = openDatabase({ url });
      await migrateAsBefore(before);
      await writeAsBefore(before);
      await before.destroy();
      expect(readFileSync(join(directory, 'broker.sqlite')).includes('a-working-link-token'), 'written in clear before').to.equal(true);
      const upgraded = openDatabase({ url });
      await migrateToLatest(upgraded, { keyEncryptionKey });
      await upgraded.destroy();
      for (const file of readdirSync(directory)) {
        const bytes = readFileSync(join(directory, file));
        expect(bytes.includes('a-working-link-token'), file).to.equal(false);
        expect(bytes.includes('a-session-cookie-value-from-before'), file).to.equal(false);
        expect(bytes.includes('a-verifier-in-clear'), file).to.equal(false);
      }
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('zero what they delete (secure_delete), so a dropped body leaves no old bytes in its page', async () => {
    const database = openDatabase({ url: 'sqlite::memory:' });
    try {
      const [setting] = (await database.raw('PRAGMA secure_delete')) as Array<{ secure_delete: number }>;
      expect(setting!.secure_delete).to.equal(1);
    } finally {
      await database.destroy();
    }
  });
});
