// The registered APIs (resource servers) in the store, on every database:
// round trip, update, listing order, removal and the conflict of a taken identifier.
import { expect } from 'chai';
import { BrokerError } from '../../src/errors.ts';
import { suiteStore, testDatabases } from '../support/databases.ts';

const orders = {
  identifier: 'https://orders.partnersource.example/api',
  name: 'Orders',
  scopes: ['orders:read', 'orders:write'],
  tokenFormat: 'jwt' as const,
  accessTokenTtl: 300,
  allowedClients: ['ps-backend'],
};

for (const testDatabase of testDatabases()) {
  describe(`resource servers in the store on ${testDatabase.name}`, () => {
    const suite = suiteStore(testDatabase);

    it('round-trip scopes, format, lifetime and allowed clients; update, list and remove', async () => {
      const { store, clock } = suite;
      const created = await store.resourceServers.create(orders);
      expect(created).to.deep.include(orders);
      expect(await store.resourceServers.find(orders.identifier)).to.deep.equal(created);
      clock.advance(1000);
      const updated = await store.resourceServers.update(orders.identifier, { scopes: ['orders:read'], tokenFormat: 'opaque', accessTokenTtl: 60, allowedClients: [] });
      expect(updated).to.deep.include({ name: 'Orders', scopes: ['orders:read'], tokenFormat: 'opaque', accessTokenTtl: 60, allowedClients: [] });
      expect(updated!.updatedAt).to.equal(created.createdAt + 1000);
      await store.resourceServers.create({ ...orders, identifier: 'https://billing.example/', name: 'Billing' });
      expect((await store.resourceServers.list()).map((server) => server.identifier)).to.deep.equal(['https://billing.example/', orders.identifier]);
      expect(await store.resourceServers.update('https://nowhere.example/', { name: 'x' })).to.equal(undefined);
      expect(await store.resourceServers.remove(orders.identifier)).to.equal(true);
      expect(await store.resourceServers.remove(orders.identifier)).to.equal(false);
      expect(await store.resourceServers.find(orders.identifier)).to.equal(undefined);
    });

    it('refuse a second API with a taken identifier as a conflict', async () => {
      const { store } = suite;
      await store.resourceServers.create({ ...orders, identifier: 'https://taken.example/' });
      let failure: unknown;
      await store.resourceServers.create({ ...orders, identifier: 'https://taken.example/' }).catch((error: unknown) => (failure = error));
      expect(failure).to.be.instanceOf(BrokerError);
      expect((failure as BrokerError).code).to.equal('conflict');
    });
  });
}
