// The routes of the first-login association (guide steps 4–10), each a short
// list of named middlewares over the AssociationService (associationService.ts),
// which holds the domain: requesting links, confirming, binding, resuming.
// What stays here is HTTP: the interaction, CSRF, cookies (the waiting
// browser, the link's upstream state, the success page's hold), redirects
// and pages. The sign-in resumes in the browser that started it, or from the
// waiting tab when the link was opened on another device.
import Router, { type RouterMiddleware } from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import { BrokerError, errorMessage } from '../errors.ts';
import { parseEmail } from '../directory/email.ts';
import type { Outbox } from '../mail/outbox.ts';
import type { EmailRenderer } from '../mail/render.ts';
import { associationFailedError, isAssociationRequest } from '../provider/provider.ts';
import { brandingPortal, clientPortal, portalBranding, portalName } from '../directory/portals.ts';
import type { AssociationFlowRecord, LinkRequestRecord, Portal, ProfileRecord } from '../domain/records.ts';
import type { UpstreamIdentity } from '../upstream/upstream.ts';
import { assertFlowValid, isTerminal } from './associationFlow.ts';
import { AssociationService, LinkRequestsLimited, type LinkDescription } from './associationService.ts';
import type { FreshFormAt } from '../web/csrf.ts';
import { InteractionSteps, queryValue, upstreamCallbackPath, type FlowDependencies, type InteractionDetails, type ProviderClient } from './interactions.ts';
import { pageLocale } from '../web/pages.ts';
import type { NotAssociated } from './signIn.ts';

export interface AssociationDependencies extends FlowDependencies {
  outbox: Outbox;
  emails: EmailRenderer;
  /** Milliseconds. */
  flowTtl: number;
  linkTtl: number;
  linkRequestsPerHour: number;
  /** Where each portal lives, for the links on the success page. */
  portalUrls: Partial<Record<Portal, string>>;
}

/** What the middlewares of one request hand on; each field is set by the middleware named beside it, before any reader. */
interface AssociationState {
  details: InteractionDetails; // loadInteraction
  flow: AssociationFlowRecord; // loadFlow, loadStoredFlow
  client: ProviderClient; // loadClient
  email: string; // parseEmailForm
  link: LinkRequestRecord; // loadLink, confirm
  profile: ProfileRecord; // loadLink, confirm
  reauthenticated: { linkTokenHash: string; identity: UpstreamIdentity }; // finishReauthentication
}
type Step = RouterMiddleware<AssociationState>;
type StepContext = Parameters<Step>[0];

const linkStateCookie = 'mbs_link_state';
const waitingBrowserCookie = 'mbs_association';
/** How long the success page stays before it continues the sign-in by itself (guide step 9). */
const successPageSeconds = 8;
/** How long the waiting tab of that browser leaves the continuation to the success page. */
const successPageHoldSeconds = 15;
const successPageCookie = 'mbs_association_shown';
/** Milliseconds: the waiting tab polls every five seconds, so it sees the flow end while the interaction still lives. */
const flowEndsBeforeInteraction = 60_000;
const invalidLinkStatus: Record<Exclude<LinkDescription['status'], 'valid'>, number> = { unknown: 404, used: 410, expired: 410, profile_gone: 410 };

const formParser = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });
const formBody = (ctx: StepContext): Record<string, unknown> => (ctx.request.body ?? {}) as Record<string, unknown>;

/** The small steps the routes are lists of, over the service; bound, so a route names them. */
class AssociationSteps extends InteractionSteps<AssociationDependencies, AssociationService> {
  readonly form: Step = (ctx, next) => formParser(ctx, next);
  readonly #interactionLocale = (ctx: StepContext) => pageLocale(ctx, ctx.state.details.params.ui_locales);

  readonly loadInteraction: Step = async (ctx, next) => {
    ctx.state.details = await this.interactions.load(ctx);
    await next();
  };
  readonly loadFlow: Step = async (ctx, next) => {
    ctx.state.flow = await this.service.activeFlow(ctx.state.details.uid);
    await next();
  };
  readonly loadClient: Step = async (ctx, next) => {
    ctx.state.client = await this.interactions.client(ctx.state.details);
    await next();
  };
  readonly requireCsrf = (purpose: 'email' | 'link', freshFormAt: FreshFormAt): Step => async (ctx, next) => {
    this.dependencies.csrf.require(purpose, purpose === 'email' ? ctx.state.flow.id : ctx.state.link.id, formBody(ctx).csrf, freshFormAt);
    await next();
  };
  readonly showEmailForm = (ctx: StepContext, problem?: string, typed = ''): void => {
    const { details, flow, client } = ctx.state;
    this.#page(ctx, 'email-entry.eta', {
      titleKey: 'email_entry.title',
      action: `/interaction/${details.uid}/email`,
      cancel: `/interaction/${details.uid}/cancel`,
      csrf: this.dependencies.csrf.issue('email', flow.id),
      problem,
      typed,
    }, brandingPortal(client), this.#interactionLocale(ctx));
  };
  readonly parseEmailForm: Step = async (ctx, next) => {
    const typed = formBody(ctx).email;
    const email = parseEmail(typed);
    if (!email) {
      ctx.status = 400;
      this.showEmailForm(ctx, 'email_entry.invalid', typeof typed === 'string' ? typed.slice(0, 320) : '');
      return;
    }
    ctx.state.email = email;
    await next();
  };
  readonly requestLinks: Step = async (ctx, next) => {
    const { flow, email, client } = ctx.state;
    try {
      await this.service.requestLinks(flow, email, { clientId: client.clientId, ip: ctx.ip, locale: this.#interactionLocale(ctx) });
    } catch (error) {
      if (error instanceof LinkRequestsLimited) ctx.set('Retry-After', String(error.retryAfterSeconds));
      throw error;
    }
    await next();
  };
  readonly rememberWaitingBrowser: Step = async (ctx, next) => {
    ctx.cookies.set(waitingBrowserCookie, ctx.state.flow.id, { signed: true, httpOnly: true, sameSite: 'lax', path: '/', maxAge: this.dependencies.flowTtl });
    await next();
  };
  readonly redirectToCheckInbox: Step = (ctx) => {
    ctx.status = 303;
    ctx.redirect(`/interaction/${ctx.state.details.uid}/sent`);
  };
  readonly cancelFlow: Step = async (ctx, next) => {
    await this.service.cancel(ctx.state.flow, ctx.ip);
    await next();
  };
  readonly finishDenied: Step = (ctx) => this.interactions.finish(ctx, { error: 'access_denied', error_description: errorMessage('error.association_cancelled') });

  /** The sign-in already resumed in another tab of this browser (the link's): this waiting tab says so instead of showing an error. */
  readonly loadInteractionOrSayResumed: Step = async (ctx, next) => {
    try {
      ctx.state.details = await this.interactions.load(ctx);
    } catch (error) {
      const flow = await this.service.findFlow(String(ctx.params.uid));
      if (flow?.state !== 'bound') throw error;
      this.#page(ctx, 'associated.eta', { titleKey: 'associated.title', elsewhere: true, portalLinks: this.#portalLinks() }, brandingPortal(flow.clientId ? await this.dependencies.provider.Client.find(flow.clientId) : undefined), pageLocale(ctx));
      return;
    }
    await next();
  };
  /** Any state: a bound flow resumes, an ended one is refused by requireLiveFlow. */
  readonly loadStoredFlow: Step = async (ctx, next) => {
    const flow = await this.service.findFlow(ctx.state.details.uid);
    if (flow) ctx.state.flow = flow;
    await next();
  };
  /**
   * In the browser that confirmed the link, the success page continues the
   * sign-in (its button, or itself after a few seconds): the tab waiting at
   * "check your inbox" leaves it that long, so the tab the person looks at
   * is the one that reaches the portal. Afterwards it continues as usual
   * (the success tab may have been closed).
   */
  readonly holdForSuccessPage: Step = async (ctx, next) => {
    const { flow } = ctx.state;
    const held = flow?.state === 'bound' && ctx.query.from !== 'success' && ctx.cookies.get(successPageCookie, { signed: true }) === flow.id;
    if (held) return this.showCheckInbox(ctx, next);
    await next();
  };
  /** Resumes the sign-in when the identity now has a profile of the asking portal. */
  readonly resumeIfBound: Step = async (ctx, next) => {
    const { flow, details } = ctx.state;
    const accountId = flow
      ? await this.service.resume(flow, async () => {
          const client = await this.interactions.client(details);
          return { clientId: client.clientId, portal: clientPortal(client), associationRequested: isAssociationRequest(details.params), ip: ctx.ip };
        })
      : undefined;
    if (!accountId) return next();
    ctx.cookies.set(waitingBrowserCookie, null, { path: '/' });
    ctx.cookies.set(successPageCookie, null, { path: '/interaction' });
    await this.interactions.finish(ctx, { login: { accountId } });
  };
  /**
   * A requested association (mbs_action=associate_profile) that can no
   * longer add a profile of the asking portal goes back to it as
   * association_failed, rather than ending on a broker page: the flow ended
   * or expired (no link confirmed in time — the address may be unknown, the
   * link expired), or the link confirmed bound a profile of another portal
   * only (resumeIfBound, just before, did not continue).
   */
  readonly failRequestedAssociation: Step = async (ctx, next) => {
    const { flow, details } = ctx.state;
    if (!isAssociationRequest(details.params)) return next();
    const ended = flow === undefined || flow.state === 'bound' || isTerminal(flow.state) || flow.expiresAt <= this.dependencies.clock.now();
    if (!ended) return next();
    if (flow) await this.service.recordRequestedAssociationFailed(flow, ctx.ip);
    ctx.cookies.set(waitingBrowserCookie, null, { path: '/' });
    await this.interactions.finish(ctx, { error: associationFailedError, error_description: errorMessage('error.association_failed') });
  };
  readonly requireLiveFlow: Step = async (ctx, next) => {
    assertFlowValid(ctx.state.flow as AssociationFlowRecord | undefined, this.dependencies.clock);
    await next();
  };
  readonly showCheckInbox: Step = async (ctx) => {
    const { details, flow } = ctx.state;
    const client = await this.interactions.client(details);
    ctx.set('Refresh', '5');
    this.#page(ctx, 'check-inbox.eta', { titleKey: 'check_inbox.title', email: flow.email ?? '', again: `/interaction/${details.uid}/email`, here: `/interaction/${details.uid}/sent` }, brandingPortal(client), this.#interactionLocale(ctx));
  };

  readonly #showInvalidLink = (ctx: StepContext, reason: keyof typeof invalidLinkStatus, status = invalidLinkStatus[reason]): void => {
    ctx.status = status;
    this.#page(ctx, 'link-invalid.eta', { titleKey: `link_invalid.${reason}.title`, messageKey: `link_invalid.${reason}.message` }, undefined, pageLocale(ctx));
  };
  readonly loadLink: Step = async (ctx, next) => {
    const described = await this.service.describeLink(String(ctx.params.token ?? ''));
    if (described.status !== 'valid') return this.#showInvalidLink(ctx, described.status);
    ctx.state.link = described.link;
    ctx.state.profile = described.profile;
    await next();
  };
  readonly recordLinkOpened: Step = async (ctx, next) => {
    await this.service.recordLinkOpened(ctx.state.profile, ctx.ip);
    await next();
  };
  readonly showLinkConfirm: Step = (ctx) => {
    const { link, profile } = ctx.state;
    this.#page(ctx, 'link-confirm.eta', {
      titleKey: 'link_confirm.title',
      organization: profile.organization,
      displayName: profile.displayName,
      profileId: profile.id,
      action: `/link/${String(ctx.params.token)}`,
      csrf: this.dependencies.csrf.issue('link', link.id),
    }, profile.portal, pageLocale(ctx));
  };
  readonly startConfirmation: Step = async (ctx) => {
    const { url, state } = await this.service.startConfirmation(ctx.state.link);
    ctx.cookies.set(linkStateCookie, state, { signed: true, httpOnly: true, sameSite: 'lax', path: '/link', maxAge: this.dependencies.upstreamTransactionTtl });
    ctx.redirect(url.href);
  };
  /** The round trip must come back to the browser that started it. */
  readonly finishReauthentication: Step = async (ctx, next) => {
    const state = queryValue(ctx, 'state');
    if (!state || ctx.cookies.get(linkStateCookie, { signed: true }) !== state) {
      throw new BrokerError('session_expired', 'error.link_state', { detail: 'link state cookie mismatch' });
    }
    ctx.cookies.set(linkStateCookie, null, { path: '/link' });
    ctx.state.reauthenticated = await this.service.finishReauthentication(state, new URL(ctx.originalUrl, this.dependencies.issuer));
    await next();
  };
  readonly confirm: Step = async (ctx, next) => {
    const { linkTokenHash, identity } = ctx.state.reauthenticated;
    const confirmed = await this.service.confirm(linkTokenHash, identity, { ip: ctx.ip, locale: pageLocale(ctx) });
    if (confirmed.outcome === 'used') return this.#showInvalidLink(ctx, 'used');
    if (confirmed.outcome === 'identity_mismatch') {
      ctx.status = 403;
      return this.#page(ctx, 'mismatch.eta', { titleKey: 'mismatch.title', signedIn: confirmed.signedIn }, confirmed.profile.portal, pageLocale(ctx));
    }
    ctx.state.link = confirmed.link;
    ctx.state.profile = confirmed.profile;
    await next();
  };
  /**
   * Step 9, always: which profile is now bound, what the other emails are
   * for, and the way on. In the browser that started the sign-in a button
   * (and, after a few seconds, the page itself) continues it; elsewhere the
   * page offers the portals, and the waiting tab continues by itself.
   */
  readonly showAssociated: Step = async (ctx) => {
    const { link, profile } = ctx.state;
    const waitingFlow = ctx.cookies.get(waitingBrowserCookie, { signed: true });
    const originating = link.interactionUid !== undefined && waitingFlow !== undefined && waitingFlow === link.flowId;
    const continueUrl = originating ? `/interaction/${encodeURIComponent(link.interactionUid!)}/sent?from=success` : undefined;
    const flow = originating ? await this.service.findFlow(link.interactionUid!) : undefined;
    const askingPortal = flow?.clientId ? brandingPortal(await this.dependencies.provider.Client.find(flow.clientId)) : undefined;
    if (continueUrl) {
      ctx.set('Refresh', `${successPageSeconds}; url=${continueUrl}`);
      ctx.cookies.set(successPageCookie, link.flowId, { signed: true, httpOnly: true, sameSite: 'lax', path: '/interaction', maxAge: successPageHoldSeconds * 1000 });
    }
    this.#page(ctx, 'associated.eta', {
      titleKey: 'associated.title',
      profileId: profile.id,
      organization: profile.organization,
      displayName: profile.displayName,
      portalName: portalName(profile.portal),
      email: profile.email,
      otherProfiles: await this.service.otherProfilesAwaiting(link, profile),
      continueUrl,
      continueTo: askingPortal ? portalName(askingPortal) : 'Microsoft Dynamics',
      seconds: successPageSeconds,
      portalLinks: continueUrl ? [] : this.#portalLinks(),
    }, profile.portal, pageLocale(ctx));
  };

  readonly #page = (ctx: Context, template: string, data: { titleKey: string } & Record<string, unknown>, portal: Portal | undefined, locale: ReturnType<typeof pageLocale>): void => {
    ctx.type = 'html';
    ctx.body = this.dependencies.pages.render(template, data, { portal, locale });
  }
  readonly #portalLinks = () =>
    (Object.keys(portalBranding) as Portal[]).flatMap((portal) => (this.dependencies.portalUrls[portal] ? [{ name: portalName(portal), url: this.dependencies.portalUrls[portal] }] : []));

  /** The sign-in's hand-over: start a flow, then ask for the email (or say which portals the account has). */
  readonly onNotAssociated = async (ctx: Context, situation: NotAssociated): Promise<void> => {
    const { details, client, identity, accountId } = situation;
    // The flow ends a minute before its interaction, so that a requested association's waiting tab can still return to the portal (failRequestedAssociation);
    // oidc-provider keeps the interaction's expiry in real time, hence Date.now() and not the injected clock.
    const interactionLeft = details.exp * 1000 - Date.now() - flowEndsBeforeInteraction;
    const started = await this.service.start({ interactionUid: details.uid, clientId: client.clientId, identity, accountId, portal: brandingPortal(client), ip: ctx.ip, interactionLeft });
    if (started.next === 'portal_fit') {
      // Bound, but not to this portal: say so instead of asking as if nothing was known.
      ctx.status = 403;
      this.#page(ctx, 'portal-fit.eta', { titleKey: 'portal_fit.title', otherPortals: started.otherPortals, action: `/interaction/${details.uid}/email` }, brandingPortal(client), pageLocale(ctx, details.params.ui_locales));
      return;
    }
    ctx.status = 303;
    ctx.redirect(`/interaction/${details.uid}/email`);
  }
}

export function associationRoutes(dependencies: AssociationDependencies): {
  router: Router<AssociationState>;
  onNotAssociated: (ctx: Context, situation: NotAssociated) => Promise<void>;
  /** The service under the routes (the support desk resends links through it). */
  service: AssociationService;
} {
  const service = new AssociationService({ ...dependencies, callbackUri: `${dependencies.issuer}${upstreamCallbackPath}` });
  const steps = new AssociationSteps(dependencies, service);
  const { form, loadInteraction, loadFlow, loadClient, requireCsrf, showEmailForm, parseEmailForm, requestLinks, rememberWaitingBrowser, redirectToCheckInbox, cancelFlow, finishDenied } = steps;
  const { loadInteractionOrSayResumed, loadStoredFlow, holdForSuccessPage, resumeIfBound, failRequestedAssociation, requireLiveFlow, showCheckInbox } = steps;
  const { loadLink, recordLinkOpened, showLinkConfirm, startConfirmation, finishReauthentication, confirm, showAssociated } = steps;
  const router = new Router<AssociationState>({ sensitive: true, strict: true });

  // Step 4: the MBS email.
  router.get('/interaction/:uid/email', loadInteraction, loadFlow, loadClient, (ctx) => showEmailForm(ctx));
  // Steps 5–6: one link and one email per profile, then "check your inbox".
  router.post('/interaction/:uid/email', form, loadInteraction, loadFlow, loadClient, requireCsrf('email', 'portal'), parseEmailForm, requestLinks, rememberWaitingBrowser, redirectToCheckInbox);
  router.post('/interaction/:uid/cancel', form, loadInteraction, loadFlow, requireCsrf('email', 'portal'), cancelFlow, finishDenied);
  // Step 5: check your inbox; the page polls, and continues once bound.
  // A requested association that cannot add a profile of the asking portal returns to it as association_failed.
  router.get('/interaction/:uid/sent', loadInteractionOrSayResumed, loadStoredFlow, holdForSuccessPage, resumeIfBound, failRequestedAssociation, requireLiveFlow, showCheckInbox);
  // Step 9: the identity must be the one that asked; consume and bind in one transaction.
  // (Registered before /link/:token, which would take 'callback' for a token.)
  router.get('/link/callback', finishReauthentication, confirm, showAssociated);
  // Step 7: GET never consumes (mail scanners open links).
  router.get('/link/:token', loadLink, recordLinkOpened, showLinkConfirm);
  // Step 8: re-authenticate upstream with prompt=login and a state of its own.
  router.post('/link/:token', form, loadLink, requireCsrf('link', 'link'), startConfirmation);

  return { router, onNotAssociated: steps.onNotAssociated, service };
}
