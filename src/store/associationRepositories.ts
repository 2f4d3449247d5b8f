// Repositories of the first-login association: flow records, link requests
// (hashed tokens, conditional consume) and rate-limit counters (an atomic
// upsert-increment, so several instances share one count).
import { randomUUID } from 'node:crypto';
import { countOf, optionalNumber, optionalText, pageBounds, type Executor, type Row } from './rows.ts';
import type { Clock } from '../clock.ts';
import type { AssociationFlowRecord, AssociationFlowState, LinkRequestRecord, Page, PageRequest } from './records.ts';
import type { AssociationFlowRepository, LinkRequestRepository, RateLimitRepository } from './store.ts';


const toFlow = (row: Row): AssociationFlowRecord => ({
  id: String(row.id),
  state: String(row.state) as AssociationFlowState,
  interactionUid: optionalText(row.interaction_uid),
  clientId: optionalText(row.client_id),
  issuer: String(row.issuer),
  subject: String(row.subject),
  email: optionalText(row.email),
  createdAt: Number(row.created_at),
  updatedAt: Number(row.updated_at),
  expiresAt: Number(row.expires_at),
});

const toLink = (row: Row): LinkRequestRecord => ({
  id: String(row.id),
  tokenHash: String(row.token_hash),
  flowId: optionalText(row.flow_id),
  profileId: String(row.profile_id),
  issuer: String(row.issuer),
  subject: String(row.subject),
  interactionUid: optionalText(row.interaction_uid),
  createdAt: Number(row.created_at),
  expiresAt: Number(row.expires_at),
  consumedAt: optionalNumber(row.consumed_at),
});

export function associationFlowRepository(db: Executor, clock: Clock): AssociationFlowRepository {
  return {
    async create(flow) {
      const now = clock.now();
      const record: AssociationFlowRecord = { id: randomUUID(), state: 'email_requested', email: undefined, createdAt: now, updatedAt: now, ...flow };
      await db('association_flows').insert({
        id: record.id,
        state: record.state,
        interaction_uid: record.interactionUid ?? null,
        client_id: record.clientId ?? null,
        issuer: record.issuer,
        subject: record.subject,
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

export function linkRequestRepository(db: Executor, clock: Clock): LinkRequestRepository {
  return {
    async create(link) {
      const record: LinkRequestRecord = { id: randomUUID(), createdAt: clock.now(), consumedAt: undefined, ...link };
      await db('link_requests').insert({
        id: record.id,
        token_hash: record.tokenHash,
        flow_id: record.flowId ?? null,
        profile_id: record.profileId,
        issuer: record.issuer,
        subject: record.subject,
        interaction_uid: record.interactionUid ?? null,
        created_at: record.createdAt,
        expires_at: record.expiresAt,
      });
      return record;
    },
    async findByTokenHash(tokenHash) {
      const row = (await db('link_requests').where({ token_hash: tokenHash }).first()) as Row | undefined;
      return row ? toLink(row) : undefined;
    },
    async consume(id) {
      const now = clock.now();
      const updated = await db('link_requests').where({ id }).whereNull('consumed_at').where('expires_at', '>', now).update({ consumed_at: now });
      return updated > 0;
    },
    async listPending(query: PageRequest = {}): Promise<Page<LinkRequestRecord>> {
      const { limit, offset } = pageBounds(query);
      const builder = db('link_requests').whereNull('consumed_at').where('expires_at', '>', clock.now());
      const total = await countOf(builder);
      const rows = (await builder.clone().select('*').orderBy('created_at', 'desc').limit(limit).offset(offset)) as Row[];
      return { items: rows.map(toLink), total };
    },
    async revoke(id) {
      return (await db('link_requests').where({ id }).whereNull('consumed_at').delete()) > 0;
    },
  };
}

export function rateLimitRepository(db: Executor, clock: Clock): RateLimitRepository {
  return {
    async hit(key, limit, windowMilliseconds) {
      const now = clock.now();
      const windowStart = now - (now % windowMilliseconds);
      // INSERT … ON CONFLICT DO UPDATE SET count = count + 1 RETURNING count:
      // one statement, atomic on SQLite and PostgreSQL alike.
      const rows = (await db('rate_limit_counters')
        .insert({ key, window_start: windowStart, count: 1, expires_at: windowStart + windowMilliseconds })
        .onConflict(['key', 'window_start'])
        .merge({ count: db.raw('?? + 1', ['rate_limit_counters.count']) })
        .returning('count')) as Array<{ count: number | string }>;
      const count = Number(rows[0]?.count ?? limit + 1);
      return { allowed: count <= limit, count, retryAfterMilliseconds: windowStart + windowMilliseconds - now };
    },
  };
}
