// The sign-in as a service with no HTTP in it: start an upstream round trip
// for an interaction, say where the upstream's callback continues, finish the
// round trip, and decide who signed in — a returning user (the upstream
// identity, issuer + subject and never the email, bound to a profile of the
// asking portal) or a person for the association flow (unknown, or bound to
// other portals only: the portal fit). Plain data in and out; refusals are
// BrokerErrors. The routes in signIn.ts put the interaction and pages around it.
// With several upstreams, each round trip remembers the one it went to, and
// the identity records which one it came through.
import type { Clock } from '../clock.ts';
import { invalidRequest } from '../errors.ts';
import type { Logger } from '../logging.ts';
import type { ClientPortal, UpstreamIdentityRecord } from '../domain/records.ts';
import type { Store } from '../store/store.ts';
import type { Upstream, UpstreamIdentity } from '../upstream/upstream.ts';
import type { Upstreams } from '../upstream/upstreams.ts';
import { sessionExpired } from '../errors.ts';
import { offersProfileChoice, profileChoiceSituation, type ProfileChoiceSituation } from '../provider/profileChoice.ts';
import { beginRoundTrip } from './upstreamRoundTrip.ts';

export interface SignInServiceDependencies {
  store: Store;
  upstreams: Upstreams;
  clock: Clock;
  logger: Logger;
  /** The one redirect URI registered at the upstream. */
  callbackUri: string;
  /** How long an upstream round trip may take, in milliseconds. */
  upstreamTransactionTtl: number;
  /** Clients whose sign-ins need no profile: any upstream identity signs in, a new one with a new account (the console checks roles). */
  clientsWithoutProfiles?: ReadonlySet<string> | undefined;
}

/** The client asking, as the decision and the audit trail need it. */
export interface AskingClient {
  clientId: string;
  portal: ClientPortal;
  ip: string;
}

export type SignInDecision =
  /** A returning user: bound to a profile of the asking portal. */
  | { outcome: 'signed_in'; accountId: string }
  /** The association flow takes over; `accountId` is set when the identity is bound to other portals only. */
  | { outcome: 'not_associated'; accountId: string | undefined };

/** What the portal's authorization request asks of the upstream sign-in. */
export interface UpstreamRequest {
  /** `login`, `select_account` or both, space-separated; undefined when neither. */
  prompt: string | undefined;
  maxAge: number | undefined;
  loginHint: string | undefined;
  domainHint: string | undefined;
}

/** The sign-in page's choice: the upstream a hint picked or the only one first, then the others. */
export interface UpstreamChoices {
  featured: Upstream;
  others: Upstream[];
}

/** Which upstreams the page offers: a hint's domain picks one to feature; without a hint, the configured order. */
export function upstreamChoices(upstreams: Upstreams, request: Pick<UpstreamRequest, 'loginHint' | 'domainHint'>): UpstreamChoices {
  const featured = upstreams.forHints(request.domainHint, request.loginHint) ?? upstreams.primary;
  return { featured, others: upstreams.all.filter((upstream) => upstream !== featured) };
}

/** Where the upstream callback continues when the account page adds a sign-in method. */
export const addMethodCallbackPath = '/account/sign-in-methods/callback';

/** Where the upstream callback continues for each purpose of an upstream round trip. */
export function callbackContinuation(purpose: string, interactionUid: string | undefined): string | undefined {
  if (purpose === 'sign_in' && interactionUid) return `/interaction/${encodeURIComponent(interactionUid)}/upstream`;
  if (purpose === 'link') return '/link/callback';
  if (purpose === 'add_identity') return addMethodCallbackPath;
  return undefined;
}

/** The upstream identity an account signed in with last (an account may have several). */
export function latestIdentity(identities: UpstreamIdentityRecord[]): UpstreamIdentityRecord | undefined {
  return [...identities].sort((left, right) => (right.lastSignInAt ?? right.createdAt) - (left.lastSignInAt ?? left.createdAt))[0];
}

export class SignInService {
  readonly #d: SignInServiceDependencies;

  constructor(dependencies: SignInServiceDependencies) {
    this.#d = dependencies;
  }

  /** The configured upstream of `id`; a 400 for an id no upstream has (a hand-made or outdated address). */
  chosenUpstream(id: string | undefined): Upstream {
    const upstream = this.#d.upstreams.find(id);
    if (!upstream) throw invalidRequest('error.upstream_unknown', { detail: `no upstream ${String(id)}` });
    return upstream;
  }

  /**
   * Step 3: a fresh state, nonce and PKCE verifier for the interaction at
   * `upstream`, stored with the upstream's id; the portal's prompt, max_age
   * and hints go along. The caller sends the browser to the URL.
   */
  async startUpstream(interactionUid: string, upstream: Upstream, request: UpstreamRequest): Promise<URL> {
    const { prompt, maxAge, loginHint, domainHint } = request;
    const options = {
      redirectUri: this.#d.callbackUri,
      ...(prompt === undefined ? {} : { prompt }),
      ...(maxAge === undefined ? {} : { maxAge }),
      ...(loginHint === undefined ? {} : { loginHint }),
      ...(domainHint === undefined ? {} : { domainHint }),
    };
    const trip = await beginRoundTrip(this.#d, upstream, options, { purpose: 'sign_in', interactionUid, context: maxAge === undefined ? {} : { maxAge } });
    return trip.url;
  }

  /**
   * Where a signed-in account re-authenticates (prompt=login, max_age, a
   * portal it has no profile of): the upstream a hint picks, else the one it
   * last signed in through; undefined when the person must choose (several
   * upstreams and an account switch asked for, or none of its own configured).
   */
  async reauthenticationUpstream(accountId: string, request: UpstreamRequest): Promise<Upstream | undefined> {
    const { upstreams, store } = this.#d;
    if (!upstreams.several) return upstreams.primary;
    const hinted = upstreams.forHints(request.domainHint, request.loginHint);
    if (hinted) return hinted;
    if (request.prompt?.split(' ').includes('select_account')) return undefined;
    const latest = latestIdentity(await store.identities.listByAccount(accountId));
    return latest ? upstreams.find(latest.upstreamId) : undefined;
  }

  /** Where the one upstream callback continues for `state` (a sign-in's interaction, or a link's confirmation). */
  async continuationOf(state: string | undefined): Promise<string> {
    const transaction = state ? await this.#d.store.upstreamTransactions.find(state) : undefined;
    const continuation = transaction ? callbackContinuation(transaction.purpose, transaction.interactionUid) : undefined;
    if (!continuation) throw sessionExpired('upstream callback with unknown, used or expired state');
    return continuation;
  }

  /** Consumes the sign-in round trip of `state`; throws unless it belongs to this interaction. */
  async consumeRoundTrip(state: string | undefined, interactionUid: string) {
    const transaction = state ? await this.#d.store.upstreamTransactions.consume(state) : undefined;
    if (!transaction || transaction.purpose !== 'sign_in' || transaction.interactionUid !== interactionUid) {
      throw sessionExpired('upstream state unknown, used, expired or for another interaction');
    }
    return transaction;
  }

  /** Exchanges the code; a failure is audited for the asking client and rethrown. */
  async finishUpstream(roundTrip: Awaited<ReturnType<SignInService['consumeRoundTrip']>>, callbackUrl: URL, asking: AskingClient): Promise<UpstreamIdentity> {
    const maxAge = typeof roundTrip.context.maxAge === 'number' ? roundTrip.context.maxAge : undefined;
    // Round trips from before several upstreams name none: the first configured.
    const upstreamId = typeof roundTrip.context.upstreamId === 'string' ? roundTrip.context.upstreamId : undefined;
    const upstream = this.#d.upstreams.find(upstreamId);
    if (!upstream) throw sessionExpired(`upstream ${String(upstreamId)} of the round trip is no longer configured`);
    try {
      return await upstream.finishAuthorization({
        callbackUrl,
        redirectUri: this.#d.callbackUri,
        state: roundTrip.state,
        nonce: roundTrip.nonce,
        codeVerifier: roundTrip.codeVerifier,
        ...(maxAge === undefined ? {} : { maxAge }),
      });
    } catch (error) {
      await this.#d.store.auditEvents.record({ type: 'sign_in', outcome: 'failure', clientId: asking.clientId, ip: asking.ip, details: { reason: 'upstream_error' } });
      throw error;
    }
  }

  /**
   * The returning-user decision: signed in when the identity (issuer +
   * subject) is bound to a profile of the asking portal (recorded with the
   * upstream's hints); otherwise the association flow, audited as a failed
   * sign-in saying why (not associated at all, or no profile of this portal).
   */
  async decide(identity: UpstreamIdentity, asking: AskingClient, interactionUid: string): Promise<SignInDecision> {
    const { store, logger } = this.#d;
    if (this.#d.clientsWithoutProfiles?.has(asking.clientId)) return this.#signInWithoutProfile(identity, asking);
    const known = await store.identities.findByIssuerAndSubject(identity.issuer, identity.subject);
    const boundProfiles = known ? await store.profileBindings.listProfilesByAccount(known.accountId, asking.portal === 'both' ? undefined : asking.portal) : [];
    if (!known || boundProfiles.length === 0) {
      const reason = known ? 'no_profile_for_portal' : 'not_associated';
      await store.auditEvents.record({ type: 'sign_in', outcome: 'failure', accountId: known?.accountId, clientId: asking.clientId, ip: asking.ip, details: { reason, issuer: identity.issuer, upstream: identity.upstreamId } });
      logger.info({ interaction: interactionUid, client: asking.clientId, reason }, 'sign-in continues with the association flow');
      return { outcome: 'not_associated', accountId: known?.accountId };
    }
    await store.identities.recordSignIn(known.id, { emailHint: identity.email, nameHint: identity.name, upstreamId: identity.upstreamId });
    await store.auditEvents.record({ type: 'sign_in', outcome: 'success', accountId: known.accountId, clientId: asking.clientId, ip: asking.ip, details: { upstream: identity.upstreamId } });
    return { outcome: 'signed_in', accountId: known.accountId };
  }

  /** A sign-in that needs no profile: the identity's account, made on its first sign-in (issuer + subject, never the email). */
  async #signInWithoutProfile(identity: UpstreamIdentity, asking: AskingClient): Promise<SignInDecision> {
    const { store } = this.#d;
    const accountId = await store.transaction(async (repositories) => {
      const known = await repositories.identities.findByIssuerAndSubject(identity.issuer, identity.subject);
      if (known) {
        await repositories.identities.recordSignIn(known.id, { emailHint: identity.email, nameHint: identity.name });
        return known.accountId;
      }
      const account = await repositories.accounts.create({ name: identity.name });
      const created = await repositories.identities.create({ accountId: account.id, issuer: identity.issuer, subject: identity.subject, emailHint: identity.email, nameHint: identity.name });
      await repositories.identities.recordSignIn(created.id, { emailHint: identity.email, nameHint: identity.name });
      return account.id;
    });
    await store.auditEvents.record({ type: 'sign_in', outcome: 'success', accountId, clientId: asking.clientId, ip: asking.ip });
    return { outcome: 'signed_in', accountId };
  }

  /** From the account page: the identity the account signs in with, for the email step. */
  /** The profile picker's offer: the account's profiles of the client's portal and the choice in force. */
  async profileChoice(accountId: string, client: unknown): Promise<ProfileChoiceSituation> {
    return profileChoiceSituation(this.#d.store, accountId, client);
  }

  /**
   * The person picked `profileId` at the client's portal: remembered for the
   * account and portal (later sign-ins and refreshes act as it) and audited.
   * Only one of the profiles the picker offers can be chosen.
   */
  async chooseProfile(accountId: string, client: unknown, profileId: string | undefined, asking: AskingClient): Promise<void> {
    const situation = await this.profileChoice(accountId, client);
    const profile = situation.profiles.find((candidate) => candidate.id === profileId);
    if (!offersProfileChoice(situation) || !profile) throw invalidRequest('error.profile_not_offered', { detail: `profile ${String(profileId)} is not among the ${situation.profiles.length} of ${accountId} at ${situation.portal}` });
    await this.#d.store.transaction(async (repositories) => {
      const previous = await repositories.profileChoices.find(accountId, situation.portal);
      await repositories.profileChoices.choose(accountId, situation.portal, profile.id);
      await repositories.auditEvents.record({
        type: 'profile.chosen',
        outcome: 'success',
        accountId,
        profileId: profile.id,
        clientId: asking.clientId,
        ip: asking.ip,
        details: { portal: situation.portal, ...(previous && previous.profileId !== profile.id ? { previous: previous.profileId } : {}) },
      });
    });
  }

  async identityToAssociate(accountId: string): Promise<UpstreamIdentity> {
    const latest = latestIdentity(await this.#d.store.identities.listByAccount(accountId));
    if (!latest) throw sessionExpired(`account ${accountId} has no upstream identity`);
    return { upstreamId: latest.upstreamId ?? this.#d.upstreams.primary.id, issuer: latest.issuer, subject: latest.subject };
  }
}
