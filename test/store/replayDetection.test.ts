// The adapter's atomic insert under oidc-provider's replay detection (DPoP
// proofs and client assertions, by jti): of instances racing to record one
// id exactly one succeeds, on SQLite (two connections to one file, as two
// instances have) and PostgreSQL; an expired record is taken over and swept.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { systemClock } from '../../src/clock.ts';
import { openDatabase, type Database } from '../../src/store/database.ts';
import { createStore } from '../../src/store/knexStore.ts';
import { migrateToLatest } from '../../src/store/migrations.ts';
import { canInsertUnique, createOidcAdapter, type UniqueInsertAdapter } from '../../src/store/oidcAdapter.ts';
import { testDatabases } from '../support/databases.ts';

const replayAdapter = (database: Database): UniqueInsertAdapter => {
  const adapter = new (createOidcAdapter(database, {}))('ReplayDetection');
  expect(canInsertUnique(adapter)).to.equal(true);
  return adapter;
};

const record = (id: string) => ({ jti: id, iss: 'client-1', kind: 'ReplayDetection', iat: Math.floor(Date.now() / 1000) });

/** Every adapter records `id` at once; resolves how many were told they recorded it. */
async function race(adapters: UniqueInsertAdapter[], id: string, attemptsEach: number): Promise<number> {
  const outcomes = await Promise.all(adapters.flatMap((adapter) => Array.from({ length: attemptsEach }, () => adapter.insertUnique(id, record(id), 300))));
  return outcomes.filter(Boolean).length;
}

for (const testDatabase of testDatabases()) {
  describe(`replay detection's atomic insert on ${testDatabase.name}`, () => {
    let database: Database;
    before(async () => {
      database = await testDatabase.open();
    });
    after(() => testDatabase.close(database));

    it('records an id once: of many racing inserts on the pool exactly one succeeds', async () => {
      const adapter = replayAdapter(database);
      expect(await race([adapter], 'racing-id', 20)).to.equal(1);
      expect(await adapter.insertUnique('racing-id', record('racing-id'), 300), 'a later insert').to.equal(false);
      expect(await adapter.insertUnique('another-id', record('another-id'), 300), 'another id').to.equal(true);
    });

    it('takes over an expired record not yet swept, and the sweep removes expired ones', async () => {
      const adapter = replayAdapter(database);
      await adapter.insertUnique('expired-id', record('expired-id'), 300);
      await database('oidc_payloads').where({ type: 'ReplayDetection', id: 'expired-id' }).update({ expires_at: Date.now() - 1000 });
      expect(await adapter.insertUnique('expired-id', record('expired-id'), 300), 'the expired record no longer counts').to.equal(true);
      expect(await adapter.insertUnique('expired-id', record('expired-id'), 300)).to.equal(false);

      await database('oidc_payloads').where({ type: 'ReplayDetection', id: 'expired-id' }).update({ expires_at: Date.now() - 1000 });
      await createStore(database, systemClock).sweepExpired();
      expect(await database('oidc_payloads').where({ type: 'ReplayDetection', id: 'expired-id' }).first()).to.equal(undefined);
    });
  });
}

describe('replay detection on one SQLite file shared by two instances', () => {
  const directory = mkdtempSync(join(tmpdir(), 'mbs-replay-'));
  const url = `sqlite:${join(directory, 'broker.sqlite')}`;
  let first: Database;
  let second: Database;
  before(async () => {
    first = openDatabase({ url });
    await migrateToLatest(first);
    second = openDatabase({ url });
  });
  after(async () => {
    await first.destroy();
    await second.destroy();
    rmSync(directory, { recursive: true, force: true });
  });

  it('lets exactly one of the two record an id they race for', async () => {
    const adapters = [replayAdapter(first), replayAdapter(second)];
    for (const id of ['shared-1', 'shared-2', 'shared-3']) expect(await race(adapters, id, 10), id).to.equal(1);
  });
});
