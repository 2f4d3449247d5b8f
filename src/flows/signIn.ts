// The sign-in interaction (guide steps 2, 3 and the returning user): sends
// the browser to the upstream, takes the callback back under the interaction
// path (where the interaction cookie is sent), resolves the upstream identity
// (issuer + subject, never the email) to a broker account bound to a profile
// of the asking portal, and finishes the login; consent for third parties.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Clock } from '../clock.ts';
import { invalidRequest } from '../errors.ts';
import type { Logger } from '../logging.ts';
import { associationRequested } from '../provider/provider.ts';
import { brandingPortal, clientPortal, isFirstPartyClient } from '../directory/portals.ts';
import type { Store } from '../store/store.ts';
import type { UpstreamIdentityRecord } from '../store/records.ts';
import type { Upstream, UpstreamIdentity } from '../upstream/upstream.ts';
import type { CsrfTokens } from './csrf.ts';
import { interactionHelpers, queryValue, sessionExpired, upstreamCallbackPath, type InteractionDetails, type ProviderClient } from './interactions.ts';
import { pageLocale, type PageRenderer } from '../web/pages.ts';

export interface SignInDependencies {
  provider: Provider;
  upstream: Upstream;
  store: Store;
  pages: PageRenderer;
  csrf: CsrfTokens;
  clock: Clock;
  logger: Logger;
  issuer: string;
  supportEmail: string;
  /** How long an upstream round trip may take, in milliseconds. */
  upstreamTransactionTtl: number;
  /** Takes over when the identity has no profile of the asking portal (the association flow). */
  onNotAssociated(ctx: Context, situation: NotAssociated): Promise<void>;
}

export interface NotAssociated {
  details: InteractionDetails;
  client: ProviderClient;
  identity: UpstreamIdentity;
  /** The broker account of the identity, when it has one (bound to another portal only). */
  accountId: string | undefined;
}

/** Where the upstream callback continues for each purpose of an upstream round trip. */
export function callbackContinuation(purpose: string, interactionUid: string | undefined): string | undefined {
  if (purpose === 'sign_in' && interactionUid) return `/interaction/${encodeURIComponent(interactionUid)}/upstream`;
  if (purpose === 'link') return '/link/callback';
  return undefined;
}

/** The upstream identity an account signed in with last (an account may have several). */
export function latestIdentity(identities: UpstreamIdentityRecord[]): UpstreamIdentityRecord | undefined {
  return [...identities].sort((left, right) => (right.lastSignInAt ?? right.createdAt) - (left.lastSignInAt ?? left.createdAt))[0];
}

/** The one redirect URI registered at the upstream. */


export function signInRoutes(dependencies: SignInDependencies): Router {
  const { provider, upstream, store, pages, csrf, clock, logger, issuer } = dependencies;
  const router = new Router({ sensitive: true, strict: true });
  const callbackUri = new URL(upstreamCallbackPath, issuer).href;
  const interactions = interactionHelpers(provider);
  const loadInteraction = interactions.load;
  const loadClient = interactions.client;
  const finish = interactions.finish;

  async function sendUpstream(ctx: Context, details: InteractionDetails): Promise<void> {
    const reasons = (details.prompt.reasons ?? []) as string[];
    const maxAge = typeof details.params.max_age === 'number' ? details.params.max_age : undefined;
    const loginHint = typeof details.params.login_hint === 'string' ? details.params.login_hint : undefined;
    const start = await upstream.startAuthorization({
      redirectUri: callbackUri,
      ...(reasons.includes('login_prompt') ? { prompt: 'login' } : {}),
      ...(maxAge === undefined ? {} : { maxAge }),
      ...(loginHint === undefined ? {} : { loginHint }),
    });
    await store.upstreamTransactions.create({
      state: start.state,
      purpose: 'sign_in',
      interactionUid: details.uid,
      codeVerifier: start.codeVerifier,
      nonce: start.nonce,
      context: maxAge === undefined ? {} : { maxAge },
      expiresAt: clock.now() + dependencies.upstreamTransactionTtl,
    });
    ctx.redirect(start.url.href);
  }

  async function grantConsent(details: InteractionDetails): Promise<string> {
    const { prompt, params, session, grantId } = details;
    const accountId = session?.accountId;
    if (!accountId) throw sessionExpired('consent prompt without a session account');
    const grant = grantId ? await provider.Grant.find(grantId) : new provider.Grant({ accountId, clientId: String(params.client_id) });
    if (!grant) throw sessionExpired(`grant ${grantId} vanished`);
    const missing = prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    return grant.save();
  }

  router.get('/interaction/:uid', async (ctx) => {
    const details = await loadInteraction(ctx);
    const client = await loadClient(details);
    const reasons = (details.prompt.reasons ?? []) as string[];
    if (details.prompt.name === 'login' && details.session?.accountId && reasons.includes(associationRequested)) {
      // From the account page: the email step for the identity the account signs in with.
      const identities = await store.identities.listByAccount(details.session.accountId);
      const latest = latestIdentity(identities);
      if (!latest) throw sessionExpired(`account ${details.session.accountId} has no upstream identity`);
      await dependencies.onNotAssociated(ctx, { details, client, identity: { issuer: latest.issuer, subject: latest.subject }, accountId: undefined });
      return;
    }
    if (details.prompt.name === 'login' && details.session?.accountId) {
      // Signed in already, but asked again (no profile of this portal, max_age,
      // prompt=login): straight to the upstream, which decides silently or not.
      await sendUpstream(ctx, details);
      return;
    }
    if (details.prompt.name === 'login') {
      // Guide step 1: say which account to use, with the upstream's sign-up and reset pages.
      ctx.type = 'html';
      ctx.body = pages.render(
        'landing.eta',
        {
          titleKey: 'landing.title',
          continueUrl: `/interaction/${details.uid}/sign-in`,
          cancelUrl: `/interaction/${details.uid}/abort`,
          signUpUrl: upstream.signUpUrl,
          passwordResetUrl: upstream.passwordResetUrl,
        },
        { portal: brandingPortal(client), locale: pageLocale(ctx, details.params.ui_locales) },
      );
      return;
    }
    if (details.prompt.name === 'consent') {
      if (isFirstPartyClient(client)) {
        await finish(ctx, { consent: { grantId: await grantConsent(details) } });
        return;
      }
      const requested = String(details.params.scope ?? '').split(' ').filter(Boolean);
      ctx.type = 'html';
      ctx.body = pages.render(
        'consent.eta',
        {
          titleKey: 'consent.title',
          clientName: client.clientName ?? client.clientId,
          scopes: requested,
          action: `/interaction/${details.uid}/consent`,
          csrf: csrf.issue('consent', details.uid),
        },
        { portal: brandingPortal(client), locale: pageLocale(ctx, details.params.ui_locales) },
      );
      return;
    }
    throw invalidRequest('This sign-in step is not supported.', { detail: `prompt ${details.prompt.name}`, messageKey: 'error.step_unsupported' });
  });

  // Step 3: off to the upstream with a fresh state, nonce and PKCE verifier.
  router.get('/interaction/:uid/sign-in', async (ctx) => {
    const details = await loadInteraction(ctx);
    if (details.prompt.name !== 'login') throw sessionExpired(`sign-in asked for during a ${details.prompt.name} prompt`);
    await sendUpstream(ctx, details);
  });

  router.get(upstreamCallbackPath, async (ctx) => {
    const state = queryValue(ctx, 'state');
    const transaction = state ? await store.upstreamTransactions.find(state) : undefined;
    const continuation = transaction ? callbackContinuation(transaction.purpose, transaction.interactionUid) : undefined;
    if (!continuation) throw sessionExpired('upstream callback with unknown, used or expired state');
    ctx.status = 303;
    ctx.redirect(`${continuation}?${ctx.querystring}`);
  });

  router.get('/interaction/:uid/upstream', async (ctx) => {
    const details = await loadInteraction(ctx);
    const state = queryValue(ctx, 'state');
    const transaction = state ? await store.upstreamTransactions.consume(state) : undefined;
    if (!transaction || transaction.purpose !== 'sign_in' || transaction.interactionUid !== details.uid) {
      throw sessionExpired('upstream state unknown, used, expired or for another interaction');
    }
    const client = await loadClient(details);
    const maxAge = typeof transaction.context.maxAge === 'number' ? transaction.context.maxAge : undefined;
    let identity: UpstreamIdentity;
    try {
      identity = await upstream.finishAuthorization({
        callbackUrl: new URL(ctx.originalUrl, issuer),
        redirectUri: callbackUri,
        state: transaction.state,
        nonce: transaction.nonce,
        codeVerifier: transaction.codeVerifier,
        ...(maxAge === undefined ? {} : { maxAge }),
      });
    } catch (error) {
      await store.auditEvents.record({ type: 'sign_in', outcome: 'failure', clientId: client.clientId, ip: ctx.ip, details: { reason: 'upstream_error' } });
      if (queryValue(ctx, 'error') === 'access_denied') {
        await finish(ctx, { error: 'access_denied', error_description: 'The sign-in was cancelled at the Microsoft account.' });
        return;
      }
      throw error;
    }

    const known = await store.identities.findByIssuerAndSubject(identity.issuer, identity.subject);
    const portal = clientPortal(client);
    const boundProfiles = known ? await store.profileBindings.listProfilesByAccount(known.accountId, portal === 'both' ? undefined : portal) : [];
    if (!known || boundProfiles.length === 0) {
      await store.auditEvents.record({
        type: 'sign_in',
        outcome: 'failure',
        accountId: known?.accountId,
        clientId: client.clientId,
        ip: ctx.ip,
        details: { reason: known ? 'no_profile_for_portal' : 'not_associated', issuer: identity.issuer },
      });
      logger.info({ interaction: details.uid, client: client.clientId, reason: known ? 'no_profile_for_portal' : 'not_associated' }, 'sign-in continues with the association flow');
      await dependencies.onNotAssociated(ctx, { details, client, identity, accountId: known?.accountId });
      return;
    }

    await store.identities.recordSignIn(known.id, { emailHint: identity.email, nameHint: identity.name });
    await store.auditEvents.record({ type: 'sign_in', outcome: 'success', accountId: known.accountId, clientId: client.clientId, ip: ctx.ip });
    await finish(ctx, { login: { accountId: known.accountId } });
  });

  router.post('/interaction/:uid/consent', bodyParser({ enableTypes: ['form'] }), async (ctx) => {
    const details = await loadInteraction(ctx);
    const form = (ctx.request.body ?? {}) as Record<string, unknown>;
    csrf.require('consent', details.uid, form.csrf, 'portal');
    if (details.prompt.name !== 'consent') throw sessionExpired('consent posted outside a consent prompt');
    if (form.decision !== 'allow') {
      await finish(ctx, { error: 'access_denied', error_description: 'The user denied access.' });
      return;
    }
    await finish(ctx, { consent: { grantId: await grantConsent(details) } });
  });

  router.get('/interaction/:uid/abort', async (ctx) => {
    await loadInteraction(ctx);
    await finish(ctx, { error: 'access_denied', error_description: 'The sign-in was cancelled.' });
  });

  return router;
}
