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

/** What the demo says for each documented outcome of an "add a profile" request that did not add one. */
const actionRefusals: Record<string, string> = {
  access_denied: 'You cancelled adding a profile. Your profiles are unchanged.',
  association_failed: 'No profile was added.',
};

const escapeHtml = (value: unknown): string =>
  String(value ?? '').replace(/[&<>"']/g, (character) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[character] ?? character);

interface ProfileClaim {
  id?: unknown;
  organization?: unknown;
  display_name?: unknown;
  roles?: unknown;
}

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

  const page = (title: string, body: string): string => `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)} · ${branding.name} (demo)</title>
<style>body{margin:0;font:16px/1.5 "Segoe UI",system-ui,sans-serif;color:#1b1b1b;background:#f3f3f3}
header{background:${branding.accent};color:#fff;padding:1rem 1.5rem;display:flex;gap:1rem;align-items:center}
header strong{font-size:1.25rem}main{max-width:44rem;margin:2rem auto;background:#fff;padding:1.5rem 2rem;border-radius:4px}
a{color:${branding.accent}}button,.button{display:inline-block;font:inherit;padding:.5rem 1.25rem;background:${branding.accent};color:#fff;border:0;border-radius:2px;cursor:pointer;text-decoration:none}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #ddd}
:focus-visible{outline:3px solid #000;outline-offset:2px}.hint{color:#555;font-size:.9rem}
@media (max-width:30rem){main{margin:0;padding:1rem;border-radius:0}}</style></head>
<body><header><strong>${branding.name}</strong><span>Microsoft Dynamics demo portal</span></header>
<main>${body}</main></body></html>`;

  function currentSession(ctx: Context): SignedInSession | undefined {
    const id = ctx.cookies.get(sessionCookie, { signed: true });
    return id ? sessions.get(id) : undefined;
  }

  function home(ctx: Context): void {
    const session = currentSession(ctx);
    ctx.type = 'html';
    if (!session) {
      ctx.body = page(
        'Welcome',
        `<h1>Welcome to ${branding.name}</h1>
<p>Sign in with your Microsoft account. On your first sign-in you associate it with your MBS profile through an email link.</p>
<p><a class="button" id="portal-sign-in" href="/login">Sign in</a></p>
<p class="hint">Demo: at the dev upstream type any account name; as the MBS email type <code>jane.doe@contoso.example</code>${
          options.mailboxUrl ? `, then open the association links in the <a href="${escapeHtml(options.mailboxUrl)}">dev mailbox</a>` : ''
        }.</p>`,
      );
      return;
    }
    const profiles = Array.isArray(session.claims.mbs_profiles) ? (session.claims.mbs_profiles as ProfileClaim[]) : [];
    const picked = session.claims.mbs_profile as ProfileClaim | undefined;
    const rows = profiles
      .map((profile) => `<tr${picked?.id === profile.id ? ' aria-current="true"' : ''}><td>${escapeHtml(profile.id)}${picked?.id === profile.id ? ' <strong>(current)</strong>' : ''}</td><td>${escapeHtml(profile.organization)}</td><td>${escapeHtml(profile.display_name)}</td><td>${escapeHtml(Array.isArray(profile.roles) ? profile.roles.join(', ') : '')}</td></tr>`)
      .join('');
    ctx.body = page(
      'Your profiles',
      `<h1>Signed in to ${branding.name}</h1>
<p>Signed in as <strong id="signed-in-name">${escapeHtml(session.claims.name ?? session.claims.sub)}</strong> (${escapeHtml(session.claims.email)}).</p>
${
      picked
        ? `<section id="current-profile" aria-labelledby="current-profile-heading"><h2 id="current-profile-heading">Acting as</h2>
<p><strong>${escapeHtml(picked.organization)}</strong> — ${escapeHtml(picked.display_name)} (profile ${escapeHtml(picked.id)}; roles: ${escapeHtml(Array.isArray(picked.roles) && picked.roles.length > 0 ? picked.roles.join(', ') : 'none')})</p>
${profiles.length > 1 ? '<p><a class="button" id="switch-profile" href="/login?switch=profile">Switch profile</a></p>' : ''}</section>`
        : ''
    }
<h2>Your ${branding.name} profiles</h2>
<table id="profiles"><thead><tr><th scope="col">Profile</th><th scope="col">Organization</th><th scope="col">Name</th><th scope="col">Roles</th></tr></thead><tbody>${rows}</tbody></table>
${ctx.query.outcome === 'bound' ? '<p id="action-outcome" role="status">Profile added: the list above is what the broker says now.</p>' : ''}
<p><a class="button" id="portal-add-profile" href="/add-profile">Add a profile</a></p>
${options.otherPortal ? `<p><a href="${escapeHtml(options.otherPortal.url)}">Go to ${escapeHtml(options.otherPortal.name)}</a></p>` : ''}
<form method="post" action="/logout"><button type="submit" id="portal-sign-out">Sign out</button></form>`,
    );
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
      const refusal = actionRefusals[ctx.query.error] ?? 'The broker refused the request.';
      ctx.type = 'html';
      ctx.body = page(
        'No profile added',
        `<h1>No profile added</h1><p id="action-outcome" role="status" data-error="${escapeHtml(ctx.query.error)}">${escapeHtml(refusal)}</p><p class="hint">The broker answered <code>${escapeHtml(ctx.query.error)}</code>: ${escapeHtml(ctx.query.error_description ?? '')}</p><p><a class="button" href="/">Back to ${branding.name}</a></p>`,
      );
      return;
    }
    if (!pending || ctx.query.error) {
      ctx.status = ctx.query.error ? 200 : 400;
      ctx.type = 'html';
      ctx.body = page(
        'Not signed in',
        `<h1>Not signed in</h1><p>${ctx.query.error ? `The broker answered: ${escapeHtml(ctx.query.error_description ?? ctx.query.error)}` : 'This sign-in was not started here, or it took too long.'}</p><p><a class="button" href="/">Back to ${branding.name}</a></p>`,
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
      ctx.body = page('Sign-in failed', `<h1>Sign-in failed</h1><p>The broker could not be reached or refused the sign-in.</p><p><a class="button" href="/">Back to ${branding.name}</a></p>`);
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
    ctx.body = page('Not found', `<h1>Not found</h1><p><a href="/">Back to ${branding.name}</a></p>`);
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
