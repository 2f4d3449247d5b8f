// The outbox table: queue a rendered message in the caller's transaction,
// claim due messages (no two workers take the same row), record the outcome.
// Bodies are sealed at rest (they carry association links) and dropped once
// SMTP accepted the message; kind, recipient, subject and the delivery
// record stay for `outbox list` and the admin API.
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Clock } from '../clock.ts';
import { notFound } from '../errors.ts';
import type { Database } from '../store/database.ts';
import { databaseClient } from '../store/database.ts';
import type { Page, PageRequest } from '../store/records.ts';
import { countOf, optionalNumber, optionalText, pageBounds, type Executor, type Row } from '../store/rows.ts';
import type { Sealer } from '../sealing.ts';
import { openBodies, outboxSealer, sealBodies } from './sealedMessage.ts';

export interface OutgoingMessage {
  kind: string;
  recipient: string;
  subject: string;
  html: string;
  text: string;
}

/** A message as listed: everything but its bodies (which may be gone: delivered). */
export interface OutboxSummary extends Omit<OutgoingMessage, 'html' | 'text'> {
  id: string;
  attempts: number;
  nextAttemptAt: number;
  sentAt: number | undefined;
  lastError: string | undefined;
  createdAt: number;
}

/** A message claimed for delivery, its bodies opened. */
export interface OutboxMessage extends OutboxSummary, OutgoingMessage {}

/**
 * How long a claim lasts unless renewed, by default: short, so that the mail
 * of an instance that died goes out through another within seconds. The
 * worker renews the claims of the batch in hand every third of this while it
 * delivers (a heartbeat), however long the SMTP server takes.
 */
export const defaultClaimMilliseconds = 5_000;

export interface OutboxOptions {
  /** OUTBOX_CLAIM_TIMEOUT: how long a claim lasts unless renewed. */
  claimMilliseconds?: number;
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
  createdAt: Number(row.created_at),
});

/** Opens the bodies; a wrong KEY_ENCRYPTION_KEY is a clear error, never garbage sent. */
const toMessage = (row: Row, sealer: Sealer): OutboxMessage => ({ ...toSummary(row), ...openBodies(sealer, String(row.id), String(row.sealed_body)) });

export class Outbox {
  readonly #database: Database;
  readonly #clock: Clock;
  readonly #claimMilliseconds: number;
  readonly #sealer: Sealer;
  /** Written into `claimed_by` of every row this outbox claims: one per process. */
  readonly instanceId = randomUUID();
  readonly #queuedListeners = new Set<() => void>();

  /** `keyEncryptionKey`: KEY_ENCRYPTION_KEY (or the development key), under which bodies are sealed. */
  constructor(database: Database, clock: Clock, keyEncryptionKey: string, options: OutboxOptions = {}) {
    this.#database = database;
    this.#clock = clock;
    this.#sealer = outboxSealer(keyEncryptionKey);
    this.#claimMilliseconds = options.claimMilliseconds ?? defaultClaimMilliseconds;
  }

  /** How long a claim lasts unless renewed. */
  get claimMilliseconds(): number {
    return this.#claimMilliseconds;
  }

  /** Queues a message; pass the caller's transaction so it commits with the decision to send. */
  async queue(executor: Executor, message: OutgoingMessage): Promise<string> {
    const id = randomUUID();
    const now = this.#clock.now();
    const { html, text, ...metadata } = message;
    await executor('outbox').insert({ id, ...metadata, sealed_body: sealBodies(this.#sealer, id, { html, text }), attempts: 0, next_attempt_at: now, created_at: now });
    // Listeners hear of it once it is committed: a rolled-back message was never queued.
    const committed = executor.isTransaction ? (executor as Knex.Transaction).executionPromise : Promise.resolve();
    committed.then(
      () => this.#queuedListeners.forEach((listener) => listener()),
      () => undefined,
    );
    return id;
  }

  /**
   * Calls `listener` each time a message this process queued is committed,
   * so its worker delivers at once instead of at its next round. Returns the
   * function that stops the calls.
   */
  onQueued(listener: () => void): () => void {
    this.#queuedListeners.add(listener);
    return () => this.#queuedListeners.delete(listener);
  }

  /** Reserves up to `limit` due, unsent messages for the caller. */
  async claimDue(limit: number): Promise<OutboxMessage[]> {
    const now = this.#clock.now();
    return this.#database.transaction(async (trx) => {
      const due = trx('outbox')
        .select('*')
        .whereNull('sent_at')
        .where('next_attempt_at', '<=', now)
        .where((query) => query.whereNull('claimed_until').orWhere('claimed_until', '<', now))
        .orderBy('next_attempt_at')
        .limit(limit);
      // PostgreSQL: rows locked by another instance's claim are skipped, not waited for.
      if (databaseClient(this.#database) === 'postgres') due.forUpdate().skipLocked();
      const rows = (await due) as Row[];
      const claimed: OutboxMessage[] = [];
      for (const row of rows) {
        // Conditional on the row still being unclaimed (SQLite has no row locks).
        const updated = await trx('outbox')
          .where({ id: row.id })
          .whereNull('sent_at')
          .where((query) => query.whereNull('claimed_until').orWhere('claimed_until', '<', now))
          .update({ claimed_until: now + this.#claimMilliseconds, claimed_by: this.instanceId });
        if (updated > 0) claimed.push(toMessage(row, this.#sealer));
      }
      return claimed;
    });
  }

  /**
   * Extends this process's claims on `ids` by a full claim; returns the ids
   * it still holds (a claim that lapsed, say while the process stood still,
   * may have been taken by another instance: that one delivers it). A lapsed
   * claim nobody took is still this process's and is extended.
   */
  async renew(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const now = this.#clock.now();
    const own = () => this.#database('outbox').whereIn('id', ids).where({ claimed_by: this.instanceId }).whereNull('sent_at');
    await own().update({ claimed_until: now + this.#claimMilliseconds });
    const held = (await own().select('id')) as Array<{ id: string }>;
    return new Set(held.map((row) => String(row.id)));
  }

  /**
   * Releases, at start, the claims of unsent messages held by any other
   * process — on SQLite only, where one process serves the file: those
   * claims are its dead predecessor's, and waiting for them to lapse would
   * only delay the mail. On PostgreSQL another instance may be alive and
   * delivering; its claims lapse by themselves if it is not.
   */
  async releaseClaimsOfPredecessor(): Promise<number> {
    if (databaseClient(this.#database) !== 'sqlite') return 0;
    return this.#database('outbox')
      .whereNull('sent_at')
      .whereNotNull('claimed_until')
      .where((query) => query.whereNull('claimed_by').orWhereNot('claimed_by', this.instanceId))
      .update({ claimed_until: null, claimed_by: null });
  }

  /**
   * Records the delivery and drops the bodies: a delivered link has no
   * business on the disk. One statement, run the moment SMTP accepted, so
   * that a crash between acceptance and this commit (the one window in
   * which a message can go out twice) stays as short as a commit.
   */
  async markSent(id: string): Promise<void> {
    await this.#database('outbox').where({ id }).update({ sent_at: this.#clock.now(), claimed_until: null, claimed_by: null, last_error: null, sealed_body: null });
  }

  /** Records a failed attempt, unless the claim passed to another instance meanwhile (that one's record counts). */
  async markFailed(id: string, error: string, nextAttemptAt: number): Promise<void> {
    await this.#database('outbox')
      .where({ id, claimed_by: this.instanceId })
      .whereNull('sent_at')
      .update({ attempts: this.#database.raw('?? + 1', ['attempts']), last_error: error.slice(0, 2000), next_attempt_at: nextAttemptAt, claimed_until: null, claimed_by: null });
  }

  async list(query: PageRequest & { pending?: boolean } = {}): Promise<Page<OutboxSummary>> {
    const { limit, offset } = pageBounds(query);
    const builder = this.#database('outbox');
    if (query.pending) builder.whereNull('sent_at');
    const total = await countOf(builder);
    const rows = (await builder.clone().select('*').orderBy('created_at', 'desc').limit(limit).offset(offset)) as Row[];
    return { items: rows.map(toSummary), total };
  }

  /** Makes an unsent message due now (after an outage, or once given up on). */
  async retry(id: string): Promise<void> {
    const updated = await this.#database('outbox').where({ id }).whereNull('sent_at').update({ next_attempt_at: this.#clock.now(), claimed_until: null, claimed_by: null, attempts: 0 });
    if (updated === 0) throw notFound(`No unsent message with id ${id}`);
  }

  /**
   * When the longest-overdue unsent message fell due, if any: a message due
   * long ago means no worker is delivering (given-up messages do not count).
   */
  async oldestOverdue(): Promise<number | undefined> {
    const row = (await this.#database('outbox').whereNull('sent_at').where('next_attempt_at', '<=', this.#clock.now()).min({ due: 'next_attempt_at' }).first()) as { due: number | string | null } | undefined;
    return row?.due === null || row?.due === undefined ? undefined : Number(row.due);
  }

  /** Unsent messages: the depth an operator watches. */
  async pendingCount(): Promise<number> {
    return countOf(this.#database('outbox').whereNull('sent_at'));
  }
}
