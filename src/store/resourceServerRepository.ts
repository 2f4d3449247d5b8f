// The APIs registered as resource servers: one row per identifier (the
// `resource` value), scopes and allowed clients as JSON text.
import type { Clock } from '../clock.ts';
import { resourceServerExists } from '../errors.ts';
import type { AccessTokenFormat, ResourceServerRecord } from '../domain/records.ts';
import { parseJson, type Executor, type Row } from './rows.ts';
import type { ResourceServerRepository } from './store.ts';
import { isUniqueViolation } from './storageErrors.ts';

const toResourceServer = (row: Row): ResourceServerRecord => ({
  identifier: String(row.identifier),
  name: String(row.name),
  scopes: parseJson<string[]>(row.scopes, []),
  tokenFormat: String(row.token_format) as AccessTokenFormat,
  accessTokenTtl: Number(row.access_token_ttl),
  allowedClients: parseJson<string[]>(row.allowed_clients, []),
  createdAt: Number(row.created_at),
  updatedAt: Number(row.updated_at),
});

export function resourceServerRepository(db: Executor, clock: Clock): ResourceServerRepository {
  return {
    async create(server) {
      const now = clock.now();
      try {
        await db('resource_servers').insert({
          identifier: server.identifier,
          name: server.name,
          scopes: JSON.stringify(server.scopes),
          token_format: server.tokenFormat,
          access_token_ttl: server.accessTokenTtl,
          allowed_clients: JSON.stringify(server.allowedClients),
          created_at: now,
          updated_at: now,
        });
      } catch (error) {
        // Two registrations of one identifier at once: both passed the caller's lookup.
        if (isUniqueViolation(error)) throw resourceServerExists(server.identifier, error);
        throw error;
      }
      return { ...server, createdAt: now, updatedAt: now };
    },
    async find(identifier) {
      const row = (await db('resource_servers').where({ identifier }).first()) as Row | undefined;
      return row ? toResourceServer(row) : undefined;
    },
    async list() {
      return ((await db('resource_servers').orderBy('identifier')) as Row[]).map(toResourceServer);
    },
    async update(identifier, changes) {
      const update: Row = { updated_at: clock.now() };
      if (changes.name !== undefined) update.name = changes.name;
      if (changes.scopes) update.scopes = JSON.stringify(changes.scopes);
      if (changes.tokenFormat) update.token_format = changes.tokenFormat;
      if (changes.accessTokenTtl !== undefined) update.access_token_ttl = changes.accessTokenTtl;
      if (changes.allowedClients) update.allowed_clients = JSON.stringify(changes.allowedClients);
      if ((await db('resource_servers').where({ identifier }).update(update)) === 0) return undefined;
      return toResourceServer((await db('resource_servers').where({ identifier }).first()) as Row);
    },
    async remove(identifier) {
      return (await db('resource_servers').where({ identifier }).delete()) > 0;
    },
  };
}
