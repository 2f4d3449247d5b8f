// Delivers the outbox: claims due messages, sends them, and on failure tries
// again later with exponential backoff, so an SMTP outage delays mail but
// loses none. Message bodies carry secret links and are never logged.
import type { Clock } from '../clock.ts';
import type { Logger } from '../logging.ts';
import type { Outbox } from './outbox.ts';
import type { MailTransport } from './transport.ts';

export interface OutboxWorkerOptions {
  outbox: Outbox;
  transport: MailTransport;
  clock: Clock;
  logger: Logger;
  from: string;
  batchSize?: number;
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

  constructor(options: OutboxWorkerOptions) {
    this.#options = options;
  }

  /** Delivers what is due now; resolves with the number of messages sent. */
  runOnce(): Promise<number> {
    this.#running ??= this.#deliverDue().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #deliverDue(): Promise<number> {
    const { outbox, transport, clock, logger, from } = this.#options;
    const maximumAttempts = this.#options.maximumAttempts ?? 10;
    const messages = await outbox.claimDue(this.#options.batchSize ?? 20);
    let sent = 0;
    for (const message of messages) {
      try {
        await transport.send({ from, to: message.recipient, subject: message.subject, html: message.html, text: message.text });
        await outbox.markSent(message.id);
        sent += 1;
        this.#options.observer?.emailSent(message.kind);
        logger.info({ outboxId: message.id, kind: message.kind }, 'email delivered');
      } catch (error) {
        const attempts = message.attempts + 1;
        const nextAttemptAt = attempts >= maximumAttempts ? Number.MAX_SAFE_INTEGER : clock.now() + retryDelay(message.attempts);
        await outbox.markFailed(message.id, (error as Error).message ?? String(error), nextAttemptAt);
        this.#options.observer?.emailFailed(message.kind, attempts >= maximumAttempts);
        logger.warn({ outboxId: message.id, kind: message.kind, attempts, err: (error as Error).message }, attempts >= maximumAttempts ? 'email given up' : 'email delivery failed; will retry');
      }
    }
    return sent;
  }

  start(intervalMilliseconds: number): void {
    this.#timer = setInterval(() => {
      this.runOnce().catch((error: unknown) => this.#options.logger.error({ err: error }, 'outbox worker failed'));
    }, intervalMilliseconds);
    this.#timer.unref();
  }

  /** Stops the timer and waits for the batch in hand. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => undefined);
  }
}
