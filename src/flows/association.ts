// The first-login association (guide steps 4–10): ask for the MBS email,
// send one single-use link per profile registered to it (queued with the
// link in one transaction), confirm a link only after the same upstream
// identity signs in again, bind, and resume the original sign-in — in the
// browser that started it, or from the waiting tab when the link was opened
// on another device.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Clock } from '../clock.ts';
import { BrokerError } from '../errors.ts';
import { parseEmail } from '../directory/email.ts';
import type { Logger } from '../logging.ts';
import type { Outbox } from '../mail/outbox.ts';
import type { EmailRenderer, RenderedEmail } from '../mail/render.ts';
import { associationRequested } from '../provider/provider.ts';
import { brandingPortal, clientPortal, portalBranding, portalName, profileEmailData } from '../directory/portals.ts';
import type { Locale } from '../i18n.ts';
import { generateSecret, secretHash } from '../secrets.ts';
import type { AssociationFlowRecord, LinkRequestRecord, Portal, ProfileRecord } from '../store/records.ts';
import type { Repositories, Store } from '../store/store.ts';
import type { Upstream } from '../upstream/upstream.ts';
import { assertFlowValid, statesLeadingTo } from './associationFlow.ts';
import type { CsrfTokens } from './csrf.ts';
import { interactionHelpers, queryValue, sessionExpired, upstreamCallbackPath, type InteractionDetails } from './interactions.ts';
import { pageLocale, type PageRenderer } from '../web/pages.ts';
import type { NotAssociated } from './signIn.ts';

export interface AssociationDependencies {
  provider: Provider;
  upstream: Upstream;
  store: Store;
  outbox: Outbox;
  emails: EmailRenderer;
  pages: PageRenderer;
  csrf: CsrfTokens;
  clock: Clock;
  logger: Logger;
  issuer: string;
  supportEmail: string;
  /** Milliseconds. */
  flowTtl: number;
  linkTtl: number;
  upstreamTransactionTtl: number;
  linkRequestsPerHour: number;
  /** Where each portal lives, for the links on the success page. */
  portalUrls: Partial<Record<Portal, string>>;
}

const hour = 60 * 60 * 1000;
const linkStateCookie = 'mbs_link_state';
const waitingBrowserCookie = 'mbs_association';
/** How long the success page stays before it continues the sign-in by itself (guide step 9). */
const successPageSeconds = 8;
/** How long the waiting tab of that browser leaves the continuation to the success page. */
const successPageHoldSeconds = 15;
const successPageCookie = 'mbs_association_shown';

const rateLimited = (retryAfterMilliseconds: number): BrokerError => {
  const minutes = Math.max(1, Math.ceil(retryAfterMilliseconds / 60_000));
  return new BrokerError('rate_limited', `Too many association emails were requested. Please wait ${minutes} minutes and try again.`, {
    detail: 'link request rate limit',
    messageKey: 'error.rate_limited',
    messageValues: { minutes },
  });
};

export function associationRoutes(dependencies: AssociationDependencies): { router: Router; onNotAssociated: (ctx: Context, situation: NotAssociated) => Promise<void> } {
  const { provider, upstream, store, outbox, emails, pages, csrf, clock, logger, issuer } = dependencies;
  const interactions = interactionHelpers(provider);
  const router = new Router({ sensitive: true, strict: true });
  const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });
  const callbackUri = `${issuer}${upstreamCallbackPath}`;

  async function activeFlow(details: InteractionDetails): Promise<AssociationFlowRecord> {
    const flow = await store.associationFlows.findByInteraction(details.uid);
    if (flow && flow.state !== 'bound' && flow.expiresAt <= clock.now()) {
      await store.associationFlows.transition(flow.id, statesLeadingTo('expired'), 'expired');
    }
    assertFlowValid(flow, clock);
    return flow;
  }

  function renderEmailForm(ctx: Context, details: InteractionDetails, flow: AssociationFlowRecord, client: unknown, problem?: string, typed = ''): void {
    ctx.type = 'html';
    ctx.body = pages.render(
      'email-entry.eta',
      {
        titleKey: 'email_entry.title',
        action: `/interaction/${details.uid}/email`,
        cancel: `/interaction/${details.uid}/cancel`,
        csrf: csrf.issue('email', flow.id),
        problem,
        typed,
      },
      { portal: brandingPortal(client), locale: pageLocale(ctx, details.params.ui_locales) },
    );
  }

  const portalLinks = () =>
    (Object.keys(portalBranding) as Portal[]).flatMap((portal) => (dependencies.portalUrls[portal] ? [{ name: portalName(portal), url: dependencies.portalUrls[portal] }] : []));

  /** Resumes the sign-in when the identity now has a profile of the asking portal. */
  async function resumeIfBound(ctx: Context, details: InteractionDetails, flow: AssociationFlowRecord): Promise<boolean> {
    const identity = await store.identities.findByIssuerAndSubject(flow.issuer, flow.subject);
    if (!identity) return false;
    const client = await interactions.client(details);
    const portal = clientPortal(client);
    const profiles = await store.profileBindings.listProfilesByAccount(identity.accountId, portal === 'both' ? undefined : portal);
    if (profiles.length === 0) return false;
    // Asked from the account page: continue only once this flow bound a profile.
    if (((details.prompt.reasons ?? []) as string[]).includes(associationRequested) && flow.state !== 'bound') return false;
    ctx.cookies.set(waitingBrowserCookie, null, { path: '/' });
    ctx.cookies.set(successPageCookie, null, { path: '/interaction' });
    await store.identities.recordSignIn(identity.id, {});
    await store.auditEvents.record({ type: 'sign_in', outcome: 'success', accountId: identity.accountId, clientId: client.clientId, ip: ctx.ip, details: { via: 'association' } });
    await interactions.finish(ctx, { login: { accountId: identity.accountId } });
    return true;
  }

  async function onNotAssociated(ctx: Context, situation: NotAssociated): Promise<void> {
    const { details, client, identity, accountId } = situation;
    const flow = await store.associationFlows.create({
      interactionUid: details.uid,
      clientId: client.clientId,
      issuer: identity.issuer,
      subject: identity.subject,
      expiresAt: clock.now() + dependencies.flowTtl,
    });
    await store.auditEvents.record({ type: 'association.started', outcome: 'success', accountId, clientId: client.clientId, ip: ctx.ip });
    const portal = brandingPortal(client);
    if (accountId && portal) {
      // Bound, but not to this portal: say so instead of asking as if nothing was known.
      const other = (await store.profileBindings.listProfilesByAccount(accountId)).map((profile) => portalName(profile.portal));
      ctx.status = 403;
      ctx.type = 'html';
      ctx.body = pages.render(
        'portal-fit.eta',
        { titleKey: 'portal_fit.title', otherPortals: [...new Set(other)].join(' / '), action: `/interaction/${details.uid}/email` },
        { portal, locale: pageLocale(ctx, details.params.ui_locales) },
      );
      return;
    }
    ctx.status = 303;
    ctx.redirect(`/interaction/${details.uid}/email`);
  }

  // Step 4: the MBS email.
  router.get('/interaction/:uid/email', async (ctx) => {
    const details = await interactions.load(ctx);
    const flow = await activeFlow(details);
    renderEmailForm(ctx, details, flow, await interactions.client(details));
  });

  router.post('/interaction/:uid/email', form, async (ctx) => {
    const details = await interactions.load(ctx);
    const flow = await activeFlow(details);
    const client = await interactions.client(details);
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    csrf.require('email', flow.id, body.csrf, 'portal');
    const email = parseEmail(body.email);
    if (!email) {
      ctx.status = 400;
      renderEmailForm(ctx, details, flow, client, 'email_entry.invalid', typeof body.email === 'string' ? body.email.slice(0, 320) : '');
      return;
    }
    const limit = dependencies.linkRequestsPerHour;
    for (const [key, allowed] of [
      [`link-requests:identity:${flow.issuer}|${flow.subject}`, limit],
      [`link-requests:email:${email}`, limit],
      [`link-requests:ip:${ctx.ip}`, limit * 4],
    ] as const) {
      const hit = await store.rateLimits.hit(key, allowed, hour);
      if (!hit.allowed) {
        await store.auditEvents.record({ type: 'association.rate_limited', outcome: 'failure', clientId: client.clientId, ip: ctx.ip, details: { limit: key.split(':')[1] } });
        ctx.set('Retry-After', String(Math.ceil(hit.retryAfterMilliseconds / 1000)));
        throw rateLimited(hit.retryAfterMilliseconds);
      }
    }
    await requestLinks(ctx, flow, email, client.clientId, pageLocale(ctx, details.params.ui_locales));
    ctx.cookies.set(waitingBrowserCookie, flow.id, { signed: true, httpOnly: true, sameSite: 'lax', path: '/', maxAge: dependencies.flowTtl });
    ctx.status = 303;
    ctx.redirect(`/interaction/${details.uid}/sent`);
  });

  /**
   * Step 5–6: one link and one email per profile of the address, queued in
   * one transaction. An unknown address sends nothing, but the same work is
   * done (a decoy email is rendered) so responses cannot tell them apart.
   */
  async function requestLinks(ctx: Context, flow: AssociationFlowRecord, email: string, clientId: string, locale: Locale): Promise<void> {
    const profiles = await store.profiles.findByEmail(email);
    const expiresAt = clock.now() + dependencies.linkTtl;
    const prepared: Array<{ profile: ProfileRecord; tokenHash: string; message: RenderedEmail }> = [];
    for (const profile of profiles) {
      const token = generateSecret(32);
      prepared.push({ profile, tokenHash: secretHash(token), message: await associationEmail(profile, token, expiresAt, locale) });
    }
    if (profiles.length === 0) await associationEmail(decoyProfile(email), generateSecret(32), expiresAt, locale);
    await store.transaction(async (repositories) => {
      const moved = await repositories.associationFlows.transition(flow.id, statesLeadingTo('links_sent'), 'links_sent', { email });
      if (!moved) throw sessionExpired(`flow ${flow.id} could not move to links_sent`);
      for (const { profile, tokenHash, message } of prepared) {
        await repositories.linkRequests.create({ tokenHash, flowId: flow.id, profileId: profile.id, issuer: flow.issuer, subject: flow.subject, interactionUid: flow.interactionUid, expiresAt });
        await outbox.queue(repositoriesExecutor(repositories), { kind: 'association_link', recipient: profile.email, ...message });
        await repositories.auditEvents.record({ type: 'association.link_queued', outcome: 'success', profileId: profile.id, clientId, ip: ctx.ip });
      }
      await repositories.auditEvents.record({ type: 'association.email_submitted', outcome: 'success', clientId, ip: ctx.ip, details: { profiles: profiles.length } });
    });
    logger.info({ flow: flow.id, links: prepared.length }, 'association links requested');
  }

  const associationEmail = (profile: ProfileRecord, token: string, expiresAt: number, locale: Locale): Promise<RenderedEmail> =>
    emails.render('association-link', locale, {
      ...profileEmailData(profile, dependencies.supportEmail),
      displayName: profile.displayName,
      link: `${issuer}/link/${token}`,
      expires: `${new Intl.DateTimeFormat(locale, { dateStyle: 'long', timeStyle: 'short', timeZone: 'UTC' }).format(new Date(expiresAt))} UTC`,
    });

  router.post('/interaction/:uid/cancel', form, async (ctx) => {
    const details = await interactions.load(ctx);
    const flow = await activeFlow(details);
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    csrf.require('email', flow.id, body.csrf, 'portal');
    await store.associationFlows.transition(flow.id, statesLeadingTo('cancelled'), 'cancelled');
    await store.auditEvents.record({ type: 'association.cancelled', outcome: 'success', clientId: flow.clientId, ip: ctx.ip });
    await interactions.finish(ctx, { error: 'access_denied', error_description: 'The association was cancelled.' });
  });

  // Step 5: check your inbox; the page polls, and continues once bound.
  router.get('/interaction/:uid/sent', async (ctx) => {
    const details = await interactions.load(ctx).catch(async (error: unknown) => {
      // The sign-in already resumed in another tab of this browser (the link's):
      // this waiting tab says so instead of showing an error.
      const flow = await store.associationFlows.findByInteraction(String(ctx.params.uid));
      if (flow?.state !== 'bound') throw error;
      ctx.type = 'html';
      ctx.body = pages.render('associated.eta', { titleKey: 'associated.title', elsewhere: true, portalLinks: portalLinks() }, { portal: brandingPortal(flow.clientId ? await provider.Client.find(flow.clientId) : undefined), locale: pageLocale(ctx) });
      return undefined;
    });
    if (!details) return;
    const flow = await store.associationFlows.findByInteraction(details.uid);
    if (flow && heldForSuccessPage(ctx, flow)) {
      await renderCheckInbox(ctx, details, flow);
      return;
    }
    if (flow && (await resumeIfBound(ctx, details, flow))) return;
    assertFlowValid(flow, clock);
    await renderCheckInbox(ctx, details, flow);
  });

  /**
   * In the browser that confirmed the link, the success page continues the
   * sign-in (its button, or itself after a few seconds): the tab waiting at
   * "check your inbox" leaves it that long, so the tab the person looks at
   * is the one that reaches the portal. Afterwards it continues as usual
   * (the success tab may have been closed).
   */
  function heldForSuccessPage(ctx: Context, flow: AssociationFlowRecord): boolean {
    return flow.state === 'bound' && ctx.query.from !== 'success' && ctx.cookies.get(successPageCookie, { signed: true }) === flow.id;
  }

  async function renderCheckInbox(ctx: Context, details: InteractionDetails, flow: AssociationFlowRecord): Promise<void> {
    const client = await interactions.client(details);
    ctx.set('Refresh', '5');
    ctx.type = 'html';
    ctx.body = pages.render(
      'check-inbox.eta',
      { titleKey: 'check_inbox.title', email: flow.email ?? '', again: `/interaction/${details.uid}/email`, here: `/interaction/${details.uid}/sent` },
      { portal: brandingPortal(client), locale: pageLocale(ctx, details.params.ui_locales) },
    );
  }

  function renderInvalidLink(ctx: Context, reason: 'unknown' | 'used' | 'expired' | 'profile_gone', status: number): void {
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = pages.render('link-invalid.eta', { titleKey: `link_invalid.${reason}.title`, messageKey: `link_invalid.${reason}.message` }, { locale: pageLocale(ctx) });
  }

  async function loadLink(ctx: Context): Promise<{ link: LinkRequestRecord; profile: ProfileRecord }> {
    const token = String(ctx.params.token ?? '');
    const link = /^[A-Za-z0-9_-]{20,100}$/.test(token) ? await store.linkRequests.findByTokenHash(secretHash(token)) : undefined;
    if (!link) {
      renderInvalidLink(ctx, 'unknown', 404);
      throw linkHandled;
    }
    if (link.consumedAt !== undefined) {
      renderInvalidLink(ctx, 'used', 410);
      throw linkHandled;
    }
    if (link.expiresAt <= clock.now()) {
      renderInvalidLink(ctx, 'expired', 410);
      throw linkHandled;
    }
    const profile = await store.profiles.find(link.profileId);
    if (!profile) {
      renderInvalidLink(ctx, 'profile_gone', 410);
      throw linkHandled;
    }
    return { link, profile };
  }

  // Step 9: the identity must be the one that asked; consume and bind in one transaction.
  router.get('/link/callback', async (ctx) => {
    const state = queryValue(ctx, 'state');
    if (!state || ctx.cookies.get(linkStateCookie, { signed: true }) !== state) {
      throw new BrokerError('session_expired', 'This confirmation was started in another browser or took too long. Open the link from the email again.', { detail: 'link state cookie mismatch', messageKey: 'error.link_state' });
    }
    ctx.cookies.set(linkStateCookie, null, { path: '/link' });
    const transaction = await store.upstreamTransactions.consume(state);
    const linkHash = typeof transaction?.context.tokenHash === 'string' ? transaction.context.tokenHash : undefined;
    if (!transaction || transaction.purpose !== 'link' || !linkHash) throw sessionExpired('link transaction unknown, used or expired');
    const identity = await upstream.finishAuthorization({ callbackUrl: new URL(ctx.originalUrl, issuer), redirectUri: callbackUri, state, nonce: transaction.nonce, codeVerifier: transaction.codeVerifier });
    const link = await store.linkRequests.findByTokenHash(linkHash);
    const profile = link ? await store.profiles.find(link.profileId) : undefined;
    if (!link || !profile) throw sessionExpired('link vanished during re-authentication');
    // Keyed by the full upstream identity, not (user, provider): CVE-2026-9087.
    if (identity.issuer !== link.issuer || identity.subject !== link.subject) {
      await store.auditEvents.record({ type: 'association.identity_mismatch', outcome: 'failure', profileId: profile.id, ip: ctx.ip });
      ctx.status = 403;
      ctx.type = 'html';
      ctx.body = pages.render('mismatch.eta', { titleKey: 'mismatch.title', signedIn: identity.email ?? identity.name ?? '' }, { portal: profile.portal, locale: pageLocale(ctx) });
      return;
    }
    const outcome = await bind(ctx, link, profile);
    if (outcome === 'used') {
      renderInvalidLink(ctx, 'used', 410);
      return;
    }
    await renderAssociated(ctx, link, profile);
  });

  /**
   * Step 9, always: which profile is now bound, what the other emails are
   * for, and the way on. In the browser that started the sign-in a button
   * (and, after a few seconds, the page itself) continues it; elsewhere the
   * page offers the portals, and the waiting tab continues by itself.
   */
  async function renderAssociated(ctx: Context, link: LinkRequestRecord, profile: ProfileRecord): Promise<void> {
    const waitingFlow = ctx.cookies.get(waitingBrowserCookie, { signed: true });
    const originating = link.interactionUid !== undefined && waitingFlow !== undefined && waitingFlow === link.flowId;
    const continueUrl = originating ? `/interaction/${encodeURIComponent(link.interactionUid!)}/sent?from=success` : undefined;
    const flow = originating ? await store.associationFlows.findByInteraction(link.interactionUid!) : undefined;
    const askingPortal = flow?.clientId ? brandingPortal(await provider.Client.find(flow.clientId)) : undefined;
    if (continueUrl) {
      ctx.set('Refresh', `${successPageSeconds}; url=${continueUrl}`);
      ctx.cookies.set(successPageCookie, link.flowId, { signed: true, httpOnly: true, sameSite: 'lax', path: '/interaction', maxAge: successPageHoldSeconds * 1000 });
    }
    ctx.type = 'html';
    ctx.body = pages.render(
      'associated.eta',
      {
        titleKey: 'associated.title',
        profileId: profile.id,
        organization: profile.organization,
        displayName: profile.displayName,
        portalName: portalName(profile.portal),
        email: profile.email,
        otherProfiles: await otherProfilesAwaiting(link, profile),
        continueUrl,
        continueTo: askingPortal ? portalName(askingPortal) : 'Microsoft Dynamics',
        seconds: successPageSeconds,
        portalLinks: continueUrl ? [] : portalLinks(),
      },
      { portal: profile.portal, locale: pageLocale(ctx) },
    );
  }

  /** How many other profiles of the same address are not bound to this identity yet: each has its own email. */
  async function otherProfilesAwaiting(link: LinkRequestRecord, profile: ProfileRecord): Promise<number> {
    const identity = await store.identities.findByIssuerAndSubject(link.issuer, link.subject);
    const bound = new Set(identity ? (await store.profileBindings.listProfilesByAccount(identity.accountId)).map((candidate) => candidate.id) : [profile.id]);
    return (await store.profiles.findByEmail(profile.email)).filter((candidate) => !bound.has(candidate.id)).length;
  }

  // Step 7: GET never consumes (mail scanners open links).
  router.get('/link/:token', async (ctx) => {
    const loaded = await loadLink(ctx).catch(rethrowUnlessHandled);
    if (!loaded) return;
    const { link, profile } = loaded;
    await store.auditEvents.record({ type: 'association.link_opened', outcome: 'success', profileId: profile.id, ip: ctx.ip });
    ctx.type = 'html';
    ctx.body = pages.render(
      'link-confirm.eta',
      {
        titleKey: 'link_confirm.title',
        organization: profile.organization,
        displayName: profile.displayName,
        profileId: profile.id,
        action: `/link/${String(ctx.params.token)}`,
        csrf: csrf.issue('link', link.id),
      },
      { portal: profile.portal, locale: pageLocale(ctx) },
    );
  });

  // Step 8: re-authenticate upstream with prompt=login and a state of its own.
  router.post('/link/:token', form, async (ctx) => {
    const loaded = await loadLink(ctx).catch(rethrowUnlessHandled);
    if (!loaded) return;
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    csrf.require('link', loaded.link.id, body.csrf, 'link');
    const start = await upstream.startAuthorization({ redirectUri: callbackUri, prompt: 'login' });
    await store.upstreamTransactions.create({
      state: start.state,
      purpose: 'link',
      codeVerifier: start.codeVerifier,
      nonce: start.nonce,
      context: { linkId: loaded.link.id, tokenHash: loaded.link.tokenHash },
      expiresAt: clock.now() + dependencies.upstreamTransactionTtl,
    });
    ctx.cookies.set(linkStateCookie, start.state, { signed: true, httpOnly: true, sameSite: 'lax', path: '/link', maxAge: dependencies.upstreamTransactionTtl });
    ctx.redirect(start.url.href);
  });

  async function bind(ctx: Context, link: LinkRequestRecord, profile: ProfileRecord): Promise<'bound' | 'used'> {
    const notification = await emails.render('binding-moved', pageLocale(ctx), profileEmailData(profile, dependencies.supportEmail));
    return store.transaction(async (repositories) => {
      if (!(await repositories.linkRequests.consume(link.id))) return 'used';
      let identity = await repositories.identities.findByIssuerAndSubject(link.issuer, link.subject);
      if (!identity) {
        const account = await repositories.accounts.create({ email: profile.email, emailVerified: true, name: profile.displayName });
        identity = await repositories.identities.create({ accountId: account.id, issuer: link.issuer, subject: link.subject });
      } else {
        const account = await repositories.accounts.find(identity.accountId);
        if (account && !account.emailVerified) await repositories.accounts.update(account.id, { email: profile.email, emailVerified: true, name: account.name ?? profile.displayName });
      }
      const { previous } = await repositories.profileBindings.bind({ profileId: profile.id, accountId: identity.accountId, identityId: identity.id, method: 'association' });
      const moved = previous !== undefined && previous.accountId !== identity.accountId;
      if (moved) await outbox.queue(repositoriesExecutor(repositories), { kind: 'binding_moved', recipient: profile.email, ...notification });
      if (link.flowId) await repositories.associationFlows.transition(link.flowId, statesLeadingTo('bound'), 'bound');
      await repositories.auditEvents.record({
        type: moved ? 'binding.moved' : 'binding.created',
        outcome: 'success',
        actor: 'user',
        accountId: identity.accountId,
        profileId: profile.id,
        ip: ctx.ip,
        details: { method: 'association', ...(moved ? { previousAccountId: previous.accountId } : {}) },
      });
      return 'bound';
    });
  }

  return { router, onNotAssociated };
}

/** The transaction behind a set of repositories, for the outbox to write in. */
function repositoriesExecutor(repositories: Repositories) {
  return repositories.executor;
}

const linkHandled = Symbol('link page already rendered');
function rethrowUnlessHandled(error: unknown): undefined {
  if (error === linkHandled) return undefined;
  throw error;
}

function decoyProfile(email: string): ProfileRecord {
  return { id: 'MBS-000000', portal: 'partnersource', email, displayName: 'Profile', organization: 'Organization', roles: [], createdAt: 0, updatedAt: 0 };
}
