// The account page (/account) of a person signed in to the broker: the
// Microsoft account they sign in with, their bound MBS profiles, "associate
// another profile" (back to the email step), "unlink" per profile (with a
// confirmation, an audit event and a notice to the profile's address) and
// "sign out everywhere". Signing in to it goes through the provider like any
// portal, as the broker's own first-party client.
import { createHash } from 'node:crypto';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { BrokerError, notFound } from '../errors.ts';
import { portalName, profileEmailData } from '../directory/portals.ts';
import { generateSecret } from '../secrets.ts';
import type { Outbox } from '../mail/outbox.ts';
import type { EmailRenderer } from '../mail/render.ts';
import type { Store } from '../store/store.ts';
import type { CsrfTokens } from './csrf.ts';
import { pageLocale, type PageRenderer } from '../web/pages.ts';
import { latestIdentity } from './signInService.ts';
import { actionParameter, associateProfileAction } from '../provider/provider.ts';

/** The broker's own client, through which the account page signs people in. */
export const accountClientId = 'mbs-account';
export const accountCallbackPath = '/account/callback';

export interface AccountDependencies {
  provider: Provider;
  store: Store;
  outbox: Outbox;
  emails: EmailRenderer;
  pages: PageRenderer;
  csrf: CsrfTokens;
  issuer: string;
  supportEmail: string;
  /** Ends every session, grant and token of the account. */
  revokeAccount(accountId: string): Promise<number>;
}

const signInStateCookie = 'mbs_account_state';

export function accountRoutes(dependencies: AccountDependencies): Router {
  const { provider, store, pages, csrf, issuer } = dependencies;
  const router = new Router({ sensitive: true, strict: true });
  const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });

  async function signedInAccount(ctx: Context): Promise<string | undefined> {
    const session = await provider.Session.get(ctx as unknown as Parameters<typeof provider.Session.get>[0]);
    return session.accountId;
  }

  async function requireAccount(ctx: Context): Promise<string | undefined> {
    const accountId = await signedInAccount(ctx);
    if (!accountId) ctx.redirect('/account/sign-in');
    return accountId;
  }

  function verifyForm(ctx: Context, accountId: string): void {
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    csrf.require('account', accountId, body.csrf, 'account');
  }

  /** Starts an authorization request of the account client; `associate` asks for the email step. */
  function startSignIn(ctx: Context, associate: boolean): void {
    const state = generateSecret(24);
    const verifier = generateSecret(32);
    const challenge = createChallenge(verifier);
    const url = new URL('/auth', issuer);
    url.search = new URLSearchParams({
      client_id: accountClientId,
      response_type: 'code',
      scope: 'openid',
      redirect_uri: `${issuer}${accountCallbackPath}`,
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      ...(associate ? { [actionParameter]: associateProfileAction } : {}),
    }).toString();
    ctx.cookies.set(signInStateCookie, state, { signed: true, httpOnly: true, sameSite: 'lax', path: '/account', maxAge: 15 * 60 * 1000 });
    ctx.redirect(url.href);
  }

  router.get('/account/sign-in', (ctx) => startSignIn(ctx, false));
  router.get('/account/associate', (ctx) => startSignIn(ctx, true));

  // The broker session now exists; the code is left to expire unused, since
  // this page reads the session itself rather than tokens.
  router.get(accountCallbackPath, (ctx) => {
    const expected = ctx.cookies.get(signInStateCookie, { signed: true });
    ctx.cookies.set(signInStateCookie, null, { path: '/account' });
    if (!expected || ctx.query.state !== expected) {
      throw new BrokerError('session_expired', 'Your sign-in took too long or was started in another browser.', { detail: 'account state mismatch', messageKey: 'error.session_expired' });
    }
    ctx.redirect('/account');
  });

  router.get('/account', async (ctx) => {
    const accountId = await requireAccount(ctx);
    if (!accountId) return;
    const identities = await store.identities.listByAccount(accountId);
    const latest = latestIdentity(identities);
    const profiles = await store.profileBindings.listProfilesByAccount(accountId);
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = pages.render(
      'account.eta',
      {
        titleKey: 'account.title',
        upstreamName: latest?.emailHint ?? latest?.nameHint ?? '',
        profiles: profiles.map((profile) => ({ ...profile, portalName: portalName(profile.portal), unlink: `/account/profiles/${encodeURIComponent(profile.id)}/unlink` })),
        csrf: csrf.issue('account', accountId),
        associate: '/account/associate',
        signOutEverywhere: '/account/sign-out-everywhere',
      },
      { locale: pageLocale(ctx) },
    );
  });

  async function boundProfile(accountId: string, profileId: string) {
    const profile = (await store.profileBindings.listProfilesByAccount(accountId)).find((candidate) => candidate.id === profileId);
    if (!profile) throw notFound('This profile is not associated with your account.', { detail: `profile ${profileId} not bound to ${accountId}` });
    return profile;
  }

  router.post('/account/profiles/:profileId/unlink', form, async (ctx) => {
    const accountId = await requireAccount(ctx);
    if (!accountId) return;
    verifyForm(ctx, accountId);
    const profile = await boundProfile(accountId, String(ctx.params.profileId));
    ctx.type = 'html';
    ctx.body = pages.render(
      'account-unlink.eta',
      {
        titleKey: 'account_unlink.title',
        portalName: portalName(profile.portal),
        profileId: profile.id,
        organization: profile.organization,
        confirm: `/account/profiles/${encodeURIComponent(profile.id)}/unlink/confirm`,
        csrf: csrf.issue('account', accountId),
      },
      { portal: profile.portal, locale: pageLocale(ctx) },
    );
  });

  router.post('/account/profiles/:profileId/unlink/confirm', form, async (ctx) => {
    const accountId = await requireAccount(ctx);
    if (!accountId) return;
    verifyForm(ctx, accountId);
    const profile = await boundProfile(accountId, String(ctx.params.profileId));
    const notice = await dependencies.emails.render('profile-unlinked', pageLocale(ctx), profileEmailData(profile, dependencies.supportEmail));
    await store.transaction(async (repositories) => {
      if (!(await repositories.profileBindings.remove(profile.id))) return;
      await dependencies.outbox.queue(repositories.executor, { kind: 'profile_unlinked', recipient: profile.email, ...notice });
      await repositories.auditEvents.record({ type: 'binding.removed', outcome: 'success', actor: 'user', accountId, profileId: profile.id, ip: ctx.ip, details: { via: 'account page' } });
    });
    ctx.status = 303;
    ctx.redirect('/account');
  });

  router.post('/account/sign-out-everywhere', form, async (ctx) => {
    const accountId = await requireAccount(ctx);
    if (!accountId) return;
    verifyForm(ctx, accountId);
    const revoked = await dependencies.revokeAccount(accountId);
    await store.auditEvents.record({ type: 'logout', outcome: 'success', actor: 'user', accountId, ip: ctx.ip, details: { everywhere: true, revoked } });
    ctx.type = 'html';
    ctx.body = pages.render('signed-out.eta', { titleKey: 'signed_out.title', everywhere: true }, { locale: pageLocale(ctx) });
  });

  return router;
}

function createChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}
