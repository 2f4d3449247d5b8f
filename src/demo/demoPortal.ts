// A small stand-in for PartnerSource or CustomerSource, run beside the broker
// in development so a newcomer can walk the whole journey in a browser: a
// confidential openid-client relying party (authorization code + PKCE) that
// shows the signed-in person's MBS profiles, the one picked for this sign-in
// (`mbs_profile`) with a "switch profile" link (prompt=select_account), asks
// the broker to add a profile (mbs_action=associate_profile, as a real portal
// would) and signs out through the broker.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa, { type Context } from 'koa';
import * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { portalBranding } from '../directory/portals.ts';
import type { Logger } from '../logging.ts';
import { actionRefusedPage, escapeHtml, messagePage, profilesPage, welcomePage } from './demoPortalPages.ts';
import type { Portal } from '../domain/records.ts';

export interface DemoPortalOptions {
  portal: Portal;
  /** The broker's issuer. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Where this portal is reached, e.g. http://localhost:3001. */
  baseUrl: string;
  /** The other demo portal, linked from the signed-in page (SSO). */
  otherPortal?: { name: string; url: string } | undefined;
  /** The broker's dev mailbox page, linked for newcomers. */
  mailboxUrl?: string | undefined;
  host?: string | undefined;
  logger: Logger;
}

export interface DemoPortal {
  readonly baseUrl: string;
  readonly app: Koa;
  listen(port: number): Promise<number>;
  close(): Promise<void>;
}

interface SignedInSession {
  claims: Record<string, unknown>;
  idToken: string | undefined;
  /** The broker session's id for this portal (the ID token's `sid`), for back-channel logout. */
  sid: string | undefined;
}

interface PendingSignIn {
  state: string;
  nonce: string;
  codeVerifier: string;
  /** Set when the person pressed "Add a profile": the broker's answer is that action's outcome. */
  action?: typeof associateProfile;
}

/** The broker's action parameter and value for "add a profile", as a portal sends them (README: adding a profile from a portal). */
const associateProfile = 'associate_profile';

async function readForm(ctx: Context): Promise<URLSearchParams> {
  let text = '';
  for await (const chunk of ctx.req) {
    text += String(chunk);
    if (text.length > 64 * 1024) break;
  }
  return new URLSearchParams(text);
}

export function createDemoPortal(options: DemoPortalOptions): DemoPortal {
  const branding = portalBranding[options.portal];
  const sessionCookie = `${options.portal}_demo_session`;
  const pendingCookie = `${options.portal}_demo_sign_in`;
  const callbackUrl = `${options.baseUrl}/callback`;
  const sessions = new Map<string, SignedInSession>();
  let configuration: Promise<client.Configuration> | undefined;

  const discover = (): Promise<client.Configuration> => {
    configuration ??= client
      .discovery(new URL(options.issuer), options.clientId, { token_endpoint_auth_method: 'client_secret_basic' }, client.ClientSecretBasic(options.clientSecret), {
        execute: new URL(options.issuer).protocol === 'http:' ? [client.allowInsecureRequests] : [],
      })
      .catch((error: unknown) => {
        configuration = undefined;
        throw error;
      });
    return configuration;
  };

  function currentSession(ctx: Context): SignedInSession | undefined {
    const id = ctx.cookies.get(sessionCookie, { signed: true });
    return id ? sessions.get(id) : undefined;
  }

  function home(ctx: Context): void {
    const session = currentSession(ctx);
    ctx.type = 'html';
    ctx.body = session
      ? profilesPage(branding, { claims: session.claims, added: ctx.query.outcome === 'bound', otherPortal: options.otherPortal })
      : welcomePage(branding, options.mailboxUrl);
  }

  async function startSignIn(ctx: Context, action?: typeof associateProfile): Promise<void> {
    const config = await discover();
    const pending: PendingSignIn = { state: client.randomState(), nonce: client.randomNonce(), codeVerifier: client.randomPKCECodeVerifier(), ...(action ? { action } : {}) };
    const uiLocales = typeof ctx.query.ui_locales === 'string' ? ctx.query.ui_locales : undefined;
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: callbackUrl,
      scope: 'openid email profile mbs_profiles',
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(pending.codeVerifier),
      code_challenge_method: 'S256',
      ...(uiLocales ? { ui_locales: uiLocales } : {}),
      ...(action ? { mbs_action: action } : {}),
      // "Switch profile": the broker's profile picker asks again.
      ...(ctx.query.switch === 'profile' ? { prompt: 'select_account' } : {}),
    });
    ctx.cookies.set(pendingCookie, JSON.stringify(pending), { signed: true, httpOnly: true, sameSite: 'lax', maxAge: 15 * 60 * 1000 });
    ctx.redirect(url.href);
  }

  async function finishSignIn(ctx: Context): Promise<void> {
    const raw = ctx.cookies.get(pendingCookie, { signed: true });
    ctx.cookies.set(pendingCookie, null);
    const pending = raw ? (JSON.parse(raw) as PendingSignIn) : undefined;
    if (pending?.action && typeof ctx.query.error === 'string') {
      // The person stays signed in here; the broker said why no profile was added.
      ctx.type = 'html';
      ctx.body = actionRefusedPage(branding, ctx.query.error, typeof ctx.query.error_description === 'string' ? ctx.query.error_description : undefined);
      return;
    }
    if (!pending || ctx.query.error) {
      ctx.status = ctx.query.error ? 200 : 400;
      ctx.type = 'html';
      ctx.body = messagePage(
        branding,
        'Not signed in',
        `<p>${ctx.query.error ? `The broker answered: ${escapeHtml(ctx.query.error_description ?? ctx.query.error)}` : 'This sign-in was not started here, or it took too long.'}</p>`,
      );
      return;
    }
    const config = await discover();
    const tokens = await client.authorizationCodeGrant(config, new URL(ctx.originalUrl, options.baseUrl), {
      pkceCodeVerifier: pending.codeVerifier,
      expectedState: pending.state,
      expectedNonce: pending.nonce,
    });
    const idClaims = tokens.claims();
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, idClaims?.sub ?? client.skipSubjectCheck);
    const id = randomBytes(24).toString('base64url');
    sessions.set(id, { claims: { ...idClaims, ...userinfo }, idToken: tokens.id_token, sid: typeof idClaims?.sid === 'string' ? idClaims.sid : undefined });
    ctx.cookies.set(sessionCookie, id, { signed: true, httpOnly: true, sameSite: 'lax' });
    ctx.redirect(pending.action ? '/?outcome=bound' : '/');
  }

  async function signOut(ctx: Context): Promise<void> {
    const id = ctx.cookies.get(sessionCookie, { signed: true });
    const session = id ? sessions.get(id) : undefined;
    if (id) sessions.delete(id);
    ctx.cookies.set(sessionCookie, null);
    const config = await discover();
    const url = client.buildEndSessionUrl(config, {
      post_logout_redirect_uri: `${options.baseUrl}/`,
      ...(session?.idToken ? { id_token_hint: session.idToken } : {}),
    });
    ctx.status = 303;
    ctx.redirect(url.href);
  }

  /**
   * OpenID Connect Back-Channel Logout: the broker posts a logout token when
   * the person signs out elsewhere; the sessions it names end here too.
   */
  async function backchannelLogout(ctx: Context): Promise<void> {
    const body = await readForm(ctx);
    const logoutToken = body.get('logout_token');
    const config = await discover();
    const metadata = config.serverMetadata();
    try {
      if (!logoutToken || !metadata.jwks_uri) throw new Error('no logout token');
      jwks ??= createRemoteJWKSet(new URL(metadata.jwks_uri));
      const { payload } = await jwtVerify(logoutToken, jwks, { issuer: metadata.issuer, audience: options.clientId, maxTokenAge: '5m' });
      const events = payload.events as Record<string, unknown> | undefined;
      if (!events?.['http://schemas.openid.net/event/backchannel-logout'] || 'nonce' in payload || (!payload.sid && !payload.sub)) throw new Error('not a logout token');
      let ended = 0;
      for (const [id, session] of sessions) {
        if ((payload.sid && session.sid === payload.sid) || (!payload.sid && session.claims.sub === payload.sub)) {
          sessions.delete(id);
          ended += 1;
        }
      }
      options.logger.info({ portal: options.portal, ended }, 'back-channel logout');
      ctx.status = 200;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = '';
    } catch (error) {
      options.logger.warn({ portal: options.portal, err: (error as Error).message }, 'refused a back-channel logout');
      ctx.status = 400;
      ctx.body = { error: 'invalid_request' };
    }
  }

  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;

  const app = new Koa();
  app.keys = [randomBytes(32).toString('base64url')];
  app.silent = true;
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      options.logger.warn({ err: error, portal: options.portal }, 'demo portal request failed');
      ctx.status = 502;
      ctx.type = 'html';
      ctx.body = messagePage(branding, 'Sign-in failed', '<p>The broker could not be reached or refused the sign-in.</p>');
    }
  });
  app.use(async (ctx) => {
    if (ctx.method === 'GET' && ctx.path === '/') return home(ctx);
    if (ctx.method === 'GET' && ctx.path === '/login') return startSignIn(ctx);
    if (ctx.method === 'GET' && ctx.path === '/add-profile') return startSignIn(ctx, associateProfile);
    if (ctx.method === 'GET' && ctx.path === '/callback') return finishSignIn(ctx);
    if (ctx.method === 'POST' && ctx.path === '/logout') return signOut(ctx);
    if (ctx.method === 'POST' && ctx.path === '/backchannel-logout') return backchannelLogout(ctx);
    ctx.status = 404;
    ctx.type = 'html';
    ctx.body = messagePage(branding, 'Not found', '');
  });

  let server: Server | undefined;
  return {
    baseUrl: options.baseUrl,
    app,
    async listen(port) {
      server = createServer(app.callback());
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(port, options.host, () => resolve());
      });
      return (server.address() as AddressInfo).port;
    },
    async close() {
      if (!server) return;
      const closing = server;
      await new Promise<void>((resolve) => closing.close(() => resolve()));
      closing.closeAllConnections();
    },
  };
}
