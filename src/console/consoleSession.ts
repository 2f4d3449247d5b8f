// The console's own session, apart from the broker session and from admin
// API tokens: a cookie signed with the broker's cookie keys, scoped to
// /admin, holding the admin's account, when they last signed in at the
// upstream and when they were last seen. It ends after the idle timeout;
// every request it passes renews it. Roles are read from the database on
// every request, so a revoked admin is out at their next click.
import type { Context } from 'koa';
import type { Clock } from '../clock.ts';

export interface ConsoleSession {
  accountId: string;
  /** When the admin last signed in at the upstream (the broker session's auth time), on the clock. */
  authenticatedAt: number;
  lastSeenAt: number;
}

export const consoleSessionCookie = 'mbs_console';
export const consolePath = '/admin';

export class ConsoleSessions {
  readonly #clock: Clock;
  readonly #idleMilliseconds: number;

  constructor(clock: Clock, idleMilliseconds: number) {
    this.#clock = clock;
    this.#idleMilliseconds = idleMilliseconds;
  }

  /** Opens a session for the account (after the callback). */
  open(ctx: Context, accountId: string, authenticatedAt: number): ConsoleSession {
    const session = { accountId, authenticatedAt, lastSeenAt: this.#clock.now() };
    this.#write(ctx, session);
    return session;
  }

  /** The session of this browser, renewed; undefined when there is none or it has been idle too long. */
  resume(ctx: Context): ConsoleSession | undefined {
    const stored = this.#read(ctx);
    if (!stored) return undefined;
    const now = this.#clock.now();
    if (now - stored.lastSeenAt > this.#idleMilliseconds) {
      this.close(ctx);
      return undefined;
    }
    const renewed = { ...stored, lastSeenAt: now };
    this.#write(ctx, renewed);
    return renewed;
  }

  close(ctx: Context): void {
    ctx.cookies.set(consoleSessionCookie, null, { path: consolePath });
  }

  #write(ctx: Context, session: ConsoleSession): void {
    const value = Buffer.from(JSON.stringify([session.accountId, session.authenticatedAt, session.lastSeenAt])).toString('base64url');
    ctx.cookies.set(consoleSessionCookie, value, { signed: true, httpOnly: true, sameSite: 'lax', path: consolePath, maxAge: this.#idleMilliseconds, secure: ctx.secure });
  }

  #read(ctx: Context): ConsoleSession | undefined {
    const value = ctx.cookies.get(consoleSessionCookie, { signed: true });
    if (!value) return undefined;
    try {
      const [accountId, authenticatedAt, lastSeenAt] = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as unknown[];
      if (typeof accountId !== 'string' || typeof authenticatedAt !== 'number' || typeof lastSeenAt !== 'number') return undefined;
      return { accountId, authenticatedAt, lastSeenAt };
    } catch {
      return undefined;
    }
  }
}
