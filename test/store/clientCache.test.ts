// The client cache: a client is read from the database once per period,
// changes made through the cache show at once, and unknown ids are not kept.
import { expect } from 'chai';
import { cachedClients } from '../../src/store/clientCache.ts';
import type { ClientRecord } from '../../src/domain/records.ts';
import type { ClientRepository } from '../../src/store/store.ts';
import { buildClient } from '../support/factories.ts';

function countingRepository() {
  const rows = new Map<string, ClientRecord>();
  let reads = 0;
  const repository: ClientRepository = {
    async find(id) {
      reads += 1;
      return rows.get(id);
    },
    async list() {
      return [...rows.values()];
    },
    async create(client) {
      const record = { ...client, createdAt: 0, updatedAt: 0 };
      rows.set(client.id, record);
      return record;
    },
    async update(id, changes) {
      const current = rows.get(id);
      if (!current) return undefined;
      const updated = { ...current, ...changes } as ClientRecord;
      rows.set(id, updated);
      return updated;
    },
    async remove(id) {
      return rows.delete(id);
    },
  };
  return { repository, rows, reads: () => reads };
}

describe('client cache', () => {
  it('reads a client once per period, and again after it', async () => {
    let now = 1_000;
    const backing = countingRepository();
    const clients = cachedClients(backing.repository, 2000, () => now);
    await clients.create(buildClient({ id: 'portal' }));
    for (let index = 0; index < 10; index += 1) expect((await clients.find('portal'))?.id).to.equal('portal');
    expect(backing.reads()).to.equal(1);
    now += 2001;
    await clients.find('portal');
    expect(backing.reads()).to.equal(2);
  });

  it('shows changes and removals made through it at once', async () => {
    const backing = countingRepository();
    const clients = cachedClients(backing.repository, 60_000);
    await clients.create(buildClient({ id: 'portal' }));
    await clients.find('portal');
    await clients.update('portal', { disabledAt: 5 });
    expect((await clients.find('portal'))?.disabledAt).to.equal(5);
    await clients.remove('portal');
    expect(await clients.find('portal')).to.equal(undefined);
  });

  it('does not keep unknown ids', async () => {
    const backing = countingRepository();
    const clients = cachedClients(backing.repository, 60_000);
    await clients.find('nobody');
    await clients.find('nobody');
    expect(backing.reads()).to.equal(2);
  });
});
