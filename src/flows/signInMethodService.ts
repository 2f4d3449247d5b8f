// Several sign-in methods per account, as a service with no Koa in it: the
// upstream identities an account signs in with (its sign-in methods), adding
// one from the account page through an upstream round trip bound to the
// account that started it (signing in there proves the identity), and
// removing one, never the last. An identity already used by another account
// is refused, never merged: moving it goes through the association proof.
// Every change is audited and noticed by email to the addresses of the
// account's bound profiles, in the transaction that makes it.
import type { Clock } from '../clock.ts';
import { conflict, invalidRequest, notFound, sessionExpired } from '../errors.ts';
import { profileEmailData } from '../directory/portals.ts';
import { translator, type Locale } from '../i18n.ts';
import type { Outbox } from '../mail/outbox.ts';
import type { EmailRenderer, RenderedEmail } from '../mail/render.ts';
import type { BoundProfile, UpstreamIdentityRecord } from '../domain/records.ts';
import type { Repositories, Store } from '../store/store.ts';
import type { Upstream, UpstreamIdentity, UpstreamName } from '../upstream/upstream.ts';
import type { Upstreams } from '../upstream/upstreams.ts';
import { beginRoundTrip } from './upstreamRoundTrip.ts';

export interface SignInMethodServiceDependencies {
  store: Store;
  upstreams: Upstreams;
  clock: Clock;
  outbox: Outbox;
  emails: EmailRenderer;
  supportEmail: string;
  /** The one redirect URI registered at the upstreams. */
  callbackUri: string;
  /** How long an upstream round trip may take, in milliseconds. */
  upstreamTransactionTtl: number;
}

/** One sign-in method as the account page lists it. */
export interface SignInMethod {
  id: string;
  /** The configured upstream's name; undefined when that upstream is no longer configured. */
  upstreamName: UpstreamName | undefined;
  /** The upstream account's email or name hint (empty when there is none). */
  hint: string;
  addedAt: number;
  lastUsedAt: number | undefined;
}

/** Who is acting, as the audit trail and the notice need it. */
export interface MethodRequester {
  ip: string;
  locale: Locale;
}

export type AddOutcome =
  | { outcome: 'added'; method: SignInMethod }
  /** The identity is this account's already: nothing changes. */
  | { outcome: 'already_yours' }
  /** The identity signs in to another account: refused, to be moved through the association proof. */
  | { outcome: 'used_by_another_account'; hint: string };

/** A rendered notice for one address. */
type Notice = RenderedEmail & { recipient: string };

const hintOf = (identity: Pick<UpstreamIdentityRecord, 'emailHint' | 'nameHint'>): string => identity.emailHint ?? identity.nameHint ?? '';

export class SignInMethodService {
  readonly #d: SignInMethodServiceDependencies;

  constructor(dependencies: SignInMethodServiceDependencies) {
    this.#d = dependencies;
  }

  /** The upstreams a method can be added with (all configured; the same one again adds another of its accounts). */
  get upstreams(): readonly Upstream[] {
    return this.#d.upstreams.all;
  }

  /** The account's sign-in methods, oldest first. */
  async methods(accountId: string): Promise<SignInMethod[]> {
    return (await this.#d.store.identities.listByAccount(accountId)).map((identity) => this.#method(identity));
  }

  /** One method of this account; another account's is not found. */
  async method(accountId: string, identityId: string): Promise<SignInMethod> {
    const identity = await this.#d.store.identities.find(identityId);
    if (!identity || identity.accountId !== accountId) throw notFound('error.sign_in_method_not_yours', { detail: `identity ${identityId} not of ${accountId}` });
    return this.#method(identity);
  }

  /**
   * Starts adding a method: a round trip to `upstreamId` with prompt=login
   * (so the person can sign in with another account of the same upstream),
   * remembered with the account that asked. The caller keeps `state` in this
   * browser and sends it to `url`.
   */
  async startAdding(accountId: string, upstreamId: string | undefined): Promise<{ url: URL; state: string }> {
    const upstream = upstreamId === undefined ? undefined : this.#d.upstreams.find(upstreamId);
    if (!upstream) throw invalidRequest('error.upstream_unknown', { detail: `no upstream ${String(upstreamId)}` });
    return beginRoundTrip(this.#d, upstream, { redirectUri: this.#d.callbackUri, prompt: 'login' }, { purpose: 'add_identity', context: { accountId } });
  }

  /**
   * The upstream's answer: consumes the round trip of `state`, which must
   * have been started by `accountId` (the account signed in to this
   * browser), and returns the identity the upstream vouched for; undefined
   * when the person cancelled there.
   */
  async finishAdding(state: string, callbackUrl: URL, accountId: string): Promise<UpstreamIdentity | undefined> {
    const transaction = await this.#d.store.upstreamTransactions.consume(state);
    if (!transaction || transaction.purpose !== 'add_identity' || transaction.context.accountId !== accountId) {
      throw sessionExpired('add-identity round trip unknown, used, expired or started by another account');
    }
    if (callbackUrl.searchParams.get('error') === 'access_denied') return undefined;
    const upstreamId = typeof transaction.context.upstreamId === 'string' ? transaction.context.upstreamId : undefined;
    const upstream = this.#d.upstreams.find(upstreamId);
    if (!upstream) throw sessionExpired(`upstream ${String(upstreamId)} of the round trip is no longer configured`);
    return upstream.finishAuthorization({ callbackUrl, redirectUri: this.#d.callbackUri, state, nonce: transaction.nonce, codeVerifier: transaction.codeVerifier });
  }

  /**
   * Adds the identity the upstream vouched for to the account, with the
   * notice and the audit event, all or nothing. An identity of another
   * account is refused (audited): accounts are never merged silently.
   */
  async add(accountId: string, identity: UpstreamIdentity, requester: MethodRequester): Promise<AddOutcome> {
    const { store } = this.#d;
    const hint = identity.email ?? identity.name ?? '';
    const known = await store.identities.findByIssuerAndSubject(identity.issuer, identity.subject);
    if (known?.accountId === accountId) return { outcome: 'already_yours' };
    if (known) {
      await store.auditEvents.record({ type: 'identity.add_refused', outcome: 'failure', actor: 'user', accountId, ip: requester.ip, details: { reason: 'used_by_another_account', upstream: identity.upstreamId } });
      return { outcome: 'used_by_another_account', hint };
    }
    const upstreamName = this.#d.upstreams.find(identity.upstreamId)?.name;
    const notices = await this.#notices(accountId, 'identity-added', requester.locale, upstreamName, hint);
    const created = await store.transaction(async (repositories) => {
      const record = await repositories.identities.create({ accountId, issuer: identity.issuer, subject: identity.subject, upstreamId: identity.upstreamId, emailHint: identity.email, nameHint: identity.name });
      await this.#queue(repositories, 'identity_added', notices);
      await repositories.auditEvents.record({ type: 'identity.added', outcome: 'success', actor: 'user', accountId, ip: requester.ip, details: { identity: record.id, upstream: identity.upstreamId } });
      return record;
    });
    return { outcome: 'added', method: this.#method(created) };
  }

  /** Removes a method of this account, with the notice and the audit event; the last one is refused (409). */
  async remove(accountId: string, identityId: string, requester: MethodRequester): Promise<void> {
    const method = await this.method(accountId, identityId);
    const notices = await this.#notices(accountId, 'identity-removed', requester.locale, method.upstreamName, method.hint);
    const removed = await this.#d.store.transaction(async (repositories) => {
      const outcome = await repositories.identities.removeUnlessLast(identityId, accountId);
      if (outcome !== 'removed') return outcome;
      await this.#queue(repositories, 'identity_removed', notices);
      await repositories.auditEvents.record({ type: 'identity.removed', outcome: 'success', actor: 'user', accountId, ip: requester.ip, details: { identity: identityId } });
      return outcome;
    });
    if (removed === 'last') throw conflict('error.sign_in_method_last', { detail: `identity ${identityId} is the last of ${accountId}` });
  }

  #method(identity: UpstreamIdentityRecord): SignInMethod {
    return { id: identity.id, upstreamName: this.#d.upstreams.find(identity.upstreamId)?.name, hint: hintOf(identity), addedAt: identity.createdAt, lastUsedAt: identity.lastSignInAt };
  }

  /** One notice per MBS address of the account's bound profiles (the first profile of each address gives the branding). */
  async #notices(accountId: string, template: 'identity-added' | 'identity-removed', locale: Locale, upstreamName: UpstreamName | undefined, hint: string): Promise<Notice[]> {
    const { t } = translator(locale);
    const upstream = upstreamName === undefined ? t('account.upstream_gone') : 'key' in upstreamName ? t(upstreamName.key) : upstreamName.text;
    const byAddress = new Map<string, BoundProfile>();
    for (const profile of await this.#d.store.profileBindings.listProfilesByAccount(accountId)) {
      if (!byAddress.has(profile.email.toLowerCase())) byAddress.set(profile.email.toLowerCase(), profile);
    }
    return Promise.all(
      [...byAddress.values()].map(async (profile) => ({
        recipient: profile.email,
        ...(await this.#d.emails.render(template, locale, { ...profileEmailData(profile, this.#d.supportEmail), upstream, account: hint || upstream })),
      })),
    );
  }

  async #queue(repositories: Repositories, kind: string, notices: Notice[]): Promise<void> {
    for (const notice of notices) await this.#d.outbox.queue(repositories.executor, { kind, ...notice });
  }
}
