// The first-login association flows: one per upstream sign-in that found no
// bound profile; a state machine moved by conditional UPDATEs.
import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { AssociationFlowRecord, AssociationFlowState } from '../domain/records.ts';
import { optionalText, type Executor, type Row } from './rows.ts';
import type { AssociationFlowRepository } from './store.ts';

const toFlow = (row: Row): AssociationFlowRecord => ({
  id: String(row.id),
  state: String(row.state) as AssociationFlowState,
  interactionUid: optionalText(row.interaction_uid),
  clientId: optionalText(row.client_id),
  issuer: String(row.issuer),
  subject: String(row.subject),
  upstreamId: optionalText(row.upstream_id),
  email: optionalText(row.email),
  createdAt: Number(row.created_at),
  updatedAt: Number(row.updated_at),
  expiresAt: Number(row.expires_at),
});

export function associationFlowRepository(db: Executor, clock: Clock): AssociationFlowRepository {
  return {
    async create(flow) {
      const now = clock.now();
      const record: AssociationFlowRecord = { id: randomUUID(), state: 'email_requested', email: undefined, createdAt: now, updatedAt: now, ...flow, upstreamId: flow.upstreamId };
      await db('association_flows').insert({
        id: record.id,
        state: record.state,
        interaction_uid: record.interactionUid ?? null,
        client_id: record.clientId ?? null,
        issuer: record.issuer,
        subject: record.subject,
        upstream_id: record.upstreamId ?? null,
        created_at: now,
        updated_at: now,
        expires_at: record.expiresAt,
      });
      return record;
    },
    async find(id) {
      const row = (await db('association_flows').where({ id }).first()) as Row | undefined;
      return row ? toFlow(row) : undefined;
    },
    async findByInteraction(interactionUid) {
      const row = (await db('association_flows').where({ interaction_uid: interactionUid }).orderBy('created_at', 'desc').first()) as Row | undefined;
      return row ? toFlow(row) : undefined;
    },
    async transition(id, from, to, changes = {}) {
      const update: Row = { state: to, updated_at: clock.now() };
      if (changes.email !== undefined) update.email = changes.email;
      return (await db('association_flows').where({ id }).whereIn('state', [...from]).update(update)) > 0;
    },
  };
}

