// The audit log: append-only events, listed newest first with filters.
// `recorded` hears of each event (metrics); in a transaction the store
// passes it on only once the transaction commits.
import type { Clock } from '../clock.ts';
import type { AuditEventInput, AuditEventRecord } from '../domain/records.ts';
import { countOf, optionalText, pageBounds, parseJson, type Executor, type Row } from './rows.ts';
import type { AuditEventRepository } from './store.ts';

const toAuditEvent = (row: Row): AuditEventRecord => ({
  id: Number(row.id),
  occurredAt: Number(row.occurred_at),
  type: String(row.type),
  outcome: String(row.outcome) as AuditEventRecord['outcome'],
  actor: optionalText(row.actor),
  accountId: optionalText(row.account_id),
  profileId: optionalText(row.profile_id),
  clientId: optionalText(row.client_id),
  ip: optionalText(row.ip),
  details: parseJson<Record<string, unknown> | undefined>(row.details, undefined),
});

export function auditEventRepository(db: Executor, clock: Clock, recorded: (event: AuditEventInput) => void): AuditEventRepository {
  return {
    async record(event) {
      await db('audit_events').insert({
        occurred_at: clock.now(),
        type: event.type,
        outcome: event.outcome,
        actor: event.actor ?? null,
        account_id: event.accountId ?? null,
        profile_id: event.profileId ?? null,
        client_id: event.clientId ?? null,
        ip: event.ip ?? null,
        details: event.details ? JSON.stringify(event.details) : null,
      });
      recorded(event);
    },
    async list(query = {}) {
      const { limit, offset } = pageBounds(query);
      const builder = db('audit_events');
      if (query.type) builder.where({ type: query.type });
      if (query.actor) builder.where({ actor: query.actor });
      if (query.beforeId !== undefined) builder.where('id', '<', query.beforeId);
      if (query.accountId) builder.where({ account_id: query.accountId });
      if (query.profileId) builder.where({ profile_id: query.profileId });
      if (query.clientId) builder.where({ client_id: query.clientId });
      if (query.since !== undefined) builder.where('occurred_at', '>=', query.since);
      if (query.until !== undefined) builder.where('occurred_at', '<', query.until);
      const total = await countOf(builder);
      const rows = (await builder.clone().select('*').orderBy('id', 'desc').limit(limit).offset(offset)) as Row[];
      return { items: rows.map(toAuditEvent), total };
    },
  };
}
