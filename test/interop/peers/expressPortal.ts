// A portal written with Express and Auth0's express-openid-connect, as a
// confidential web client of the MBS identity broker (the relying party of
// test/interop/express.test.ts), run as its own process like a deployed portal.
//
// Everything OpenID Connect is the middleware's, set only through its
// documented options: discovery, authorization code with PKCE S256,
// client_secret_basic, the ID token (signature against the JWKS, issuer,
// audience, nonce), `req.oidc.user`, `req.oidc.fetchUserInfo()`, the refresh
// of an expired access token (`accessToken.isExpired()`/`refresh()`),
// RP-initiated logout (`idpLogout`) and back-channel logout
// (`backchannelLogout`, whose logout entries need a store).
//
// Configured by environment: ISSUER, CLIENT_ID, CLIENT_SECRET, SECRET, PORT,
// PORTAL_NAME. Prints one line per request (method, path without query,
// status) for the test to read.
import { createHash } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import openid from 'express-openid-connect';

// A CommonJS module whose exports Node cannot name statically.
const { auth, requiresAuth } = openid;

const environment = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const name = environment('PORTAL_NAME');
const port = Number(environment('PORT'));
const origin = `http://127.0.0.1:${port}`;
// Cookies ignore ports: two portals on one host need their own cookie names.
const cookiePrefix = name.toLowerCase().replace(/[^a-z0-9]/g, '');

/** A logout entry the middleware keeps until the session it ends would have expired. */
interface LogoutEntry {
  cookie: { expires: number };
}

/**
 * The back-channel logout store, in this process's memory: the middleware
 * keeps an entry per logged-out `sid` and `sub` and compares every session
 * with them. (Its methods are async and name no callback, which is how the
 * middleware tells a promise-returning store from a callback one.)
 */
class LogoutStore {
  readonly #entries = new Map<string, LogoutEntry>();

  async get(key: string): Promise<LogoutEntry | undefined> {
    const entry = this.#entries.get(key);
    if (entry && entry.cookie.expires < Date.now()) this.#entries.delete(key);
    return this.#entries.get(key);
  }

  async set(key: string, entry: LogoutEntry): Promise<void> {
    this.#entries.set(key, entry);
  }

  async destroy(key: string): Promise<void> {
    this.#entries.delete(key);
  }
}

const escapeHtml = (value: unknown): string => String(value ?? '').replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
const page = (body: string) => `<!doctype html><html lang="en"><title>${escapeHtml(name)}</title><main>${body}</main></html>`;
/** A claim as text: arrays of strings joined with commas, anything else as JSON. */
const claimText = (value: unknown): string =>
  typeof value === 'string' ? value : Array.isArray(value) && value.every((item) => typeof item === 'string') ? value.join(',') : JSON.stringify(value);
const claimList = (prefix: string, claims: Record<string, unknown>) =>
  Object.entries(claims)
    .map(([claim, value]) => `<dt>${escapeHtml(claim)}</dt><dd id="${prefix}-${escapeHtml(claim)}">${escapeHtml(claimText(value))}</dd>`)
    .join('');

let refreshes = 0;
const app = express();

app.use((request: Request, response: Response, next: NextFunction) => {
  response.on('finish', () => console.log(`${request.method} ${request.path} ${response.statusCode}`));
  next();
});

app.use(
  auth({
    issuerBaseURL: environment('ISSUER'),
    baseURL: origin,
    clientID: environment('CLIENT_ID'),
    clientSecret: environment('CLIENT_SECRET'),
    clientAuthMethod: 'client_secret_basic',
    secret: environment('SECRET'),
    authRequired: false,
    authorizationParams: {
      response_type: 'code',
      scope: 'openid email profile mbs_profiles offline_access',
      // The broker grants offline_access (a refresh token) only with prompt=consent;
      // first-party portals see no consent screen.
      prompt: 'consent',
    },
    idpLogout: true,
    routes: { postLogoutRedirect: '/signed-out' },
    session: { name: `${cookiePrefix}_session` },
    transactionCookie: { name: `${cookiePrefix}_auth_verification` },
    backchannelLogout: { store: new LogoutStore() },
  }),
);

app.get('/', requiresAuth(), async (request: Request, response: Response) => {
  let accessToken = request.oidc.accessToken;
  if (accessToken?.isExpired()) {
    accessToken = await accessToken.refresh();
    refreshes += 1;
  }
  const userinfo = await request.oidc.fetchUserInfo();
  const expiresAt = Math.floor(Date.now() / 1000) + (accessToken?.expires_in ?? 0);
  response.set('cache-control', 'no-store').send(
    page(
      `<h1>${escapeHtml(name)}: signed in</h1>` +
        `<p id="access-token">${accessToken ? createHash('sha256').update(accessToken.access_token).digest('hex').slice(0, 16) : ''}</p>` +
        `<p id="expires-at">${expiresAt}</p>` +
        `<p id="refreshes">${refreshes}</p>` +
        `<h2>req.oidc.user</h2><dl id="user">${claimList('user', request.oidc.user ?? {})}</dl>` +
        `<h2>req.oidc.fetchUserInfo()</h2><dl id="userinfo">${claimList('userinfo', userinfo)}</dl>` +
        `<a id="sign-out" href="/logout">Sign out</a>`,
    ),
  );
});

app.get('/signed-out', (_request: Request, response: Response) => {
  response.send(page(`<h1>Signed out of ${escapeHtml(name)}</h1><a id="sign-in" href="/login">Sign in</a>`));
});

app.get('/healthz', (_request: Request, response: Response) => {
  response.json({ ok: true });
});

// The middleware's errors (a failed callback, a refused refresh) as a short page, logged in full.
app.use((error: Error & { status?: number }, _request: Request, response: Response, _next: NextFunction) => {
  console.error(error);
  response.status(error.status ?? 500).send(page(`<h1>${escapeHtml(name)}: error</h1><p id="error">${escapeHtml(error.message)}</p>`));
});

app.listen(port, '127.0.0.1', () => console.log(`${name} on ${origin}`));
