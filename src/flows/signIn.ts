// The routes of the sign-in interaction (guide steps 1–3 and the returning
// user), each a short list of named steps over the SignInService
// (signInService.ts), which holds the domain: the upstream round trip and
// the returning-user decision. What stays here is HTTP and oidc-provider:
// the interaction, its prompt, CSRF, the landing and consent pages, grants,
// redirects, and the hand-over to the association flow.
import Router, { type RouterMiddleware } from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import { errorMessage, invalidRequest, sessionExpired } from '../errors.ts';
import { associationRequested, isAssociationRequest } from '../provider/provider.ts';
import { profileChoicePrompt } from '../provider/profileChoice.ts';
import { brandingPortal, clientPortal, isFirstPartyClient } from '../directory/portals.ts';
import type { Upstream, UpstreamIdentity } from '../upstream/upstream.ts';
import { InteractionSteps, queryValue, upstreamCallbackPath, type FlowDependencies, type InteractionDetails, type ProviderClient } from './interactions.ts';
import { SignInService, upstreamChoices, type SignInDecision, type UpstreamRequest } from './signInService.ts';
import { pageLocale } from '../web/pages.ts';

export interface SignInDependencies extends FlowDependencies {
  /** Takes over when the identity has no profile of the asking portal (the association flow). */
  onNotAssociated(ctx: Context, situation: NotAssociated): Promise<void>;
  /** The broker's own clients whose sign-ins need no profile (the admin console: it checks roles itself). */
  clientsWithoutProfiles?: ReadonlySet<string>;
}

export interface NotAssociated {
  details: InteractionDetails;
  client: ProviderClient;
  identity: UpstreamIdentity;
  /** The broker account of the identity, when it has one (bound to another portal only). */
  accountId: string | undefined;
}

/** What the steps of one request hand on; each field is set by the step named beside it, before any reader. */
interface SignInState {
  details: InteractionDetails; // loadInteraction
  client: ProviderClient; // loadClient
  roundTrip: Awaited<ReturnType<SignInService['consumeRoundTrip']>>; // consumeRoundTrip
  identity: UpstreamIdentity; // finishUpstream
  decision: SignInDecision; // decide
}
type Step = RouterMiddleware<SignInState>;
type StepContext = Parameters<Step>[0];

const consentParser = bodyParser({ enableTypes: ['form'] });
const reasonsOf = (details: InteractionDetails): string[] => (details.prompt.reasons ?? []) as string[];
const isLogin = (ctx: StepContext): boolean => ctx.state.details.prompt.name === 'login';
const isConsent = (ctx: StepContext): boolean => ctx.state.details.prompt.name === 'consent';
const isProfileChoice = (ctx: StepContext): boolean => ctx.state.details.prompt.name === profileChoicePrompt;
const signedInAccount = (details: InteractionDetails): string => {
  const accountId = details.session?.accountId;
  if (!accountId) throw sessionExpired(`${details.prompt.name} prompt without a session account`);
  return accountId;
};
const stringParameter = (details: InteractionDetails, name: string): string | undefined => {
  const value = details.params[name];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
};

/** The portal's max_age in seconds: oidc-provider checks it but keeps it as the string the portal sent. */
function maxAgeOf(details: InteractionDetails): number | undefined {
  const value = details.params.max_age;
  if (typeof value === 'number') return value;
  return typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : undefined;
}

/**
 * What goes upstream from the portal's request: prompt=login (as the
 * provider's login_prompt reason) and prompt=select_account, so a portal can
 * force re-authentication or an account switch at Microsoft; max_age; the
 * login_hint and domain_hint.
 */
function upstreamRequest(details: InteractionDetails): UpstreamRequest {
  const asked = new Set(String(details.params.prompt ?? '').split(' '));
  const prompts = [...(reasonsOf(details).includes('login_prompt') ? ['login'] : []), ...(asked.has('select_account') ? ['select_account'] : [])];
  return {
    prompt: prompts.length > 0 ? prompts.join(' ') : undefined,
    maxAge: maxAgeOf(details),
    loginHint: stringParameter(details, 'login_hint'),
    domainHint: stringParameter(details, 'domain_hint'),
  };
}

/** The small steps the routes are lists of, over the service; bound, so a route names them. */
class SignInSteps extends InteractionSteps<SignInDependencies, SignInService> {
  readonly consentForm: Step = (ctx, next) => consentParser(ctx, next);
  readonly #asking = (ctx: StepContext) => ({ clientId: ctx.state.client.clientId, portal: clientPortal(ctx.state.client), ip: ctx.ip });
  readonly #page = (ctx: StepContext, template: string, data: { titleKey: string } & Record<string, unknown>): void => {
    ctx.type = 'html';
    ctx.body = this.dependencies.pages.render(template, data, { portal: brandingPortal(ctx.state.client), locale: pageLocale(ctx, ctx.state.details.params.ui_locales) });
  };

  readonly loadInteraction: Step = async (ctx, next) => {
    ctx.state.details = await this.interactions.load(ctx);
    await next();
  };
  readonly loadClient: Step = async (ctx, next) => {
    ctx.state.client = await this.interactions.client(ctx.state.details);
    await next();
  };
  /** Asked to associate another profile (the account page, a portal) while signed in: the email step for the identity the account signs in with. */
  readonly associateOnRequest: Step = async (ctx, next) => {
    const { details, client } = ctx.state;
    if (!isLogin(ctx) || !details.session?.accountId || !reasonsOf(details).includes(associationRequested)) return next();
    const identity = await this.service.identityToAssociate(details.session.accountId);
    await this.dependencies.onNotAssociated(ctx, { details, client, identity, accountId: undefined });
  };
  readonly #redirectUpstream = async (ctx: StepContext, upstream: Upstream): Promise<void> => {
    const { details } = ctx.state;
    ctx.redirect((await this.service.startUpstream(details.uid, upstream, upstreamRequest(details))).href);
  };
  /** Step 3: to the upstream the person chose on the page (`?upstream=`), else the one a hint picks, else the first. */
  readonly sendUpstream: Step = async (ctx) => {
    const chosen = queryValue(ctx, 'upstream');
    const upstream = chosen === undefined ? upstreamChoices(this.dependencies.upstreams, upstreamRequest(ctx.state.details)).featured : this.service.chosenUpstream(chosen);
    await this.#redirectUpstream(ctx, upstream);
  };
  /**
   * Signed in already but asked again (no profile of this portal, max_age,
   * prompt=login or select_account): to the upstream, which decides silently
   * or not; to the choice on the page when there are several and it is not clear which.
   */
  readonly reauthenticateSignedIn: Step = async (ctx, next) => {
    const accountId = ctx.state.details.session?.accountId;
    if (!isLogin(ctx) || !accountId) return next();
    const upstream = await this.service.reauthenticationUpstream(accountId, upstreamRequest(ctx.state.details));
    return upstream ? this.#redirectUpstream(ctx, upstream) : next();
  };
  /**
   * Guide step 1: say which account to use, with its sign-up and reset pages.
   * With several upstreams, one button each (the one a hint picks first); with one, today's single button.
   */
  readonly showLanding: Step = async (ctx, next) => {
    if (!isLogin(ctx)) return next();
    const { uid } = ctx.state.details;
    const { upstreams } = this.dependencies;
    const { featured, others } = upstreamChoices(upstreams, upstreamRequest(ctx.state.details));
    const signInUrl = (upstream: Upstream) => `/interaction/${uid}/sign-in${upstreams.several ? `?upstream=${encodeURIComponent(upstream.id)}` : ''}`;
    const choices = [featured, ...others].map((upstream) => ({ id: upstream.id, name: upstream.name, url: signInUrl(upstream) }));
    this.#page(ctx, 'landing.eta', { titleKey: 'landing.title', choices, cancelUrl: `/interaction/${uid}/abort`, signUpUrl: featured.signUpUrl, passwordResetUrl: featured.passwordResetUrl });
  };
  /** The profile picker: which of the account's profiles of this portal the sign-in acts as (the choice in force preselected). */
  readonly showProfilePicker: Step = async (ctx, next) => {
    if (!isProfileChoice(ctx)) return next();
    const { details, client } = ctx.state;
    const { profiles, chosen } = await this.service.profileChoice(signedInAccount(details), client);
    this.#page(ctx, 'profile-picker.eta', {
      titleKey: 'profile_picker.title',
      profiles,
      chosenId: chosen?.id,
      action: `/interaction/${details.uid}/profile`,
      csrf: this.dependencies.csrf.issue('profile', details.uid),
      cancelUrl: `/interaction/${details.uid}/abort`,
    });
  };
  readonly requireProfileCsrf: Step = async (ctx, next) => {
    const form = (ctx.request.body ?? {}) as Record<string, unknown>;
    this.dependencies.csrf.require('profile', ctx.state.details.uid, form.csrf, 'portal');
    if (!isProfileChoice(ctx)) throw sessionExpired('profile posted outside a profile choice');
    await next();
  };
  /** Remembers the pick and finishes the picker's interaction; its result tells the policy this request has picked. */
  readonly chooseProfile: Step = async (ctx) => {
    const { details, client } = ctx.state;
    const profile = ((ctx.request.body ?? {}) as Record<string, unknown>).profile;
    await this.service.chooseProfile(signedInAccount(details), client, typeof profile === 'string' ? profile : undefined, this.#asking(ctx));
    await this.interactions.finish(ctx, { [profileChoicePrompt]: { chosen: true } });
  };
  readonly consentFirstParty: Step = async (ctx, next) => (isConsent(ctx) && isFirstPartyClient(ctx.state.client) ? this.grantConsent(ctx, next) : next());
  readonly showConsent: Step = async (ctx, next) => {
    if (!isConsent(ctx)) return next();
    const { details, client } = ctx.state;
    this.#page(ctx, 'consent.eta', {
      titleKey: 'consent.title',
      clientName: client.clientName ?? client.clientId,
      scopes: String(details.params.scope ?? '').split(' ').filter(Boolean),
      action: `/interaction/${details.uid}/consent`,
      csrf: this.dependencies.csrf.issue('consent', details.uid),
    });
  };
  readonly refuseUnsupportedPrompt: Step = (ctx) => {
    throw invalidRequest('error.step_unsupported', { detail: `prompt ${ctx.state.details.prompt.name}` });
  };
  readonly requireLoginPrompt: Step = async (ctx, next) => {
    if (!isLogin(ctx)) throw sessionExpired(`sign-in asked for during a ${ctx.state.details.prompt.name} prompt`);
    await next();
  };

  /** The one upstream callback: on to where the round trip of its state continues (this interaction, or a link's confirmation). */
  readonly continueUpstreamCallback: Step = async (ctx) => {
    const continuation = await this.service.continuationOf(queryValue(ctx, 'state'));
    ctx.status = 303;
    ctx.redirect(`${continuation}?${ctx.querystring}`);
  };
  readonly consumeRoundTrip: Step = async (ctx, next) => {
    ctx.state.roundTrip = await this.service.consumeRoundTrip(queryValue(ctx, 'state'), ctx.state.details.uid);
    await next();
  };
  /** A person who cancelled at the upstream ends the sign-in with access_denied; other failures are errors. */
  readonly finishUpstream: Step = async (ctx, next) => {
    try {
      ctx.state.identity = await this.service.finishUpstream(ctx.state.roundTrip, new URL(ctx.originalUrl, this.dependencies.issuer), this.#asking(ctx));
    } catch (error) {
      if (queryValue(ctx, 'error') !== 'access_denied') throw error;
      return this.interactions.finish(ctx, { error: 'access_denied', error_description: errorMessage('error.upstream_cancelled') });
    }
    await next();
  };
  readonly decide: Step = async (ctx, next) => {
    ctx.state.decision = await this.service.decide(ctx.state.identity, this.#asking(ctx), ctx.state.details.uid);
    await next();
  };
  readonly finishSignIn: Step = async (ctx) => {
    const { details, client, identity, decision } = ctx.state;
    if (decision.outcome === 'not_associated') return this.dependencies.onNotAssociated(ctx, { details, client, identity, accountId: decision.accountId });
    // Asked to associate another profile: the email step even though profiles of this portal are bound.
    if (isAssociationRequest(details.params)) return this.dependencies.onNotAssociated(ctx, { details, client, identity, accountId: undefined });
    await this.interactions.finish(ctx, { login: { accountId: decision.accountId } });
  };

  readonly requireConsentCsrf: Step = async (ctx, next) => {
    const form = (ctx.request.body ?? {}) as Record<string, unknown>;
    this.dependencies.csrf.require('consent', ctx.state.details.uid, form.csrf, 'portal');
    if (!isConsent(ctx)) throw sessionExpired('consent posted outside a consent prompt');
    await next();
  };
  readonly denyUnlessAllowed: Step = async (ctx, next) => {
    if (((ctx.request.body ?? {}) as Record<string, unknown>).decision === 'allow') return next();
    await this.interactions.finish(ctx, { error: 'access_denied', error_description: errorMessage('error.consent_denied') });
  };
  readonly grantConsent: Step = async (ctx) => {
    await this.interactions.finish(ctx, { consent: { grantId: await this.#saveGrant(ctx.state.details) } });
  };
  readonly finishCancelled: Step = (ctx) => this.interactions.finish(ctx, { error: 'access_denied', error_description: errorMessage('error.oauth.access_denied') });

  async #saveGrant(details: InteractionDetails): Promise<string> {
    const { provider } = this.dependencies;
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
}

export function signInRoutes(dependencies: SignInDependencies): Router<SignInState> {
  const callbackUri = new URL(upstreamCallbackPath, dependencies.issuer).href;
  const steps = new SignInSteps(dependencies, new SignInService({ ...dependencies, callbackUri }));
  const { loadInteraction, loadClient, associateOnRequest, reauthenticateSignedIn, showLanding, showProfilePicker, consentFirstParty, showConsent, refuseUnsupportedPrompt, requireLoginPrompt, sendUpstream } = steps;
  const { requireProfileCsrf, chooseProfile } = steps;
  const { continueUpstreamCallback, consumeRoundTrip, finishUpstream, decide, finishSignIn, consentForm, requireConsentCsrf, denyUnlessAllowed, grantConsent, finishCancelled } = steps;
  const router = new Router<SignInState>({ sensitive: true, strict: true });

  // Steps 1–2: what the interaction's prompt asks for, first match wins.
  router.get('/interaction/:uid', loadInteraction, loadClient, associateOnRequest, reauthenticateSignedIn, showLanding, showProfilePicker, consentFirstParty, showConsent, refuseUnsupportedPrompt);
  // Step 3: off to the upstream with a fresh state, nonce and PKCE verifier.
  router.get('/interaction/:uid/sign-in', loadInteraction, requireLoginPrompt, sendUpstream);
  router.get(upstreamCallbackPath, continueUpstreamCallback);
  // Back under the interaction path, where the interaction cookie is sent: a returning user, or the association flow.
  router.get('/interaction/:uid/upstream', loadInteraction, consumeRoundTrip, loadClient, finishUpstream, decide, finishSignIn);
  // The profile picker's answer, when the account has several profiles of the portal.
  router.post('/interaction/:uid/profile', consentForm, loadInteraction, loadClient, requireProfileCsrf, chooseProfile);
  router.post('/interaction/:uid/consent', consentForm, loadInteraction, requireConsentCsrf, denyUnlessAllowed, grantConsent);
  router.get('/interaction/:uid/abort', loadInteraction, finishCancelled);
  return router;
}
