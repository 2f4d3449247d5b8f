// The registered OIDC clients (portals and relying parties): metadata as
// JSON text, the secret only as its hash, a unique id.
import type { Clock } from '../clock.ts';
import { clientExists } from '../errors.ts';
import type { ClientPortal, ClientRecord } from '../domain/records.ts';
import { optionalNumber, optionalText, parseJson, type Executor, type Row } from './rows.ts';
import type { ClientRepository } from './store.ts';
import { isUniqueViolation } from './storageErrors.ts';

const toClient = (row: Row): ClientRecord => ({
  id: String(row.id),
  metadata: parseJson(row.metadata, {}),
  portal: String(row.portal) as ClientPortal,
  firstParty: Boolean(row.first_party),
  secretHash: optionalText(row.secret_hash),
  disabledAt: optionalNumber(row.disabled_at),
  createdAt: Number(row.created_at),
  updatedAt: Number(row.updated_at),
});

export function clientRepository(db: Executor, clock: Clock): ClientRepository {
  return {
    async create(client) {
      const now = clock.now();
      try {
        await db('clients').insert({
          id: client.id,
          metadata: JSON.stringify(client.metadata),
          portal: client.portal,
          first_party: client.firstParty,
          secret_hash: client.secretHash ?? null,
          created_at: now,
          updated_at: now,
        });
      } catch (error) {
        // Two registrations of one id at once: both passed the caller's lookup.
        if (isUniqueViolation(error)) throw clientExists(client.id, error);
        throw error;
      }
      return { ...client, createdAt: now, updatedAt: now };
    },
    async find(id) {
      const row = (await db('clients').where({ id }).first()) as Row | undefined;
      return row ? toClient(row) : undefined;
    },
    async list() {
      return ((await db('clients').orderBy('created_at').orderBy('id')) as Row[]).map(toClient);
    },
    async update(id, changes) {
      const update: Row = { updated_at: clock.now() };
      if (changes.metadata) update.metadata = JSON.stringify(changes.metadata);
      if (changes.portal) update.portal = changes.portal;
      if (changes.firstParty !== undefined) update.first_party = changes.firstParty;
      if ('secretHash' in changes) update.secret_hash = changes.secretHash ?? null;
      if ('disabledAt' in changes) update.disabled_at = changes.disabledAt ?? null;
      const updated = await db('clients').where({ id }).update(update);
      if (updated === 0) return undefined;
      return toClient((await db('clients').where({ id }).first()) as Row);
    },
    async remove(id) {
      return (await db('clients').where({ id }).delete()) > 0;
    },
  };
}
