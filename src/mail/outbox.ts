// The outbox as the mail room uses it: queue a rendered message in the
// caller's transaction, claim due messages for delivery, record the outcome.
// Bodies are sealed at rest here (they carry association links) and opened
// only for delivery; the rows themselves, their leases and the operators'
// queries are the store's (src/store/outboxRepository.ts). Once SMTP
// accepted a message its body is dropped; kind, recipient, subject and the
// delivery record stay for `outbox list` and the admin API.
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Clock } from '../clock.ts';
import { notFound } from '../errors.ts';
import type { Database } from '../store/database.ts';
import { databaseClient } from '../store/database.ts';
import { outboxRepository, type OutboxRepository, type OutboxSummary } from '../store/outboxRepository.ts';
import type { Page, PageRequest } from '../domain/records.ts';
import type { Executor } from '../store/rows.ts';
import type { Sealer } from '../sealing.ts';
import { openBodies, outboxSealer, sealBodies } from './sealedMessage.ts';

export type { OutboxSummary } from '../store/outboxRepository.ts';

export interface OutgoingMessage {
  kind: string;
  recipient: string;
  subject: string;
  html: string;
  text: string;
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

export class Outbox {
  readonly #database: Database;
  readonly #rows: OutboxRepository;
  readonly #claimMilliseconds: number;
  readonly #sealer: Sealer;
  /** Written into `claimed_by` of every row this outbox claims: one per process. */
  readonly instanceId = randomUUID();
  readonly #queuedListeners = new Set<() => void>();

  /** `keyEncryptionKey`: KEY_ENCRYPTION_KEY (or the development key), under which bodies are sealed. */
  constructor(database: Database, clock: Clock, keyEncryptionKey: string, options: OutboxOptions = {}) {
    this.#database = database;
    this.#rows = outboxRepository(database, clock);
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
    const { html, text, ...metadata } = message;
    await this.#rows.insert(executor, { id, ...metadata, sealedBody: sealBodies(this.#sealer, id, { html, text }) });
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

  /** Reserves up to `limit` due, unsent messages for the caller, bodies opened. */
  async claimDue(limit: number): Promise<OutboxMessage[]> {
    // Opened in the claiming transaction: a wrong KEY_ENCRYPTION_KEY is a
    // clear error, never garbage sent, and leaves the messages unclaimed.
    return this.#rows.claimDue(limit, this.instanceId, this.#claimMilliseconds, ({ sealedBody, ...summary }): OutboxMessage => ({ ...summary, ...openBodies(this.#sealer, summary.id, sealedBody) }));
  }

  /**
   * Extends this process's claims on `ids` by a full claim; returns the ids
   * it still holds (a claim that lapsed, say while the process stood still,
   * may have been taken by another instance: that one delivers it). A lapsed
   * claim nobody took is still this process's and is extended.
   */
  async renew(ids: readonly string[]): Promise<Set<string>> {
    return this.#rows.renew(ids, this.instanceId, this.#claimMilliseconds);
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
    return this.#rows.releaseOthers(this.instanceId);
  }

  /**
   * Records the delivery and drops the bodies: a delivered link has no
   * business on the disk; the SMTP server's reply line stays (the support
   * desk's "it was accepted as …"). One statement, run the moment SMTP accepted, so
   * that a crash between acceptance and this commit (the one window in
   * which a message can go out twice) stays as short as a commit.
   */
  async markSent(id: string, serverAnswer?: string): Promise<void> {
    await this.#rows.markSent(id, serverAnswer);
  }

  /** Records a failed attempt, unless the claim passed to another instance meanwhile (that one's record counts). */
  async markFailed(id: string, error: string, nextAttemptAt: number): Promise<void> {
    await this.#rows.markFailed(id, this.instanceId, error, nextAttemptAt);
  }

  async list(query: PageRequest & { pending?: boolean; recipient?: string } = {}): Promise<Page<OutboxSummary>> {
    return this.#rows.list(query);
  }

  /** Makes an unsent message due now (after an outage, or once given up on). */
  async retry(id: string): Promise<void> {
    if (!(await this.#rows.retry(id))) throw notFound('error.message_not_found', { messageValues: { id } });
  }

  /**
   * When the longest-overdue unsent message fell due, if any: a message due
   * long ago means no worker is delivering (given-up messages do not count).
   */
  async oldestOverdue(): Promise<number | undefined> {
    return this.#rows.oldestOverdue();
  }

  /** Unsent messages: the depth an operator watches. */
  async pendingCount(): Promise<number> {
    return this.#rows.pendingCount();
  }
}
