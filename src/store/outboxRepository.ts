// The outbox table: messages waiting for delivery and the record of each
// delivery. Insert in the caller's transaction; claim due rows with a lease
// (`claimed_until`, `claimed_by`) so that no two workers take the same row;
// renew and release leases; mark sent (dropping the body) or failed; list,
// retry and count for operators. The body arrives sealed: sealing and
// opening are the mail room's (src/mail/outbox.ts), this file only stores it.
import type { Clock } from '../clock.ts';
import { databaseClient, type Database } from './database.ts';
import type { Page, PageRequest } from '../domain/records.ts';
import { countOf, optionalNumber, optionalText, pageBounds, type Executor, type Row } from './rows.ts';

/** A message as listed: everything but its body (which may be gone: delivered). */
export interface OutboxSummary {
  id: string;
  kind: string;
  recipient: string;
  subject: string;
  attempts: number;
  nextAttemptAt: number;
  sentAt: number | undefined;
  lastError: string | undefined;
  /** The SMTP server's reply line when it accepted the message (never the message). */
  smtpResponse: string | undefined;
  createdAt: number;
}

/** A claimed message with its body as stored (sealed). */
export interface ClaimedOutboxRow extends OutboxSummary {
  sealedBody: string;
}

export interface OutboxRepository {
  insert(executor: Executor, message: { id: string; kind: string; recipient: string; subject: string; sealedBody: string }): Promise<void>;
  /**
   * Leases up to `limit` due, unsent, unleased rows to `claimant` for
   * `leaseMilliseconds`, each passed through `open` inside the claiming
   * transaction: when `open` throws (the bodies do not open), no lease is
   * taken and the messages stay due for a process that can open them.
   */
  claimDue<Claimed>(limit: number, claimant: string, leaseMilliseconds: number, open: (row: ClaimedOutboxRow) => Claimed): Promise<Claimed[]>;
  /** Extends `claimant`'s leases on `ids`; returns the ids it still holds. */
  renew(ids: readonly string[], claimant: string, leaseMilliseconds: number): Promise<Set<string>>;
  /** Drops the leases on unsent rows held by anyone but `claimant`; returns how many. */
  releaseOthers(claimant: string): Promise<number>;
  /** `serverAnswer`: the SMTP reply line, kept (shortened to 1000 characters). */
  markSent(id: string, serverAnswer?: string): Promise<void>;
  /** Counts a failed attempt if `claimant` still holds the lease. */
  markFailed(id: string, claimant: string, error: string, nextAttemptAt: number): Promise<void>;
  /** Newest first; `recipient` must already be normalised. */
  list(query?: PageRequest & { pending?: boolean; recipient?: string }): Promise<Page<OutboxSummary>>;
  /** Makes an unsent message due now with its attempts reset; false when there is no such unsent message. */
  retry(id: string): Promise<boolean>;
  oldestOverdue(): Promise<number | undefined>;
  pendingCount(): Promise<number>;
}

const toSummary = (row: Row): OutboxSummary => ({
  id: String(row.id),
  kind: String(row.kind),
  recipient: String(row.recipient),
  subject: String(row.subject),
  attempts: Number(row.attempts),
  nextAttemptAt: Number(row.next_attempt_at),
  sentAt: optionalNumber(row.sent_at),
  lastError: optionalText(row.last_error),
  smtpResponse: optionalText(row.smtp_response),
  createdAt: Number(row.created_at),
});

export function outboxRepository(database: Database, clock: Clock): OutboxRepository {
  return {
    async insert(executor, { sealedBody, ...message }) {
      const now = clock.now();
      await executor('outbox').insert({ ...message, sealed_body: sealedBody, attempts: 0, next_attempt_at: now, created_at: now });
    },

    async claimDue(limit, claimant, leaseMilliseconds, open) {
      const now = clock.now();
      return database.transaction(async (trx) => {
        const due = trx('outbox')
          .select('*')
          .whereNull('sent_at')
          .where('next_attempt_at', '<=', now)
          .where((query) => query.whereNull('claimed_until').orWhere('claimed_until', '<', now))
          .orderBy('next_attempt_at')
          .limit(limit);
        // PostgreSQL: rows locked by another instance's claim are skipped, not waited for.
        if (databaseClient(database) === 'postgres') due.forUpdate().skipLocked();
        const rows = (await due) as Row[];
        const claimed: Array<ReturnType<typeof open>> = [];
        for (const row of rows) {
          // Conditional on the row still being unclaimed (SQLite has no row locks).
          const updated = await trx('outbox')
            .where({ id: row.id })
            .whereNull('sent_at')
            .where((query) => query.whereNull('claimed_until').orWhere('claimed_until', '<', now))
            .update({ claimed_until: now + leaseMilliseconds, claimed_by: claimant });
          if (updated > 0) claimed.push(open({ ...toSummary(row), sealedBody: String(row.sealed_body) }));
        }
        return claimed;
      });
    },

    async renew(ids, claimant, leaseMilliseconds) {
      if (ids.length === 0) return new Set();
      const now = clock.now();
      const own = () => database('outbox').whereIn('id', ids).where({ claimed_by: claimant }).whereNull('sent_at');
      await own().update({ claimed_until: now + leaseMilliseconds });
      const held = (await own().select('id')) as Array<{ id: string }>;
      return new Set(held.map((row) => String(row.id)));
    },

    async releaseOthers(claimant) {
      return database('outbox')
        .whereNull('sent_at')
        .whereNotNull('claimed_until')
        .where((query) => query.whereNull('claimed_by').orWhereNot('claimed_by', claimant))
        .update({ claimed_until: null, claimed_by: null });
    },

    async markSent(id, serverAnswer) {
      await database('outbox')
        .where({ id })
        .update({ sent_at: clock.now(), claimed_until: null, claimed_by: null, last_error: null, sealed_body: null, smtp_response: serverAnswer?.slice(0, 1000) ?? null });
    },

    async markFailed(id, claimant, error, nextAttemptAt) {
      await database('outbox')
        .where({ id, claimed_by: claimant })
        .whereNull('sent_at')
        .update({ attempts: database.raw('?? + 1', ['attempts']), last_error: error.slice(0, 2000), next_attempt_at: nextAttemptAt, claimed_until: null, claimed_by: null });
    },

    async list(query = {}) {
      const { limit, offset } = pageBounds(query);
      const builder = database('outbox');
      if (query.pending) builder.whereNull('sent_at');
      if (query.recipient) builder.where({ recipient: query.recipient });
      const total = await countOf(builder);
      const rows = (await builder.clone().select('*').orderBy('created_at', 'desc').limit(limit).offset(offset)) as Row[];
      return { items: rows.map(toSummary), total };
    },

    async retry(id) {
      const updated = await database('outbox').where({ id }).whereNull('sent_at').update({ next_attempt_at: clock.now(), claimed_until: null, claimed_by: null, attempts: 0 });
      return updated > 0;
    },

    async oldestOverdue() {
      const row = (await database('outbox').whereNull('sent_at').where('next_attempt_at', '<=', clock.now()).min({ due: 'next_attempt_at' }).first()) as { due: number | string | null } | undefined;
      return optionalNumber(row?.due);
    },

    async pendingCount() {
      return countOf(database('outbox').whereNull('sent_at'));
    },
  };
}
