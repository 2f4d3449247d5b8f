// A real SMTP server (the smtp-server package) on a loopback port that keeps
// what it receives, and can be stopped and started again to play an outage,
// hold its answer to DATA (a delivery in flight), or act the moment it has
// accepted a message (a crash right after the 250).
import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';

export interface ReceivedMail {
  to: string;
  subject: string;
  html: string;
  text: string;
  messageId: string;
  /** When the server answered 250 (Date.now()). */
  acceptedAt: number;
}

export class TestSmtpServer {
  readonly received: ReceivedMail[] = [];
  readonly port: number;
  /** The most client connections open at one time. */
  peakConnections = 0;
  /**
   * While true, the server reads each message but keeps the client waiting
   * for its answer to DATA until `release()`; a message whose client hung up
   * meanwhile was never accepted and is not kept.
   */
  holding = false;
  /** Called right after the server answered 250 to a message. */
  onAccepted: ((mail: ReceivedMail) => void) | undefined;
  #openConnections = 0;
  #server: SMTPServer | undefined;
  readonly #held: Array<{ sessionId: string; accept: () => void }> = [];
  readonly #closedSessions = new Set<string>();

  constructor(port: number) {
    this.port = port;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  /** Messages whose answer is held. */
  get heldCount(): number {
    return this.#held.length;
  }

  /** How many held messages' clients hung up. */
  get heldAbandoned(): number {
    return this.#held.filter((held) => this.#closedSessions.has(held.sessionId)).length;
  }

  /** Stops holding and answers the held messages (250 to the clients still there). */
  release(): void {
    this.holding = false;
    for (const held of this.#held.splice(0)) held.accept();
  }

  async start(): Promise<void> {
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      // Stopping plays an outage: connections still open are cut (421) at once, not after 30 s.
      closeTimeout: 500,
      onConnect: (_session, callback) => {
        this.#openConnections += 1;
        this.peakConnections = Math.max(this.peakConnections, this.#openConnections);
        callback();
      },
      onClose: (session) => {
        this.#openConnections -= 1;
        this.#closedSessions.add(session.id);
      },
      onData: (stream, session, callback) => {
        simpleParser(stream)
          .then((mail) => {
            const to = Array.isArray(mail.to) ? mail.to.map((address) => address.text).join(', ') : (mail.to?.text ?? '');
            const accept = () => {
              if (this.#closedSessions.has(session.id)) return callback(new Error('client gone'));
              callback();
              const received = { to, subject: mail.subject ?? '', html: typeof mail.html === 'string' ? mail.html : '', text: mail.text ?? '', messageId: mail.messageId ?? '', acceptedAt: Date.now() };
              this.received.push(received);
              this.onAccepted?.(received);
            };
            if (this.holding) this.#held.push({ sessionId: session.id, accept });
            else accept();
          })
          .catch((error: Error) => callback(error));
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    // A client killed mid-session resets its connection: expected here, not a failure of the test.
    server.on('error', () => undefined);
    this.#server = server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
