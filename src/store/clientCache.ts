// Clients are read on every token, userinfo and authorization request and
// change rarely: this keeps each one in memory for a short while. Changes
// made through this process evict it at once; changes made elsewhere (the
// CLI, another instance) show within `ttlMilliseconds`.
import type { ClientRecord } from '../domain/records.ts';
import type { ClientRepository } from './store.ts';

export function cachedClients(clients: ClientRepository, ttlMilliseconds: number, now: () => number = Date.now): ClientRepository {
  const cache = new Map<string, { client: ClientRecord | undefined; until: number }>();
  return {
    async find(id) {
      const hit = cache.get(id);
      if (hit && hit.until > now()) return hit.client;
      const client = await clients.find(id);
      // Unknown ids are not kept: a probe with random ids must not grow the cache.
      if (client) cache.set(id, { client, until: now() + ttlMilliseconds });
      else cache.delete(id);
      return client;
    },
    list: () => clients.list(),
    async create(client) {
      cache.delete(client.id);
      return clients.create(client);
    },
    async update(id, changes) {
      cache.delete(id);
      const updated = await clients.update(id, changes);
      cache.delete(id);
      return updated;
    },
    async remove(id) {
      cache.delete(id);
      return clients.remove(id);
    },
  };
}
