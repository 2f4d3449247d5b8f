// The first-login association as a service with no HTTP in it (guide steps
// 4–10): start a flow, request links (rate limits, one hashed link and one
// queued email per profile, no enumeration), describe a link, start and
// finish the upstream re-authentication, confirm (the identity must match;
// bind and consume in one transaction) and resume the waiting sign-in.
// Inputs and outputs are plain data; refusals are BrokerErrors. The routes
// in association.ts put cookies, redirects and pages around it.
import type { Clock } from '../clock.ts';
import { BrokerError, sessionExpired } from '../errors.ts';
import type { Logger } from '../logging.ts';
import type { Locale } from '../i18n.ts';
import type { Outbox } from '../mail/outbox.ts';
import type { EmailRenderer, RenderedEmail } from '../mail/render.ts';
import { portalName, profileEmailData } from '../directory/portals.ts';
import { generateSecret, secretHash } from '../secrets.ts';
import type { AssociationFlowRecord, ClientPortal, LinkRequestRecord, Portal, ProfileRecord } from '../domain/records.ts';
import type { Store } from '../store/store.ts';
import type { Upstream, UpstreamIdentity } from '../upstream/upstream.ts';
import type { Upstreams } from '../upstream/upstreams.ts';
import { assertFlowValid, statesLeadingTo } from './associationFlow.ts';
import { beginRoundTrip } from './upstreamRoundTrip.ts';

export interface AssociationServiceDependencies {
  store: Store;
  outbox: Outbox;
  emails: EmailRenderer;
  upstreams: Upstreams;
  clock: Clock;
  logger: Logger;
  /** The broker's issuer: links and the upstream callback live under it. */
  issuer: string;
  /** The one redirect URI registered at the upstream. */
  callbackUri: string;
  supportEmail: string;
  /** Milliseconds. */
  flowTtl: number;
  linkTtl: number;
  upstreamTransactionTtl: number;
  /** Per identity and per address; an IP address may ask four times as often (shared offices). */
  linkRequestsPerHour: number;
}

/** Who is asking, as the audit trail and the emails need it. */
export interface Requester {
  ip: string;
  locale: Locale;
}

/** Where a flow starts: the sign-in found an identity with no profile of the asking portal. */
export interface FlowStart {
  interactionUid: string;
  clientId: string;
  identity: UpstreamIdentity;
  /** The identity's broker account when it has one (bound to another portal only). */
  accountId: string | undefined;
  /** The asking portal's branding, when it is one portal. */
  portal: Portal | undefined;
  ip: string;
  /** Milliseconds the waiting sign-in has left: the flow never outlives it. */
  interactionLeft?: number;
}

/** Ask for the MBS email, or say the account is bound to other portals only. */
export type FlowStartOutcome = { next: 'ask_email'; flow: AssociationFlowRecord } | { next: 'portal_fit'; flow: AssociationFlowRecord; otherPortals: string };

export type LinkDescription = { status: 'valid'; link: LinkRequestRecord; profile: ProfileRecord } | { status: 'unknown' | 'used' | 'expired' | 'profile_gone' };

export type ConfirmOutcome =
  | { outcome: 'bound'; link: LinkRequestRecord; profile: ProfileRecord; moved: boolean }
  | { outcome: 'used' }
  /** Another identity signed in than the one that asked: nothing bound, the link stays unused. */
  | { outcome: 'identity_mismatch'; profile: ProfileRecord; signedIn: string };

/** The sign-in waiting on a flow: which portal asks, and whether it asked to associate another profile. */
export interface WaitingSignIn {
  clientId: string;
  portal: ClientPortal;
  /** Asked to associate another profile (mbs_action=associate_profile, from the account page or a portal): continue only once this flow bound a profile. */
  associationRequested: boolean;
  ip: string;
}

/** Too many link requests: a BrokerError that also says when to try again (Retry-After). */
export class LinkRequestsLimited extends BrokerError {
  readonly retryAfterSeconds: number;
  constructor(retryAfterMilliseconds: number) {
    const minutes = Math.max(1, Math.ceil(retryAfterMilliseconds / 60_000));
    super('rate_limited', 'error.rate_limited', {
      detail: 'link request rate limit',
      messageValues: { minutes },
    });
    this.retryAfterSeconds = Math.ceil(retryAfterMilliseconds / 1000);
  }
}

const hour = 60 * 60 * 1000;
const linkTokenPattern = /^[A-Za-z0-9_-]{20,100}$/;

export class AssociationService {
  readonly #d: AssociationServiceDependencies;

  constructor(dependencies: AssociationServiceDependencies) {
    this.#d = dependencies;
  }

  /** Step 4: a new flow for the interaction; the portal-fit answer when the account has profiles elsewhere. */
  async start(start: FlowStart): Promise<FlowStartOutcome> {
    const { store, clock } = this.#d;
    const flow = await store.associationFlows.create({
      interactionUid: start.interactionUid,
      clientId: start.clientId,
      issuer: start.identity.issuer,
      subject: start.identity.subject,
      upstreamId: start.identity.upstreamId,
      expiresAt: clock.now() + Math.max(0, Math.min(this.#d.flowTtl, start.interactionLeft ?? this.#d.flowTtl)),
    });
    await store.auditEvents.record({ type: 'association.started', outcome: 'success', accountId: start.accountId, clientId: start.clientId, ip: start.ip });
    if (!start.accountId || !start.portal) return { next: 'ask_email', flow };
    const other = (await store.profileBindings.listProfilesByAccount(start.accountId)).map((profile) => portalName(profile.portal));
    // An account with no profile at all (made by a console sign-in) is asked for its email like a new one.
    if (other.length === 0) return { next: 'ask_email', flow };
    return { next: 'portal_fit', flow, otherPortals: [...new Set(other)].join(' / ') };
  }

  /** The flow of an interaction, as stored (any state). */
  findFlow(interactionUid: string): Promise<AssociationFlowRecord | undefined> {
    return this.#d.store.associationFlows.findByInteraction(interactionUid);
  }

  /** The flow every step of the interaction starts from; throws unless it exists, is live and unexpired (an expired one is marked so). */
  async activeFlow(interactionUid: string): Promise<AssociationFlowRecord> {
    const { store, clock } = this.#d;
    const flow = await store.associationFlows.findByInteraction(interactionUid);
    if (flow && flow.state !== 'bound' && flow.expiresAt <= clock.now()) {
      await store.associationFlows.transition(flow.id, statesLeadingTo('expired'), 'expired');
    }
    assertFlowValid(flow, clock);
    return flow;
  }

  /**
   * Steps 5–6: within the rate limits, one link and one email per profile of
   * the address, queued in one transaction with the flow's move to
   * links_sent. An unknown address sends nothing, but the same work is done
   * (a decoy email is rendered) so the answers cannot tell them apart.
   * Returns how many links were queued (for the logs and tests, never for the person).
   */
  async requestLinks(flow: AssociationFlowRecord, email: string, requester: Requester & { clientId: string }): Promise<number> {
    const { store, outbox, clock, logger } = this.#d;
    await this.#admitLinkRequest(flow, email, requester);
    const profiles = await store.profiles.findByEmail(email);
    const expiresAt = clock.now() + this.#d.linkTtl;
    const prepared: Array<{ profile: ProfileRecord; tokenHash: string; message: RenderedEmail }> = [];
    for (const profile of profiles) {
      const token = generateSecret(32);
      prepared.push({ profile, tokenHash: secretHash(token), message: await this.#associationEmail(profile, token, expiresAt, requester.locale) });
    }
    if (profiles.length === 0) await this.#associationEmail(decoyProfile(email), generateSecret(32), expiresAt, requester.locale);
    const { clientId, ip } = requester;
    await store.transaction(async (repositories) => {
      const moved = await repositories.associationFlows.transition(flow.id, statesLeadingTo('links_sent'), 'links_sent', { email });
      if (!moved) throw sessionExpired(`flow ${flow.id} could not move to links_sent`);
      for (const { profile, tokenHash, message } of prepared) {
        await repositories.linkRequests.create({ tokenHash, flowId: flow.id, profileId: profile.id, issuer: flow.issuer, subject: flow.subject, upstreamId: flow.upstreamId, interactionUid: flow.interactionUid, expiresAt });
        await outbox.queue(repositories.executor, { kind: 'association_link', recipient: profile.email, ...message });
        await repositories.auditEvents.record({ type: 'association.link_queued', outcome: 'success', profileId: profile.id, clientId, ip });
      }
      await repositories.auditEvents.record({ type: 'association.email_submitted', outcome: 'success', clientId, ip, details: { profiles: profiles.length } });
    });
    logger.info({ flow: flow.id, links: prepared.length }, 'association links requested');
    return prepared.length;
  }

  /** Throws LinkRequestsLimited (audited) when the identity, the address or the IP address asked too often this hour. */
  async #admitLinkRequest(flow: Pick<AssociationFlowRecord, 'issuer' | 'subject'>, email: string, requester: { clientId?: string | undefined; ip?: string | undefined; actor?: string }): Promise<void> {
    const { store } = this.#d;
    const limit = this.#d.linkRequestsPerHour;
    const limits: Array<readonly [string, number]> = [
      [`link-requests:identity:${flow.issuer}|${flow.subject}`, limit],
      [`link-requests:email:${email}`, limit],
      // An admin's resend has no IP address of the person's to count.
      ...(requester.ip === undefined ? [] : [[`link-requests:ip:${requester.ip}`, limit * 4] as const]),
    ];
    for (const [key, allowed] of limits) {
      const hit = await store.rateLimits.hit(key, allowed, hour);
      if (!hit.allowed) {
        await store.auditEvents.record({ type: 'association.rate_limited', outcome: 'failure', actor: requester.actor, clientId: requester.clientId, ip: requester.ip, details: { limit: key.split(':')[1] } });
        throw new LinkRequestsLimited(hit.retryAfterMilliseconds);
      }
    }
  }

  /**
   * An admin sends a pending link's email again: a new link (tokens are
   * stored hashed, so the old one cannot be re-sent) for the same profile
   * and requesting identity, replacing the old one, within the same rate
   * limits as the person's own requests (identity and address).
   */
  async resendLink(linkId: string, resend: { actor: string; auditDetails?: Record<string, string>; locale: Locale }): Promise<LinkRequestRecord> {
    const { store, outbox, clock } = this.#d;
    const link = await store.linkRequests.find(linkId);
    if (!link || link.consumedAt !== undefined || link.expiresAt <= clock.now()) throw new BrokerError('not_found', 'error.console.link_gone', { detail: `no pending link ${linkId}` });
    const profile = await store.profiles.find(link.profileId);
    if (!profile) throw new BrokerError('not_found', 'error.console.link_gone', { detail: `the profile of link ${linkId} is gone` });
    await this.#admitLinkRequest(link, profile.email, { actor: resend.actor });
    const token = generateSecret(32);
    const expiresAt = clock.now() + this.#d.linkTtl;
    const message = await this.#associationEmail(profile, token, expiresAt, resend.locale);
    return store.transaction(async (repositories) => {
      if (!(await repositories.linkRequests.revoke(link.id))) throw new BrokerError('not_found', 'error.console.link_gone', { detail: `link ${linkId} used or revoked meanwhile` });
      const created = await repositories.linkRequests.create({ tokenHash: secretHash(token), flowId: link.flowId, profileId: profile.id, issuer: link.issuer, subject: link.subject, interactionUid: link.interactionUid, expiresAt });
      await outbox.queue(repositories.executor, { kind: 'association_link', recipient: profile.email, ...message });
      await repositories.auditEvents.record({ type: 'association.link_resent', outcome: 'success', actor: resend.actor, profileId: profile.id, details: { previousLinkId: link.id, linkId: created.id, ...resend.auditDetails } });
      return created;
    });
  }

  #associationEmail(profile: ProfileRecord, token: string, expiresAt: number, locale: Locale): Promise<RenderedEmail> {
    return this.#d.emails.render('association-link', locale, {
      ...profileEmailData(profile, this.#d.supportEmail),
      displayName: profile.displayName,
      link: `${this.#d.issuer}/link/${token}`,
      expires: `${new Intl.DateTimeFormat(locale, { dateStyle: 'long', timeStyle: 'short', timeZone: 'UTC' }).format(new Date(expiresAt))} UTC`,
    });
  }

  async cancel(flow: AssociationFlowRecord, ip: string): Promise<void> {
    const { store } = this.#d;
    await store.associationFlows.transition(flow.id, statesLeadingTo('cancelled'), 'cancelled');
    await store.auditEvents.record({ type: 'association.cancelled', outcome: 'success', clientId: flow.clientId, ip });
  }

  /** A requested association returned to its portal without a new profile of it (audited; an unfinished flow is marked expired). */
  async recordRequestedAssociationFailed(flow: AssociationFlowRecord, ip: string): Promise<void> {
    const { store } = this.#d;
    if (flow.state !== 'bound') await store.associationFlows.transition(flow.id, statesLeadingTo('expired'), 'expired');
    await store.auditEvents.record({ type: 'association.failed', outcome: 'failure', clientId: flow.clientId, ip, details: { state: flow.state } });
  }

  /** Step 7: what a link's token stands for, without consuming it (mail scanners open links). */
  async describeLink(token: string): Promise<LinkDescription> {
    const { store, clock } = this.#d;
    const link = linkTokenPattern.test(token) ? await store.linkRequests.findByTokenHash(secretHash(token)) : undefined;
    if (!link) return { status: 'unknown' };
    if (link.consumedAt !== undefined) return { status: 'used' };
    if (link.expiresAt <= clock.now()) return { status: 'expired' };
    const profile = await store.profiles.find(link.profileId);
    if (!profile) return { status: 'profile_gone' };
    return { status: 'valid', link, profile };
  }

  async recordLinkOpened(profile: ProfileRecord, ip: string): Promise<void> {
    await this.#d.store.auditEvents.record({ type: 'association.link_opened', outcome: 'success', profileId: profile.id, ip });
  }

  /** The upstream the link's requester signed in through (the first configured for links from before several upstreams). */
  #upstreamOf(upstreamId: string | undefined): Upstream {
    const upstream = this.#d.upstreams.find(upstreamId);
    if (!upstream) throw sessionExpired(`upstream ${String(upstreamId)} is no longer configured`);
    return upstream;
  }

  /**
   * Step 8: the upstream re-authentication (prompt=login) for a link, at the
   * upstream the requester signed in through; the caller sends the browser to
   * `url` and keeps `state`.
   */
  async startConfirmation(link: LinkRequestRecord): Promise<{ url: URL; state: string }> {
    const upstream = this.#upstreamOf(link.upstreamId);
    return beginRoundTrip(this.#d, upstream, { redirectUri: this.#d.callbackUri, prompt: 'login' }, { purpose: 'link', context: { linkId: link.id, tokenHash: link.tokenHash } });
  }

  /** Step 9, upstream half: consumes the round trip of `state` and returns who signed in, for which link. */
  async finishReauthentication(state: string, callbackUrl: URL): Promise<{ linkTokenHash: string; identity: UpstreamIdentity }> {
    const { store } = this.#d;
    const transaction = await store.upstreamTransactions.consume(state);
    const linkTokenHash = typeof transaction?.context.tokenHash === 'string' ? transaction.context.tokenHash : undefined;
    if (!transaction || transaction.purpose !== 'link' || !linkTokenHash) throw sessionExpired('link transaction unknown, used or expired');
    const upstream = this.#upstreamOf(typeof transaction.context.upstreamId === 'string' ? transaction.context.upstreamId : undefined);
    const identity = await upstream.finishAuthorization({ callbackUrl, redirectUri: this.#d.callbackUri, state, nonce: transaction.nonce, codeVerifier: transaction.codeVerifier });
    return { linkTokenHash, identity };
  }

  /**
   * Step 9: the identity that re-authenticated must be the one that asked
   * (issuer and subject, never the email: CVE-2026-9087); then the link is
   * consumed and the profile bound in one transaction, so a link binds once.
   */
  async confirm(linkTokenHash: string, identity: UpstreamIdentity, requester: Requester): Promise<ConfirmOutcome> {
    const { store } = this.#d;
    const link = await store.linkRequests.findByTokenHash(linkTokenHash);
    const profile = link ? await store.profiles.find(link.profileId) : undefined;
    if (!link || !profile) throw sessionExpired('link vanished during re-authentication');
    if (identity.issuer !== link.issuer || identity.subject !== link.subject) {
      await store.auditEvents.record({ type: 'association.identity_mismatch', outcome: 'failure', profileId: profile.id, ip: requester.ip });
      return { outcome: 'identity_mismatch', profile, signedIn: identity.email ?? identity.name ?? '' };
    }
    const moved = await this.#bind(link, profile, requester);
    return moved === 'used' ? { outcome: 'used' } : { outcome: 'bound', link, profile, moved };
  }

  /** Consume, bind, move the flow to bound and audit, all or nothing; 'used' when the link was consumed already. */
  async #bind(link: LinkRequestRecord, profile: ProfileRecord, requester: Requester): Promise<'used' | boolean> {
    const { store, outbox, emails } = this.#d;
    const notification = await emails.render('binding-moved', requester.locale, profileEmailData(profile, this.#d.supportEmail));
    return store.transaction(async (repositories) => {
      if (!(await repositories.linkRequests.consume(link.id))) return 'used';
      let identity = await repositories.identities.findByIssuerAndSubject(link.issuer, link.subject);
      if (!identity) {
        const account = await repositories.accounts.create({ email: profile.email, emailVerified: true, name: profile.displayName });
        identity = await repositories.identities.create({ accountId: account.id, issuer: link.issuer, subject: link.subject, upstreamId: link.upstreamId });
      } else {
        const account = await repositories.accounts.find(identity.accountId);
        if (account && !account.emailVerified) await repositories.accounts.update(account.id, { email: profile.email, emailVerified: true, name: account.name ?? profile.displayName });
      }
      const { previous } = await repositories.profileBindings.bind({ profileId: profile.id, accountId: identity.accountId, identityId: identity.id, method: 'association' });
      const moved = previous !== undefined && previous.accountId !== identity.accountId;
      if (moved) await outbox.queue(repositories.executor, { kind: 'binding_moved', recipient: profile.email, ...notification });
      if (link.flowId) await repositories.associationFlows.transition(link.flowId, statesLeadingTo('bound'), 'bound');
      await repositories.auditEvents.record({
        type: moved ? 'binding.moved' : 'binding.created',
        outcome: 'success',
        actor: 'user',
        accountId: identity.accountId,
        profileId: profile.id,
        ip: requester.ip,
        details: { method: 'association', ...(moved ? { previousAccountId: previous.accountId } : {}) },
      });
      return moved;
    });
  }

  /** For the success page: how many other profiles of the same address are not bound to this identity yet (each has its own email). */
  async otherProfilesAwaiting(link: LinkRequestRecord, profile: ProfileRecord): Promise<number> {
    const { store } = this.#d;
    const identity = await store.identities.findByIssuerAndSubject(link.issuer, link.subject);
    const bound = new Set(identity ? (await store.profileBindings.listProfilesByAccount(identity.accountId)).map((candidate) => candidate.id) : [profile.id]);
    return (await store.profiles.findByEmail(profile.email)).filter((candidate) => !bound.has(candidate.id)).length;
  }

  /**
   * Step 10: the account to sign the waiting sign-in in as, once the flow's
   * identity has a profile of the asking portal (recorded as a sign-in);
   * undefined while it has none. `waiting` is asked only once the identity
   * is known, as before.
   */
  async resume(flow: AssociationFlowRecord, waiting: () => Promise<WaitingSignIn>): Promise<string | undefined> {
    const { store } = this.#d;
    const identity = await store.identities.findByIssuerAndSubject(flow.issuer, flow.subject);
    if (!identity) return undefined;
    const { clientId, portal, associationRequested, ip } = await waiting();
    const profiles = await store.profileBindings.listProfilesByAccount(identity.accountId, portal === 'both' ? undefined : portal);
    if (profiles.length === 0) return undefined;
    // Asked to add a profile: only once this flow bound one of the asking portal (its binding is as new as the flow).
    if (associationRequested && !(flow.state === 'bound' && profiles.some((profile) => profile.binding.createdAt >= flow.createdAt))) return undefined;
    await store.identities.recordSignIn(identity.id, {});
    await store.auditEvents.record({ type: 'sign_in', outcome: 'success', accountId: identity.accountId, clientId, ip, details: { via: 'association' } });
    return identity.accountId;
  }
}

/** Who the decoy email of an unknown address is rendered for: the same work as a real one, sent to nobody. */
function decoyProfile(email: string): ProfileRecord {
  return { id: 'MBS-000000', portal: 'partnersource', email, displayName: 'Profile', organization: 'Organization', roles: [], createdAt: 0, updatedAt: 0 };
}
