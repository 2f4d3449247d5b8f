// Delivers the outbox: claims due messages, keeps the claims alive while it
// sends them (a heartbeat), marks each sent the moment SMTP accepts it, and
// on failure tries again on an explicit backoff schedule, so an SMTP outage
// delays mail but loses none. It remembers whether the mail server is
// failing, for health and metrics. Bodies carry secret links and are never
// logged.
import type { Clock } from '../clock.ts';
import type { Logger } from '../logging.ts';
import { inSpan, SpanKind } from '../spans.ts';
import type { Outbox, OutboxMessage } from './outbox.ts';
import { failureSummary, isRecipientRefusal, type MailTransport } from './transport.ts';

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
  /** When failed attempts are tried again (OUTBOX_RETRY_FIRST, OUTBOX_RETRY_LONGEST). */
  retry?: RetrySchedule;
  /** Told of each delivery and failure (metrics). */
  observer?: DeliveryObserver;
}

export interface DeliveryObserver {
  emailSent(kind: string): void;
  emailFailed(kind: string, givenUp: boolean): void;
  /** After each attempt that says whether the mail server works (a refused recipient says nothing). */
  mailServerUp(up: boolean): void;
}

/** The mail server as the last delivery attempt found it. */
export interface MailServerStatus {
  /** Set while the latest attempts failed: when the first of them did, and why the last did (in a few words, no addresses). */
  failing: { since: number; lastError: string; failedAttempts: number } | undefined;
}

export interface RetrySchedule {
  firstMilliseconds: number;
  longestMilliseconds: number;
}

/** 10 s, 20 s, 40 s, … capped at 5 minutes. */
export const defaultRetrySchedule: RetrySchedule = { firstMilliseconds: 10_000, longestMilliseconds: 5 * 60 * 1000 };

/**
 * The wait after the `attempts + 1`-th failed attempt: the first retry after
 * `firstMilliseconds`, each next wait doubled, none longer than
 * `longestMilliseconds`. Each wait is at most the time already spent failing
 * plus the first, so mail that first failed N ms before the server came back
 * goes out within min(N + first, longest) ms of its return (plus one
 * OUTBOX_INTERVAL round).
 */
export function retryDelay(attempts: number, schedule: RetrySchedule = defaultRetrySchedule): number {
  return Math.min(schedule.firstMilliseconds * 2 ** attempts, schedule.longestMilliseconds);
}

/** The next attempt of a message given up on: never, until `outbox retry`. */
export const givenUpNextAttemptAt = Number.MAX_SAFE_INTEGER;

/** Failed attempts before a message is given up: about 3 hours of retries with the default schedule. */
export const defaultMaximumAttempts = 40;

/** `<outbox id@domain of the sender>`: the Message-ID of every attempt at one message. */
export function messageIdFor(outboxId: string, from: string): string {
  const domain = /@([A-Za-z0-9.-]+)>?\s*$/.exec(from)?.[1] ?? 'mbs-broker.invalid';
  return `<${outboxId}@${domain}>`;
}

export class OutboxWorker {
  readonly #options: OutboxWorkerOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;
  /** A message was queued while a batch was in hand: run again after it. */
  #runAgain = false;
  #wakeScheduled = false;
  #stopListening: (() => void) | undefined;
  #mailServer: MailServerStatus = { failing: undefined };

  constructor(options: OutboxWorkerOptions) {
    this.#options = options;
  }

  /** Whether the latest delivery attempts failed on the mail server (health). */
  mailServerStatus(): MailServerStatus {
    return this.#mailServer;
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
    const { outbox, logger } = this.#options;
    const messages = await outbox.claimDue(this.#options.batchSize ?? 20);
    if (messages.length === 0) return 0;
    // Claims are short; the heartbeat renews those of the batch not done yet.
    // One that passed to another instance (this process stood still past its
    // claim) is left to that instance.
    const unfinished = new Set(messages.map((message) => message.id));
    const heartbeat = setInterval(() => {
      outbox.renew([...unfinished]).then(
        (held) => unfinished.forEach((id) => held.has(id) || unfinished.delete(id)),
        (error: unknown) => logger.warn({ err: error }, 'renewing the outbox claims failed'),
      );
    }, outbox.claimMilliseconds / 3);
    heartbeat.unref();
    let next = 0;
    let sent = 0;
    // A few deliveries at a time, each on its own SMTP connection of the pool.
    const lanes = Array.from({ length: Math.min(this.#options.concurrency ?? 5, messages.length) }, async () => {
      while (next < messages.length) {
        const message = messages[next++]!;
        if (!unfinished.has(message.id)) continue;
        if (await this.#deliver(message)) sent += 1;
        unfinished.delete(message.id);
      }
    });
    try {
      await Promise.all(lanes);
    } finally {
      clearInterval(heartbeat);
    }
    return sent;
  }

  /** Sends one message and records the outcome; true when it was sent. */
  async #deliver(message: OutboxMessage): Promise<boolean> {
    const { outbox, transport, clock, logger, from } = this.#options;
    const maximumAttempts = this.#options.maximumAttempts ?? defaultMaximumAttempts;
    let accepted = false;
    try {
      // The span names the email's kind and attempt, never its recipient or body (the link).
      const envelope = { from, to: message.recipient, subject: message.subject, html: message.html, text: message.text, messageId: messageIdFor(message.id, from) };
      const serverAnswer = await inSpan('smtp send', { kind: SpanKind.CLIENT, attributes: { 'mbs.email.kind': message.kind, 'mbs.email.attempt': message.attempts + 1 } }, () => transport.send(envelope));
      accepted = true;
      // At once, before anything else: until this commits, a crash sends the message again.
      await outbox.markSent(message.id, serverAnswer);
    } catch (error) {
      if (accepted) {
        // Sent, but not recorded: the claim lapses and another attempt repeats the message (same Message-ID).
        logger.error({ outboxId: message.id, err: error }, 'email accepted by SMTP but not marked sent');
        return this.#accepted(message);
      }
      const attempts = message.attempts + 1;
      const nextAttemptAt = attempts >= maximumAttempts ? givenUpNextAttemptAt : clock.now() + retryDelay(message.attempts, this.#options.retry);
      const reason = error instanceof Error ? error.message : String(error);
      await outbox.markFailed(message.id, reason, nextAttemptAt);
      this.#options.observer?.emailFailed(message.kind, attempts >= maximumAttempts);
      if (!isRecipientRefusal(error)) this.#mailServerAnswered(false, failureSummary(error));
      logger.warn({ outboxId: message.id, kind: message.kind, attempts, err: reason }, attempts >= maximumAttempts ? 'email given up' : 'email delivery failed; will retry');
      return false;
    }
    return this.#accepted(message);
  }

  #accepted(message: OutboxMessage): true {
    this.#mailServerAnswered(true);
    this.#options.observer?.emailSent(message.kind);
    this.#options.logger.info({ outboxId: message.id, kind: message.kind }, 'email delivered');
    return true;
  }

  #mailServerAnswered(up: boolean, reason = ''): void {
    const failing = this.#mailServer.failing;
    this.#mailServer = { failing: up ? undefined : { since: failing?.since ?? this.#options.clock.now(), lastError: reason, failedAttempts: (failing?.failedAttempts ?? 0) + 1 } };
    this.#options.observer?.mailServerUp(up);
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
      // Not once stopped meanwhile.
      if (this.#timer) this.#runLogged();
    });
  }

  #runLogged(): void {
    this.runOnce().catch((error: unknown) => this.#options.logger.error({ err: error }, 'outbox worker failed'));
  }
}
