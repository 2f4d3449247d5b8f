// The store's contract: small repositories over one database, and a way to
// run several of their calls in one transaction. Every implementation detail
// of SQL lives below src/store; the rest of the broker sees only this.
import type { Knex } from 'knex';
import type {
  AccountRecord,
  AdminInvitationRecord,
  AdminRole,
  AdminRoleRecord,
  AdminTokenRecord,
  AssociationFlowRecord,
  AssociationFlowState,
  LinkRequestRecord,
  AuditEventInput,
  AuditEventRecord,
  BindingMethod,
  BoundProfile,
  ClientPortal,
  ClientRecord,
  CookieKeyRecord,
  Page,
  PageRequest,
  Portal,
  ProfileBindingRecord,
  ProfileChoiceRecord,
  ProfileInput,
  ProfileRecord,
  ResourceServerRecord,
  SigningKeyRecord,
  SigningKeyStatus,
  UpstreamIdentityRecord,
  UpstreamTransactionPurpose,
  UpstreamTransactionRecord,
} from '../domain/records.ts';

export interface ClientRepository {
  /** Throws BrokerError('conflict') when the id is taken, also by a registration committed meanwhile. */
  create(client: { id: string; metadata: Record<string, unknown>; portal: ClientPortal; firstParty: boolean; secretHash: string | undefined }): Promise<ClientRecord>;
  find(id: string): Promise<ClientRecord | undefined>;
  list(): Promise<ClientRecord[]>;
  update(id: string, changes: { metadata?: Record<string, unknown>; portal?: ClientPortal; firstParty?: boolean; secretHash?: string | undefined; disabledAt?: number | undefined }): Promise<ClientRecord | undefined>;
  /** Returns false when there was no such client. */
  remove(id: string): Promise<boolean>;
}

/** The fields of an API an admin may change (its identifier is its key). */
export type ResourceServerChanges = Partial<Pick<ResourceServerRecord, 'name' | 'scopes' | 'tokenFormat' | 'accessTokenTtl' | 'allowedClients'>>;

export interface ResourceServerRepository {
  /** Throws BrokerError('conflict') when the identifier is taken, also by a registration committed meanwhile. */
  create(server: Omit<ResourceServerRecord, 'createdAt' | 'updatedAt'>): Promise<ResourceServerRecord>;
  find(identifier: string): Promise<ResourceServerRecord | undefined>;
  /** Ordered by identifier. */
  list(): Promise<ResourceServerRecord[]>;
  update(identifier: string, changes: ResourceServerChanges): Promise<ResourceServerRecord | undefined>;
  /** Returns false when there was no such API. */
  remove(identifier: string): Promise<boolean>;
}

export type ProfileUpsertOutcome = 'created' | 'updated' | 'unchanged';

export interface ProfileRepository {
  upsert(profile: ProfileInput): Promise<ProfileUpsertOutcome>;
  /** What `upsert` would do with the profile, writing nothing (an import's preview). */
  outcomeOf(profile: ProfileInput): Promise<ProfileUpsertOutcome>;
  find(id: string): Promise<ProfileRecord | undefined>;
  /** `email` must already be normalised. */
  findByEmail(email: string): Promise<ProfileRecord[]>;
  /** `organization`: profiles whose organization contains it, letter case ignored. */
  list(query?: PageRequest & { email?: string; portal?: Portal; organization?: string }): Promise<Page<ProfileRecord>>;
  /** Removes the profile and its binding; false when there was no such profile. */
  remove(id: string): Promise<boolean>;
}

export interface AccountRepository {
  create(account: { email?: string | undefined; emailVerified?: boolean; name?: string | undefined }): Promise<AccountRecord>;
  find(id: string): Promise<AccountRecord | undefined>;
  /** Accounts that proved this (normalised) MBS email. */
  listByEmail(email: string): Promise<AccountRecord[]>;
  update(id: string, changes: { email?: string | undefined; emailVerified?: boolean; name?: string | undefined }): Promise<void>;
}

export interface UpstreamIdentityRepository {
  findByIssuerAndSubject(issuer: string, subject: string): Promise<UpstreamIdentityRecord | undefined>;
  find(id: string): Promise<UpstreamIdentityRecord | undefined>;
  listByAccount(accountId: string): Promise<UpstreamIdentityRecord[]>;
  /** Identities with this subject at any upstream (support looks a person up by it). */
  listBySubject(subject: string): Promise<UpstreamIdentityRecord[]>;
  /** Throws BrokerError('conflict') when (issuer, subject) already exists. */
  create(identity: { accountId: string; issuer: string; subject: string; upstreamId?: string | undefined; emailHint?: string | undefined; nameHint?: string | undefined }): Promise<UpstreamIdentityRecord>;
  /** Records a sign-in, refreshes the hints and, when given, the upstream it came through. */
  recordSignIn(id: string, hints: { emailHint?: string | undefined; nameHint?: string | undefined; upstreamId?: string | undefined }): Promise<void>;
  /**
   * Removes the identity `id` of `accountId` unless it is the account's last
   * (one conditional DELETE): 'removed', 'last', or 'missing' when the
   * account has no such identity.
   */
  removeUnlessLast(id: string, accountId: string): Promise<'removed' | 'last' | 'missing'>;
}

export interface ProfileBindingRepository {
  /**
   * Binds the profile to the account, moving it when it was bound elsewhere
   * (a profile is bound to at most one account). Returns the previous binding.
   */
  bind(binding: { profileId: string; accountId: string; identityId: string | undefined; method: BindingMethod }): Promise<{ binding: ProfileBindingRecord; previous: ProfileBindingRecord | undefined }>;
  findByProfile(profileId: string): Promise<ProfileBindingRecord | undefined>;
  /** Bound profiles of the account, optionally only those of one portal, ordered by profile id. */
  listProfilesByAccount(accountId: string, portal?: Portal): Promise<BoundProfile[]>;
  list(query?: PageRequest & { accountId?: string; profileId?: string; email?: string }): Promise<Page<BoundProfile>>;
  /** Returns false when the profile was not bound. */
  remove(profileId: string): Promise<boolean>;
}

export interface AuditEventFilter {
  type?: string | undefined;
  actor?: string | undefined;
  accountId?: string | undefined;
  profileId?: string | undefined;
  clientId?: string | undefined;
  since?: number | undefined;
  until?: number | undefined;
}

export interface ProfileChoiceRepository {
  /** Remembers that the account acts as `profileId` at `portal`, replacing an earlier choice. */
  choose(accountId: string, portal: ClientPortal, profileId: string): Promise<ProfileChoiceRecord>;
  /** The account's choice at `portal`; its profile may since have been unbound (check the bindings). */
  find(accountId: string, portal: ClientPortal): Promise<ProfileChoiceRecord | undefined>;
}

export interface AuditEventRepository {
  record(event: AuditEventInput): Promise<void>;
  /** Newest first; `beforeId` pages by id, stable while new events arrive. */
  list(query?: AuditEventFilter & PageRequest & { beforeId?: number }): Promise<Page<AuditEventRecord>>;
}

export interface SigningKeyRepository {
  /** Newest first. */
  list(): Promise<SigningKeyRecord[]>;
  insert(key: Omit<SigningKeyRecord, 'createdAt' | 'retiredAt'>): Promise<void>;
  setStatus(kid: string, status: SigningKeyStatus): Promise<void>;
  /** Rewrites the stored private part (sealing one an older version kept in clear). */
  replacePrivateJwk(kid: string, privateJwk: string): Promise<void>;
  remove(kid: string): Promise<boolean>;
}

export interface CookieKeyRepository {
  /** Newest first. */
  list(): Promise<CookieKeyRecord[]>;
  /** `secret` as it is to be stored (sealed). */
  insert(secret: string): Promise<void>;
  /** Rewrites a stored secret (sealing one an older version kept in clear). */
  replaceSecret(id: number, secret: string): Promise<void>;
}

export interface UpstreamTransactionRepository {
  create(transaction: { state: string; purpose: UpstreamTransactionPurpose; interactionUid?: string | undefined; codeVerifier: string; nonce: string; context?: Record<string, unknown>; expiresAt: number }): Promise<void>;
  /** Reads a transaction without using it (to route a callback); undefined when unknown, used or expired. */
  find(state: string): Promise<UpstreamTransactionRecord | undefined>;
  /**
   * Atomically marks the transaction used and returns it; undefined when it
   * does not exist, was already used, or has expired (at the clock's now).
   */
  consume(state: string): Promise<UpstreamTransactionRecord | undefined>;
}

export interface AssociationFlowRepository {
  create(flow: { interactionUid: string | undefined; clientId: string | undefined; issuer: string; subject: string; upstreamId?: string | undefined; expiresAt: number }): Promise<AssociationFlowRecord>;
  find(id: string): Promise<AssociationFlowRecord | undefined>;
  /** The newest flow of an interaction. */
  findByInteraction(interactionUid: string): Promise<AssociationFlowRecord | undefined>;
  /**
   * Moves the flow to `to` only if it is in one of `from` (a conditional
   * UPDATE, so concurrent requests cannot both move it); false otherwise.
   */
  transition(id: string, from: readonly AssociationFlowState[], to: AssociationFlowState, changes?: { email?: string }): Promise<boolean>;
}

export interface LinkRequestRepository {
  create(link: { tokenHash: string; flowId: string | undefined; profileId: string; issuer: string; subject: string; upstreamId?: string | undefined; interactionUid: string | undefined; expiresAt: number }): Promise<LinkRequestRecord>;
  /** Finds a link whatever its state (used and expired links get their own page). */
  findByTokenHash(tokenHash: string): Promise<LinkRequestRecord | undefined>;
  /** Marks the link used if it is unused and unexpired at the clock's now; of concurrent callers exactly one gets true. */
  consume(id: string): Promise<boolean>;
  /** Unused, unexpired links, newest first; only those of `profileIds` when given. */
  listPending(query?: PageRequest & { profileIds?: readonly string[] }): Promise<Page<LinkRequestRecord>>;
  find(id: string): Promise<LinkRequestRecord | undefined>;
  /** Deletes an unused link, so it can never be confirmed; false when there was no such unused link. */
  revoke(id: string): Promise<boolean>;
}

export interface RateLimitRepository {
  /**
   * Counts one more event for `key` in the fixed window containing now and
   * says whether it is within `limit` (atomic: no lost updates across instances).
   */
  hit(key: string, limit: number, windowMilliseconds: number): Promise<{ allowed: boolean; count: number; retryAfterMilliseconds: number }>;
}

/** Counts for the console's dashboard; periods are [since, until) in epoch milliseconds. */
export interface StatisticsRepository {
  /** Sign-in audit events by UTC day (days as epoch milliseconds of their midnight) and outcome; days without any are absent. */
  signInsByDay(since: number, until: number): Promise<Array<{ day: number; success: number; failure: number }>>;
  /** Audit events of each type in the period. */
  eventCounts(types: readonly string[], since: number, until: number): Promise<Record<string, number>>;
  /** Distinct profiles with an event of `type` in the period (by `actor` when given). */
  distinctProfiles(types: readonly string[], since: number, until: number, actor?: string): Promise<number>;
  /** Emails (of `kind`, when given) that SMTP accepted in the period. */
  emailsSent(since: number, until: number, kind?: string): Promise<number>;
  /** The outbox now: unsent never tried, unsent failing (retrying), given up, and when the oldest unsent was queued. */
  outboxHealth(givenUpAfter: number): Promise<{ queued: number; failing: number; givenUp: number; oldestWaitingSince: number | undefined }>;
  /** oidc-provider sessions not expired at `now`. */
  activeSessions(now: number): Promise<number>;
}

export interface AdminRoleRepository {
  find(accountId: string): Promise<AdminRoleRecord | undefined>;
  /** Oldest grant first. */
  list(): Promise<AdminRoleRecord[]>;
  /** Grants or changes the account's role; returns the role it had before. */
  set(accountId: string, role: AdminRole, grantedBy: string | undefined): Promise<AdminRoleRecord | undefined>;
  /** Returns false when the account had no role. */
  remove(accountId: string): Promise<boolean>;
}

export interface AdminInvitationRepository {
  create(invitation: { tokenHash: string; email: string; role: AdminRole; invitedBy: string | undefined; expiresAt: number }): Promise<AdminInvitationRecord>;
  /** Finds an invitation whatever its state (accepted and expired ones get their own answer). */
  findByTokenHash(tokenHash: string): Promise<AdminInvitationRecord | undefined>;
  /** Marks it accepted by the account if it is unaccepted and unexpired at the clock's now; of concurrent callers exactly one gets true. */
  accept(id: string, accountId: string): Promise<boolean>;
  /** Unaccepted, unexpired invitations, newest first. */
  listPending(): Promise<AdminInvitationRecord[]>;
  /** Deletes an unaccepted invitation; false when there was none. */
  revoke(id: string): Promise<boolean>;
}

export interface AdminTokenRepository {
  create(token: { tokenHash: string; role: AdminRole; label: string | undefined; issuedBy: string | undefined }): Promise<AdminTokenRecord>;
  /** The unrevoked token with this hash. */
  findActiveByHash(tokenHash: string): Promise<AdminTokenRecord | undefined>;
  /** Newest first, revoked ones included. */
  list(): Promise<AdminTokenRecord[]>;
  /** Returns false when there was no such unrevoked token. */
  revoke(id: string): Promise<boolean>;
}

export interface Repositories {
  /** The connection or transaction these repositories write through (for the outbox). */
  executor: Knex | Knex.Transaction;
  associationFlows: AssociationFlowRepository;
  linkRequests: LinkRequestRepository;
  rateLimits: RateLimitRepository;
  clients: ClientRepository;
  resourceServers: ResourceServerRepository;
  profiles: ProfileRepository;
  accounts: AccountRepository;
  identities: UpstreamIdentityRepository;
  profileBindings: ProfileBindingRepository;
  profileChoices: ProfileChoiceRepository;
  auditEvents: AuditEventRepository;
  signingKeys: SigningKeyRepository;
  cookieKeys: CookieKeyRepository;
  upstreamTransactions: UpstreamTransactionRepository;
  statistics: StatisticsRepository;
  adminRoles: AdminRoleRepository;
  adminInvitations: AdminInvitationRepository;
  adminTokens: AdminTokenRepository;
}

export interface Store extends Repositories {
  /** Runs `work` in one database transaction with repositories bound to it. */
  transaction<Result>(work: (repositories: Repositories) => Promise<Result>): Promise<Result>;
  /** Deletes expired oidc payloads, upstream transactions and rate-limit windows; returns rows removed. */
  /** Deletes expired rows, and audit events older than `auditRetentionMilliseconds` when given. */
  sweepExpired(options?: { auditRetentionMilliseconds?: number }): Promise<number>;
}
