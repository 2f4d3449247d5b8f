// The association flow's email links: stored by the hash of their token,
// consumed once by a conditional UPDATE, revocable while unused.
import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { LinkRequestRecord, Page, PageRequest } from '../domain/records.ts';
import { countOf, optionalNumber, optionalText, pageBounds, type Executor, type Row } from './rows.ts';
import type { LinkRequestRepository } from './store.ts';

const toLink = (row: Row): LinkRequestRecord => ({
  id: String(row.id),
  tokenHash: String(row.token_hash),
  flowId: optionalText(row.flow_id),
  profileId: String(row.profile_id),
  issuer: String(row.issuer),
  subject: String(row.subject),
  upstreamId: optionalText(row.upstream_id),
  interactionUid: optionalText(row.interaction_uid),
  createdAt: Number(row.created_at),
  expiresAt: Number(row.expires_at),
  consumedAt: optionalNumber(row.consumed_at),
});

export function linkRequestRepository(db: Executor, clock: Clock): LinkRequestRepository {
  return {
    async create(link) {
      const record: LinkRequestRecord = { id: randomUUID(), createdAt: clock.now(), consumedAt: undefined, ...link, upstreamId: link.upstreamId };
      await db('link_requests').insert({
        id: record.id,
        token_hash: record.tokenHash,
        flow_id: record.flowId ?? null,
        profile_id: record.profileId,
        issuer: record.issuer,
        subject: record.subject,
        upstream_id: record.upstreamId ?? null,
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
    async listPending(query: PageRequest & { profileIds?: readonly string[] } = {}): Promise<Page<LinkRequestRecord>> {
      const { limit, offset } = pageBounds(query);
      const builder = db('link_requests').whereNull('consumed_at').where('expires_at', '>', clock.now());
      if (query.profileIds) builder.whereIn('profile_id', [...query.profileIds]);
      const total = await countOf(builder);
      const rows = (await builder.clone().select('*').orderBy('created_at', 'desc').limit(limit).offset(offset)) as Row[];
      return { items: rows.map(toLink), total };
    },
    async find(id) {
      const row = (await db('link_requests').where({ id }).first()) as Row | undefined;
      return row ? toLink(row) : undefined;
    },
    async revoke(id) {
      return (await db('link_requests').where({ id }).whereNull('consumed_at').delete()) > 0;
    },
  };
}

