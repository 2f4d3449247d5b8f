// The dev upstream: a second oidc-provider instance standing in for Microsoft
// accounts, so `npm start` and the tests need no internet. Its sign-in page
// asks for an account name and an email; the subject is derived from the
// name, so the same name is always the same person. It keeps its own cookie
// names and keys: on one host, browsers would otherwise mix its cookies with
// the broker's (cookies ignore ports). Given the broker's database as storage
// and the broker's cookie keys, every broker instance serves the same dev
// upstream: a sign-in started on one continues on any other.
import { createECDH, createHash, randomBytes } from 'node:crypto';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import Koa from 'koa';
import mount from 'koa-mount';
import type { JWK } from 'jose';
import Provider, { interactionPolicy, type Adapter, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { createMemoryAdapter } from './devUpstreamMemoryAdapter.ts';
import { createCookieSigner } from '../secrets.ts';

export interface DevUpstreamClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
}

export interface DevUpstreamOptions {
  issuer: string;
  clients: DevUpstreamClient[];
  /**
   * Cookie signing keys. When mounted inside another Koa app, pass that app's
   * keys: mounted middleware signs cookies with the host app's keys, while
   * interactionDetails verifies them with the provider's.
   */
  cookieKeys?: string[];
  /** Adds Microsoft's `tid` claim to ID tokens, to imitate a Microsoft tenant. */
  tenantId?: string;
  /** Where sessions, interactions and accounts live; in-process memory by default. */
  storage?: new (model: string) => Adapter;
}

export interface DevUpstream {
  provider: Provider;
  /** Serve it at the issuer's path (koa-mount) or listen on it directly. */
  app: Koa;
}

export const devUpstreamCookieNames = {
  session: 'mbs_dev_upstream_session',
  interaction: 'mbs_dev_upstream_interaction',
  resume: 'mbs_dev_upstream_resume',
} as const;

/** The subject the dev upstream gives an account name (stable, case-insensitive). */
export function devSubject(accountName: string): string {
  return createHash('sha256').update(`mbs-dev-upstream:${accountName.trim().toLowerCase()}`).digest('base64url');
}

/** The order of the P-256 group: private scalars lie in [1, n - 1]. */
const p256Order = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/**
 * The dev upstream's ES256 key, derived from its issuer so that every
 * instance and every restart signs with the same key. It guards nothing: the
 * dev upstream signs anyone in under any name, and never runs in production.
 */
export function devSigningJwk(issuer: string): JWK {
  const seed = BigInt(`0x${createHash('sha256').update(`mbs-dev-upstream-signing-key:${issuer}`).digest('hex')}`);
  const scalar = Buffer.from(((seed % (p256Order - 1n)) + 1n).toString(16).padStart(64, '0'), 'hex');
  const curve = createECDH('prime256v1');
  curve.setPrivateKey(scalar);
  const point = curve.getPublicKey();
  return { kty: 'EC', crv: 'P-256', d: scalar.toString('base64url'), x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url'), alg: 'ES256', use: 'sig' };
}

interface DevAccount {
  name: string;
  email: string | undefined;
}

const escapeHtml = (value: string): string =>
  value.replace(/[&<>"']/g, (character) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[character] ?? character);

const devUpstreamStyle = `body{font:16px/1.5 system-ui,sans-serif;background:#f2f2f2;margin:0}main{max-width:26rem;margin:3rem auto;background:#fff;padding:2rem;box-shadow:0 2px 6px rgba(0,0,0,.2)}
label{display:block;font-weight:600;margin-top:1rem}input{width:100%;padding:.5rem;font:inherit;box-sizing:border-box;border:1px solid #666}button{margin-top:1.5rem;padding:.5rem 2rem;font:inherit;background:#0067b8;color:#fff;border:0}
.note{color:#555;font-size:.9rem}.problem{color:#a80000}:focus-visible{outline:3px solid #000}
@media (max-width:30rem){main{margin:0;box-shadow:none;padding:1rem}}`;

function signInPage(action: string, problem?: string, accountName = '', email = ''): string {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign in – Microsoft account (dev upstream)</title>
<style>${devUpstreamStyle}</style></head>
<body><main>
<h1>Sign in</h1>
<p class="note">Development stand-in for a Microsoft account: type any account name. The same name is always the same account.</p>
${problem ? `<p class="problem" role="alert">${escapeHtml(problem)}</p>` : ''}
<form method="post" action="${escapeHtml(action)}">
<label for="account">Account name</label><input id="account" name="account" autocomplete="username" required value="${escapeHtml(accountName)}" autofocus>
<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="email" value="${escapeHtml(email)}">
<button type="submit">Sign in</button>
</form></main></body></html>`;
}

function helpPage(topic: 'sign-up' | 'password-reset'): string {
  const title = topic === 'sign-up' ? 'Create a Microsoft account' : 'Reset your password';
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title} – Microsoft account (dev upstream)</title>
<style>${devUpstreamStyle}</style></head>
<body><main>
<h1>${title}</h1>
<p>This is the development stand-in for a Microsoft account. It has no passwords: any account name you type on its sign-in page signs in, and the same name is always the same account.</p>
<p>With a real upstream, this link leads to the provider’s own ${topic === 'sign-up' ? 'sign-up' : 'password reset'} page.</p>
</main></body></html>`;
}

/** Like Microsoft, prompt=select_account shows the sign-in form even to a signed-in person, to switch accounts. */
function accountSwitchingPolicy(): ReturnType<typeof interactionPolicy.base> {
  const policy = interactionPolicy.base();
  policy.add(new interactionPolicy.Prompt({ name: 'select_account', requestable: true }), 0);
  return policy;
}

export async function createDevUpstream(options: DevUpstreamOptions): Promise<DevUpstream> {
  const issuerPath = new URL(options.issuer).pathname.replace(/\/$/, '');
  const cookieKeys = options.cookieKeys ?? [randomBytes(32).toString('base64url')];
  const storage = options.storage ?? createMemoryAdapter();
  const accounts: Adapter = new storage('Account');
  const accountLifetime = 30 * 86_400;

  const configuration: Configuration = {
    adapter: storage,
    jwks: { keys: [devSigningJwk(options.issuer)] as NonNullable<Configuration['jwks']>['keys'] },
    ttl: { Interaction: 600, Session: 86_400, Grant: 86_400, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
    clients: options.clients.map((client) => ({
      client_id: client.clientId,
      client_secret: client.clientSecret,
      redirect_uris: client.redirectUris,
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
      grant_types: ['authorization_code'],
      response_types: ['code'],
    })),
    cookies: {
      names: devUpstreamCookieNames,
      keys: cookieKeys,
    },
    claims: { openid: options.tenantId ? ['sub', 'tid'] : ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    scopes: ['openid', 'email', 'profile'],
    // Like Microsoft, put email and name in the ID token itself.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    responseTypes: ['code'],
    interactions: { url: (_ctx, interaction) => `${issuerPath}/interaction/${interaction.uid}`, policy: accountSwitchingPolicy() },
    // Consent is implied: this stands in for a provider the user already trusts.
    async loadExistingGrant(ctx: KoaContextWithOIDC) {
      const session = ctx.oidc.session;
      const clientId = ctx.oidc.client?.clientId;
      if (!session?.accountId || !clientId) return undefined;
      const grant = new ctx.oidc.provider.Grant({ clientId, accountId: session.accountId });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
    async findAccount(_ctx, subject) {
      const account = (await accounts.find(subject)) as DevAccount | undefined;
      return {
        accountId: subject,
        async claims() {
          return {
            sub: subject,
            ...(options.tenantId ? { tid: options.tenantId } : {}),
            ...(account?.email ? { email: account.email, email_verified: false } : {}),
            ...(account ? { name: account.name } : {}),
          };
        },
      };
    },
  };

  const provider = new Provider(options.issuer, configuration);
  // Over the same array as given: keys rotated in place reach the provider too.
  const cookieSigner = createCookieSigner(cookieKeys);
  provider.keys = cookieSigner;
  const router = new Router();

  // Stand-ins for the Microsoft sign-up and password-reset pages the broker links to.
  router.get('/help/:topic', (ctx) => {
    if (ctx.params.topic !== 'sign-up' && ctx.params.topic !== 'password-reset') return;
    ctx.type = 'html';
    ctx.body = helpPage(ctx.params.topic);
  });

  router.get('/interaction/:uid', async (ctx) => {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    ctx.type = 'html';
    ctx.body = signInPage(`${issuerPath}/interaction/${details.uid}/login`, undefined, typeof details.params.login_hint === 'string' ? details.params.login_hint : '');
  });

  router.post('/interaction/:uid/login', bodyParser({ enableTypes: ['form'] }), async (ctx) => {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const form = (ctx.request.body ?? {}) as Record<string, unknown>;
    const accountName = typeof form.account === 'string' ? form.account.trim() : '';
    const email = typeof form.email === 'string' && form.email.trim() ? form.email.trim() : undefined;
    if (!accountName || accountName.length > 200 || (email && email.length > 320)) {
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = signInPage(`${issuerPath}/interaction/${details.uid}/login`, 'Type an account name (at most 200 characters).', accountName.slice(0, 200), email?.slice(0, 320));
      return;
    }
    const subject = devSubject(accountName);
    await accounts.upsert(subject, { name: accountName, email } satisfies DevAccount, accountLifetime);
    // Signing in on the form is also the account selection prompt=select_account asked for.
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, { login: { accountId: subject }, select_account: {} }, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(returnTo);
  });

  const app = new Koa();
  app.silent = true;
  app.keys = cookieSigner;
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      const status = (error as { status?: number }).status ?? 500;
      if (process.env.DEV_UPSTREAM_DEBUG) console.error(error);
      ctx.status = status >= 400 && status < 500 ? status : 500;
      ctx.type = 'text';
      ctx.body = status < 500 ? 'This dev upstream sign-in expired; start again from the portal.' : 'dev upstream failure';
    }
  });
  app.use(router.routes());
  app.use(mount(provider));
  return { provider, app };
}
