// Where delivered mail goes: an SMTP server (nodemailer), or, without
// SMTP_URL, the dev mailbox that keeps messages in memory to be read.
import nodemailer from 'nodemailer';

export interface MailEnvelope {
  from: string;
  to: string;
  subject: string;
  html: string;
  text: string;
  /** `<outbox id@sender's domain>`: the same on every attempt, so a repeat is recognizable downstream. */
  messageId: string;
}

export interface MailTransport {
  /** Resolves with the server's reply line when it accepted the message (`250 2.0.0 Ok: queued as …`), for the support desk. */
  send(message: MailEnvelope): Promise<string | undefined>;
  close(): void;
}

/**
 * Whether a failed send says something about this one message (the server
 * refused its recipient) rather than about the mail server (unreachable,
 * silent, refusing everything).
 */
export function isRecipientRefusal(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'EENVELOPE';
}

/**
 * A failed send in a few words fit for a public health answer: nodemailer's
 * error code, the SMTP command, the system error and the SMTP reply code
 * (`ESOCKET CONN ECONNREFUSED`, `EAUTH AUTH PLAIN 535`), never the message
 * itself, which may name hosts, addresses and recipients.
 */
export function failureSummary(error: unknown): string {
  if (typeof error !== 'object' || error === null) return 'failed';
  const { code, command, responseCode, message } = error as { code?: unknown; command?: unknown; responseCode?: unknown; message?: unknown };
  const systemCode = typeof message === 'string' ? /\bE[A-Z]{3,}\b/.exec(message)?.[0] : undefined;
  const parts = [code, command, systemCode === code ? undefined : systemCode, responseCode].filter((part) => typeof part === 'string' || typeof part === 'number');
  return parts.length > 0 ? parts.join(' ') : 'failed';
}

/**
 * Bounded waits (nodemailer's defaults allow minutes): a delivery ends, one
 * way or the other, within a minute, and the batch behind it is not held up
 * for longer (its claims are renewed meanwhile).
 */
export const smtpTimeouts = { connectionTimeout: 15_000, greetingTimeout: 15_000, socketTimeout: 30_000 } as const;

/**
 * Connections kept open to the SMTP server, each carrying up to 100
 * messages before it is renewed: the outbox worker delivers this many
 * messages at once, without a new connection and greeting per message.
 * URL parameters (`?pool=false`, `?maxConnections=2`) override these.
 */
export const smtpPool = { pool: true, maxConnections: 5, maxMessages: 100 } as const;

export function createSmtpTransport(url: string): MailTransport {
  const transporter = nodemailer.createTransport({ url, ...smtpPool, ...smtpTimeouts });
  return {
    async send(message) {
      const accepted = (await transporter.sendMail(message)) as { response?: unknown };
      return typeof accepted.response === 'string' ? accepted.response : undefined;
    },
    close: () => transporter.close(),
  };
}

export interface DeliveredMessage extends MailEnvelope {
  deliveredAt: number;
}

/** Keeps the latest messages in memory (development and tests); nothing leaves the process. */
export class DevMailbox implements MailTransport {
  readonly #messages: DeliveredMessage[] = [];
  readonly #capacity: number;

  constructor(capacity = 500) {
    this.#capacity = capacity;
  }

  async send(message: MailEnvelope): Promise<string> {
    this.#messages.unshift({ ...message, deliveredAt: Date.now() });
    this.#messages.length = Math.min(this.#messages.length, this.#capacity);
    return '250 kept in the dev mailbox';
  }

  /** Newest first. */
  messages(): DeliveredMessage[] {
    return [...this.#messages];
  }

  close(): void {}
}
