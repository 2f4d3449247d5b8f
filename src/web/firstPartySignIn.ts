// The broker signing people in to its own pages (the account page, the admin
// console): an authorization request of one of the broker's first-party
// clients to its own provider (PKCE S256, a state held in a signed cookie
// scoped to the pages' path), the callback that checks that state, and
// reading who the broker session says is signed in. The pages read the
// session, not tokens: the code at the callback is left to expire unused.
import { createHash } from 'node:crypto';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { BrokerError } from '../errors.ts';
import { generateSecret } from '../secrets.ts';

export interface FirstPartySignInOptions {
  provider: Provider;
  issuer: string;
  /** The broker's own client these pages sign in through. */
  clientId: string;
  /** The path the pages live under; the state cookie is scoped to it and `returnTo` must stay below it. */
  basePath: string;
  /** Registered as the client's redirect URI (below `basePath`). */
  callbackPath: string;
}

/** What the broker session says of the person in this browser. */
export interface BrokerSessionReading {
  accountId: string;
  /** When they last signed in at the upstream, epoch milliseconds. */
  authenticatedAt: number | undefined;
}

export interface SignInRequest {
  /** Extra authorization parameters (mbs_action, max_age, prompt, ui_locales). */
  parameters?: Record<string, string>;
  /** Where the callback sends the browser back to (a path below `basePath`). */
  returnTo?: string;
}

/** How long a person may take between starting the sign-in and its callback. */
const stateMilliseconds = 15 * 60 * 1000;

export class FirstPartySignIn {
  readonly #options: FirstPartySignInOptions;
  readonly #stateCookie: string;

  constructor(options: FirstPartySignInOptions) {
    this.#options = options;
    this.#stateCookie = `mbs_${options.clientId.replace(/[^A-Za-z0-9]/g, '_')}_state`;
  }

  get callbackUri(): string {
    return `${this.#options.issuer}${this.#options.callbackPath}`;
  }

  /** Sends the browser to the broker's authorization endpoint as the first-party client. */
  start(ctx: Context, request: SignInRequest = {}): void {
    const { issuer, clientId, basePath } = this.#options;
    const state = generateSecret(24);
    const verifier = generateSecret(32);
    const url = new URL('/auth', issuer);
    url.search = new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      scope: 'openid',
      redirect_uri: this.callbackUri,
      state,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      ...request.parameters,
    }).toString();
    const returnTo = this.#safeReturn(request.returnTo);
    ctx.cookies.set(this.#stateCookie, `${state}.${Buffer.from(returnTo).toString('base64url')}`, { signed: true, httpOnly: true, sameSite: 'lax', path: basePath, maxAge: stateMilliseconds });
    ctx.redirect(url.href);
  }

  /** The callback: checks the state this browser was given and returns where to go back to. */
  finish(ctx: Context): string {
    const stored = ctx.cookies.get(this.#stateCookie, { signed: true });
    ctx.cookies.set(this.#stateCookie, null, { path: this.#options.basePath });
    const [expected, encodedReturn] = (stored ?? '').split('.');
    if (!expected || ctx.query.state !== expected) {
      throw new BrokerError('session_expired', 'error.session_expired', { detail: `${this.#options.clientId} state mismatch` });
    }
    return this.#safeReturn(Buffer.from(encodedReturn ?? '', 'base64url').toString('utf8'));
  }

  /** Who the broker session of this browser belongs to, if anyone. */
  async session(ctx: Context): Promise<BrokerSessionReading | undefined> {
    const { provider } = this.#options;
    const session = await provider.Session.get(ctx as unknown as Parameters<typeof provider.Session.get>[0]);
    if (!session.accountId) return undefined;
    const authTime = session.authTime();
    return { accountId: session.accountId, authenticatedAt: typeof authTime === 'number' ? authTime * 1000 : undefined };
  }

  /** Only a plain path below the pages' own path, never another site (`//host`) or a backslash trick. */
  #safeReturn(returnTo: string | undefined): string {
    const { basePath } = this.#options;
    if (!returnTo || !returnTo.startsWith(basePath) || /[\\\s]/.test(returnTo) || returnTo.startsWith('//')) return basePath;
    const rest = returnTo.slice(basePath.length);
    return rest === '' || rest.startsWith('/') || rest.startsWith('?') ? returnTo : basePath;
  }
}
