// Delivers the outbox: claims due messages, sends them, and on failure tries
// again later with exponential backoff, so an SMTP outage delays mail but
// loses none. Message bodies carry secret links and are never logged.
import type { Clock } from '../clock.ts';
import type { Logger } from '../logging.ts';
import type { Outbox, OutboxMessage } from './outbox.ts';
import type { MailTransport } from './transport.ts';

export interface OutboxWorkerOptions {
  outbox: Outbox;
  transport: MailTransport;
  clock: Clock;
  logger: Logger;
  from: string;
  batchSize?: number;
  /** Messages of one batch in flight at once (the SMTP pool's connections). */
  concurrency?: number;
  /** After this many failed attempts a message waits for `outbox retry`. */
  maximumAttempts?: number;
  /** Told of each delivery and failure (metrics). */
  observer?: DeliveryObserver;
}

export interface DeliveryObserver {
  emailSent(kind: string): void;
  emailFailed(kind: string, givenUp: boolean): void;
}

const firstRetryMilliseconds = 30_000;
const longestRetryMilliseconds = 60 * 60 * 1000;

/** 30 s, 1 min, 2 min, … capped at one hour. */
export function retryDelay(attempts: number): number {
  return Math.min(firstRetryMilliseconds * 2 ** attempts, longestRetryMilliseconds);
}

export class OutboxWorker {
  readonly #options: OutboxWorkerOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;
  /** A message was queued while a batch was in hand: run again after it. */
  #runAgain = false;
  #wakeScheduled = false;
  #stopListening: (() => void) | undefined;

  constructor(options: OutboxWorkerOptions) {
    this.#options = options;
  }

  /** Delivers what is due now; resolves with the number of messages sent. */
  runOnce(): Promise<number> {
    this.#running ??= this.#deliverDue().finally(() => {
      this.#running = undefined;
      if (this.#runAgain) {
        this.#runAgain = false;
        this.#wake();
      }
    });
    return this.#running;
  }

  async #deliverDue(): Promise<number> {
    const messages = await this.#options.outbox.claimDue(this.#options.batchSize ?? 20);
    let next = 0;
    let sent = 0;
    // A few deliveries at a time, each on its own SMTP connection of the pool.
    const lanes = Array.from({ length: Math.min(this.#options.concurrency ?? 5, messages.length) }, async () => {
      while (next < messages.length) {
        if (await this.#deliver(messages[next++]!)) sent += 1;
      }
    });
    await Promise.all(lanes);
    return sent;
  }

  /** Sends one message and records the outcome; true when it was sent. */
  async #deliver(message: OutboxMessage): Promise<boolean> {
    const { outbox, transport, clock, logger, from } = this.#options;
    const maximumAttempts = this.#options.maximumAttempts ?? 10;
    try {
      await transport.send({ from, to: message.recipient, subject: message.subject, html: message.html, text: message.text });
      await outbox.markSent(message.id);
      this.#options.observer?.emailSent(message.kind);
      logger.info({ outboxId: message.id, kind: message.kind }, 'email delivered');
      return true;
    } catch (error) {
      const attempts = message.attempts + 1;
      const nextAttemptAt = attempts >= maximumAttempts ? Number.MAX_SAFE_INTEGER : clock.now() + retryDelay(message.attempts);
      await outbox.markFailed(message.id, (error as Error).message ?? String(error), nextAttemptAt);
      this.#options.observer?.emailFailed(message.kind, attempts >= maximumAttempts);
      logger.warn({ outboxId: message.id, kind: message.kind, attempts, err: (error as Error).message }, attempts >= maximumAttempts ? 'email given up' : 'email delivery failed; will retry');
      return false;
    }
  }

  /**
   * Delivers every `intervalMilliseconds` (mail queued by other instances,
   * retries), and at once when this process queues a message: the person
   * waiting for a link should not wait for the next round.
   */
  start(intervalMilliseconds: number): void {
    this.#timer = setInterval(() => this.#runLogged(), intervalMilliseconds);
    this.#timer.unref();
    this.#stopListening = this.#options.outbox.onQueued(() => this.#wake());
  }

  /** Stops the timer and waits for the batch in hand. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#stopListening?.();
    this.#stopListening = undefined;
    this.#runAgain = false;
    await this.#running?.catch(() => undefined);
  }

  #wake(): void {
    if (!this.#timer) return;
    if (this.#running) {
      this.#runAgain = true;
      return;
    }
    // Messages committed in the same turn go out in one batch.
    if (this.#wakeScheduled) return;
    this.#wakeScheduled = true;
    setImmediate(() => {
      this.#wakeScheduled = false;
      this.#runLogged();
    });
  }

  #runLogged(): void {
    this.runOnce().catch((error: unknown) => this.#options.logger.error({ err: error }, 'outbox worker failed'));
  }
}
