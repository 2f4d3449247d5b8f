// The store on knex: every repository of the contract in src/store/store.ts,
// written once for SQLite and PostgreSQL (JSON as text, times as epoch ms,
// booleans normalised), and transactions that hand out bound repositories.
import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.ts';
import { conflict } from '../errors.ts';
import { createSealer, type Sealer } from '../sealing.ts';
import { secretHash } from '../secrets.ts';
import type {
  AccountRecord,
  AuditEventRecord,
  BoundProfile,
  ClientPortal,
  ClientRecord,
  Page,
  AuditEventInput,
  PageRequest,
  Portal,
  ProfileBindingRecord,
  ProfileRecord,
  SigningKeyRecord,
  UpstreamIdentityRecord,
  UpstreamTransactionPurpose,
  UpstreamTransactionRecord,
} from './records.ts';
import type { Repositories, Store } from './store.ts';
import { databaseClient, preparedStatements, type Database, type PreparedStatements } from './database.ts';
import { countOf, optionalNumber as number, optionalText as text, pageBounds, parseJson as json, type Executor, type Row } from './rows.ts';
import { isUniqueViolation } from './storageErrors.ts';
import { associationFlowRepository, linkRequestRepository, rateLimitRepository } from './associationRepositories.ts';

const toClient = (row: Row): ClientRecord => ({
  id: String(row.id),
  metadata: json(row.metadata, {}),
  portal: String(row.portal) as ClientPortal,
  firstParty: Boolean(row.first_party),
  secretHash: text(row.secret_hash),
  disabledAt: row.disabled_at === null || row.disabled_at === undefined ? undefined : Number(row.disabled_at),
  createdAt: Number(row.created_at),
  updatedAt: Number(row.updated_at),
});

const toProfile = (row: Row): ProfileRecord => ({
  id: String(row.id),
  portal: String(row.portal) as Portal,
  email: String(row.email),
  displayName: String(row.display_name),
  organization: String(row.organization),
  roles: json<string[]>(row.roles, []),
  createdAt: Number(row.created_at),
  updatedAt: Number(row.updated_at),
});

const toAccount = (row: Row): AccountRecord => ({
  id: String(row.id),
  email: text(row.email),
  emailVerified: Boolean(row.email_verified),
  name: text(row.name),
  createdAt: Number(row.created_at),
  updatedAt: Number(row.updated_at),
});

const toIdentity = (row: Row): UpstreamIdentityRecord => ({
  id: String(row.id),
  accountId: String(row.account_id),
  issuer: String(row.issuer),
  subject: String(row.subject),
  emailHint: text(row.email_hint),
  nameHint: text(row.name_hint),
  createdAt: Number(row.created_at),
  lastSignInAt: number(row.last_sign_in_at),
});

const toBinding = (row: Row): ProfileBindingRecord => ({
  profileId: String(row.profile_id),
  accountId: String(row.account_id),
  identityId: text(row.identity_id),
  method: String(row.method) as ProfileBindingRecord['method'],
  createdAt: Number(row.binding_created_at ?? row.created_at),
});

/**
 * An upstream round trip is stored under the hash of its state, its PKCE
 * verifier and nonce sealed under a key derived from the state itself: only
 * the browser coming back with the state can use the row, and a copy of the
 * database holds nothing that completes someone's sign-in.
 */
const transactionSealer = (state: string): Sealer => createSealer(state, 'upstream-transaction', 'an upstream sign-in in progress');

const toTransaction = (row: Row, state: string, sealer = transactionSealer(state)): UpstreamTransactionRecord => ({
  state,
  purpose: String(row.purpose) as UpstreamTransactionPurpose,
  interactionUid: text(row.interaction_uid),
  codeVerifier: sealer.open(String(row.code_verifier), 'code_verifier'),
  nonce: sealer.open(String(row.nonce), 'nonce'),
  context: json(row.context, {}),
  createdAt: Number(row.created_at),
  expiresAt: Number(row.expires_at),
});

/**
 * `prepared` (SQLite, outside transactions): the lookups behind every token's
 * claims (the account, its profiles) as statements prepared once, compiled by
 * knex from the same query builders as the other paths.
 */
function repositories(db: Executor, clock: Clock, recorded: (event: AuditEventInput) => void, prepared?: PreparedStatements): Repositories {
  const boundProfilesQuery = () =>
    db('profile_bindings')
      .join('profiles', 'profiles.id', 'profile_bindings.profile_id')
      .select('profiles.*', 'profile_bindings.profile_id', 'profile_bindings.account_id', 'profile_bindings.identity_id', 'profile_bindings.method', { binding_created_at: 'profile_bindings.created_at' });
  const toBoundProfile = (row: Row): BoundProfile => ({ ...toProfile(row), binding: toBinding(row) });
  const profilesByAccountQuery = (accountId: string, portal: Portal | undefined) => {
    const builder = boundProfilesQuery().where('profile_bindings.account_id', accountId);
    if (portal) builder.where('profiles.portal', portal);
    return builder.orderBy('profiles.id');
  };
  // The SQL of each query, once; the placeholders' values come per call, in the same order.
  const preparedSql = prepared && {
    account: db('accounts').where({ id: '' }).toSQL().sql,
    profilesByAccount: profilesByAccountQuery('', undefined).toSQL().sql,
    profilesByAccountAndPortal: profilesByAccountQuery('', 'partnersource').toSQL().sql,
  };

  return {
    executor: db,
    associationFlows: associationFlowRepository(db, clock),
    linkRequests: linkRequestRepository(db, clock),
    rateLimits: rateLimitRepository(db, clock),
    clients: {
      async create(client) {
        const now = clock.now();
        try {
          await db('clients').insert({
            id: client.id,
            metadata: JSON.stringify(client.metadata),
            portal: client.portal,
            first_party: client.firstParty,
            secret_hash: client.secretHash ?? null,
            created_at: now,
            updated_at: now,
          });
        } catch (error) {
          // Two registrations of one id at once: both passed the caller's lookup.
          if (isUniqueViolation(error)) throw conflict(`A client with id ${client.id} already exists`, { detail: client.id, cause: error });
          throw error;
        }
        return { ...client, createdAt: now, updatedAt: now };
      },
      async find(id) {
        const row = (await db('clients').where({ id }).first()) as Row | undefined;
        return row ? toClient(row) : undefined;
      },
      async list() {
        return ((await db('clients').orderBy('created_at').orderBy('id')) as Row[]).map(toClient);
      },
      async update(id, changes) {
        const update: Row = { updated_at: clock.now() };
        if (changes.metadata) update.metadata = JSON.stringify(changes.metadata);
        if (changes.portal) update.portal = changes.portal;
        if (changes.firstParty !== undefined) update.first_party = changes.firstParty;
        if ('secretHash' in changes) update.secret_hash = changes.secretHash ?? null;
        if ('disabledAt' in changes) update.disabled_at = changes.disabledAt ?? null;
        const updated = await db('clients').where({ id }).update(update);
        if (updated === 0) return undefined;
        return toClient((await db('clients').where({ id }).first()) as Row);
      },
      async remove(id) {
        return (await db('clients').where({ id }).delete()) > 0;
      },
    },

    profiles: {
      async upsert(profile) {
        const existing = (await db('profiles').where({ id: profile.id }).first()) as Row | undefined;
        const now = clock.now();
        const values = {
          portal: profile.portal,
          email: profile.email,
          display_name: profile.displayName,
          organization: profile.organization,
          roles: JSON.stringify(profile.roles),
        };
        if (!existing) {
          await db('profiles').insert({ id: profile.id, ...values, created_at: now, updated_at: now });
          return 'created';
        }
        const current = toProfile(existing);
        const same =
          current.portal === profile.portal &&
          current.email === profile.email &&
          current.displayName === profile.displayName &&
          current.organization === profile.organization &&
          JSON.stringify(current.roles) === JSON.stringify(profile.roles);
        if (same) return 'unchanged';
        await db('profiles').where({ id: profile.id }).update({ ...values, updated_at: now });
        return 'updated';
      },
      async find(id) {
        const row = (await db('profiles').where({ id }).first()) as Row | undefined;
        return row ? toProfile(row) : undefined;
      },
      async findByEmail(email) {
        return ((await db('profiles').where({ email }).orderBy('id')) as Row[]).map(toProfile);
      },
      async list(query = {}) {
        const { limit, offset } = pageBounds(query);
        const builder = db('profiles');
        if (query.email) builder.where({ email: query.email });
        if (query.portal) builder.where({ portal: query.portal });
        const total = await countOf(builder);
        const rows = (await builder.clone().select('*').orderBy('id').limit(limit).offset(offset)) as Row[];
        return { items: rows.map(toProfile), total };
      },
      async remove(id) {
        await db('profile_bindings').where({ profile_id: id }).delete();
        return (await db('profiles').where({ id }).delete()) > 0;
      },
    },

    accounts: {
      async create(account) {
        const now = clock.now();
        const record: AccountRecord = {
          id: randomUUID(),
          email: account.email,
          emailVerified: account.emailVerified ?? false,
          name: account.name,
          createdAt: now,
          updatedAt: now,
        };
        await db('accounts').insert({
          id: record.id,
          email: record.email ?? null,
          email_verified: record.emailVerified,
          name: record.name ?? null,
          created_at: now,
          updated_at: now,
        });
        return record;
      },
      async find(id) {
        const row = (prepared && preparedSql ? await prepared.get(preparedSql.account, [id]) : await db('accounts').where({ id }).first()) as Row | undefined;
        return row ? toAccount(row) : undefined;
      },
      async update(id, changes) {
        const update: Row = { updated_at: clock.now() };
        if ('email' in changes) update.email = changes.email ?? null;
        if (changes.emailVerified !== undefined) update.email_verified = changes.emailVerified;
        if ('name' in changes) update.name = changes.name ?? null;
        await db('accounts').where({ id }).update(update);
      },
    },

    identities: {
      async findByIssuerAndSubject(issuer, subject) {
        const row = (await db('identities').where({ issuer, subject }).first()) as Row | undefined;
        return row ? toIdentity(row) : undefined;
      },
      async find(id) {
        const row = (await db('identities').where({ id }).first()) as Row | undefined;
        return row ? toIdentity(row) : undefined;
      },
      async listByAccount(accountId) {
        return ((await db('identities').where({ account_id: accountId }).orderBy('created_at')) as Row[]).map(toIdentity);
      },
      async create(identity) {
        const now = clock.now();
        const record: UpstreamIdentityRecord = {
          id: randomUUID(),
          accountId: identity.accountId,
          issuer: identity.issuer,
          subject: identity.subject,
          emailHint: identity.emailHint,
          nameHint: identity.nameHint,
          createdAt: now,
          lastSignInAt: undefined,
        };
        try {
          await db('identities').insert({
            id: record.id,
            account_id: record.accountId,
            issuer: record.issuer,
            subject: record.subject,
            email_hint: record.emailHint ?? null,
            name_hint: record.nameHint ?? null,
            created_at: now,
          });
        } catch (error) {
          if (isUniqueViolation(error)) throw conflict('This upstream identity is already known', { detail: `${identity.issuer} ${identity.subject}`, cause: error });
          throw error;
        }
        return record;
      },
      async recordSignIn(id, hints) {
        await db('identities')
          .where({ id })
          .update({ last_sign_in_at: clock.now(), email_hint: hints.emailHint ?? null, name_hint: hints.nameHint ?? null });
      },
    },

    profileBindings: {
      async bind(binding) {
        // One bind of a profile at a time, so that each learns the binding it
        // replaced (PostgreSQL: the profile row is locked; SQLite: its one
        // connection runs one transaction at a time).
        return db.transaction(async (trx) => {
          if (trx.client.config.client === 'pg') await trx('profiles').select('id').where({ id: binding.profileId }).forUpdate();
          const previousRow = (await trx('profile_bindings').where({ profile_id: binding.profileId }).first()) as Row | undefined;
          const row = {
            profile_id: binding.profileId,
            account_id: binding.accountId,
            identity_id: binding.identityId ?? null,
            method: binding.method,
            created_at: clock.now(),
          };
          await trx('profile_bindings').insert(row).onConflict('profile_id').merge(['account_id', 'identity_id', 'method', 'created_at']);
          return { binding: toBinding(row), previous: previousRow ? toBinding(previousRow) : undefined };
        });
      },
      async findByProfile(profileId) {
        const row = (await db('profile_bindings').where({ profile_id: profileId }).first()) as Row | undefined;
        return row ? toBinding(row) : undefined;
      },
      async listProfilesByAccount(accountId, portal) {
        const rows =
          prepared && preparedSql
            ? await prepared.all(portal ? preparedSql.profilesByAccountAndPortal : preparedSql.profilesByAccount, portal ? [accountId, portal] : [accountId])
            : await profilesByAccountQuery(accountId, portal);
        return (rows as Row[]).map(toBoundProfile);
      },
      async list(query = {}) {
        const { limit, offset } = pageBounds(query);
        const builder = boundProfilesQuery();
        if (query.accountId) builder.where('profile_bindings.account_id', query.accountId);
        if (query.profileId) builder.where('profile_bindings.profile_id', query.profileId);
        if (query.email) builder.where('profiles.email', query.email);
        const total = await countOf(builder);
        const rows = (await builder.clone().orderBy('profiles.id').limit(limit).offset(offset)) as Row[];
        return { items: rows.map(toBoundProfile), total };
      },
      async remove(profileId) {
        return (await db('profile_bindings').where({ profile_id: profileId }).delete()) > 0;
      },
    },

    auditEvents: {
      async record(event) {
        await db('audit_events').insert({
          occurred_at: clock.now(),
          type: event.type,
          outcome: event.outcome,
          actor: event.actor ?? null,
          account_id: event.accountId ?? null,
          profile_id: event.profileId ?? null,
          client_id: event.clientId ?? null,
          ip: event.ip ?? null,
          details: event.details ? JSON.stringify(event.details) : null,
        });
        recorded(event);
      },
      async list(query = {}) {
        const { limit, offset } = pageBounds(query);
        const builder = db('audit_events');
        if (query.type) builder.where({ type: query.type });
        if (query.accountId) builder.where({ account_id: query.accountId });
        if (query.profileId) builder.where({ profile_id: query.profileId });
        if (query.clientId) builder.where({ client_id: query.clientId });
        if (query.since !== undefined) builder.where('occurred_at', '>=', query.since);
        if (query.until !== undefined) builder.where('occurred_at', '<', query.until);
        const total = await countOf(builder);
        const rows = (await builder.clone().select('*').orderBy('id', 'desc').limit(limit).offset(offset)) as Row[];
        return {
          items: rows.map(
            (row): AuditEventRecord => ({
              id: Number(row.id),
              occurredAt: Number(row.occurred_at),
              type: String(row.type),
              outcome: String(row.outcome) as AuditEventRecord['outcome'],
              actor: text(row.actor),
              accountId: text(row.account_id),
              profileId: text(row.profile_id),
              clientId: text(row.client_id),
              ip: text(row.ip),
              details: json<Record<string, unknown> | undefined>(row.details, undefined),
            }),
          ),
          total,
        };
      },
    },

    signingKeys: {
      async list() {
        const rows = (await db('signing_keys').orderBy('created_at', 'desc').orderBy('kid')) as Row[];
        return rows.map(
          (row): SigningKeyRecord => ({
            kid: String(row.kid),
            alg: String(row.alg),
            status: String(row.status) as SigningKeyRecord['status'],
            publicJwk: json(row.public_jwk, {}),
            privateJwk: String(row.private_jwk),
            createdAt: Number(row.created_at),
            retiredAt: number(row.retired_at),
          }),
        );
      },
      async insert(key) {
        await db('signing_keys').insert({
          kid: key.kid,
          alg: key.alg,
          status: key.status,
          public_jwk: JSON.stringify(key.publicJwk),
          private_jwk: key.privateJwk,
          created_at: clock.now(),
        });
      },
      async setStatus(kid, status) {
        await db('signing_keys')
          .where({ kid })
          .update({ status, retired_at: status === 'retired' ? clock.now() : null });
      },
      async replacePrivateJwk(kid, privateJwk) {
        await db('signing_keys').where({ kid }).update({ private_jwk: privateJwk });
      },
      async remove(kid) {
        return (await db('signing_keys').where({ kid }).delete()) > 0;
      },
    },

    cookieKeys: {
      async list() {
        return ((await db('cookie_keys').orderBy('id', 'desc')) as Row[]).map((row) => ({ id: Number(row.id), secret: String(row.secret), createdAt: Number(row.created_at) }));
      },
      async insert(secret) {
        await db('cookie_keys').insert({ secret, created_at: clock.now() });
      },
      async replaceSecret(id, secret) {
        await db('cookie_keys').where({ id }).update({ secret });
      },
    },

    upstreamTransactions: {
      async create(transaction) {
        const sealer = transactionSealer(transaction.state);
        await db('upstream_transactions').insert({
          state: secretHash(transaction.state),
          purpose: transaction.purpose,
          interaction_uid: transaction.interactionUid ?? null,
          code_verifier: sealer.seal(transaction.codeVerifier, 'code_verifier'),
          nonce: sealer.seal(transaction.nonce, 'nonce'),
          context: JSON.stringify(transaction.context ?? {}),
          created_at: clock.now(),
          expires_at: transaction.expiresAt,
        });
      },
      async find(state) {
        const row = (await db('upstream_transactions')
          .where({ state: secretHash(state) })
          .whereNull('consumed_at')
          .where('expires_at', '>', clock.now())
          .first()) as Row | undefined;
        return row ? toTransaction(row, state) : undefined;
      },
      async consume(state) {
        const now = clock.now();
        // One conditional UPDATE: of concurrent consumers exactly one changes the row.
        const updated = await db('upstream_transactions')
          .where({ state: secretHash(state) })
          .whereNull('consumed_at')
          .where('expires_at', '>', now)
          .update({ consumed_at: now });
        if (updated === 0) return undefined;
        const row = (await db('upstream_transactions').where({ state: secretHash(state) }).first()) as Row | undefined;
        return row ? toTransaction(row, state) : undefined;
      },
    },
  };
}

/** Told of what the store recorded, once it is committed (metrics count audit events). */
export interface StoreObserver {
  auditEventRecorded?(event: AuditEventInput): void;
}

export function createStore(database: Database, clock: Clock, observer: StoreObserver = {}): Store {
  const notify = (event: AuditEventInput) => observer.auditEventRecorded?.(event);
  return {
    ...repositories(database, clock, notify, preparedStatements(database)),
    async transaction(work) {
      // Events recorded in a transaction count only when it commits.
      const recorded: AuditEventInput[] = [];
      const result = await database.transaction((trx) => work(repositories(trx, clock, (event) => recorded.push(event))));
      recorded.forEach(notify);
      return result;
    },
    async sweepExpired(options = {}) {
      // oidc-provider's records expire by real time (the adapter's), ours by the clock.
      const payloads = await deleteOlder(database, 'oidc_payloads', 'expires_at', Date.now());
      const transactions = await deleteOlder(database, 'upstream_transactions', 'expires_at', clock.now());
      const counters = await deleteOlder(database, 'rate_limit_counters', 'expires_at', clock.now());
      const audit = options.auditRetentionMilliseconds === undefined ? 0 : await deleteOlder(database, 'audit_events', 'occurred_at', clock.now() - options.auditRetentionMilliseconds);
      return payloads + transactions + counters + audit;
    },
  };
}

/** Rows one sweeping statement deletes on SQLite. */
const sweepChunk = 1000;

/**
 * Deletes the rows of `table` whose `column` is before `before`. On SQLite a
 * statement holds the one connection and, being synchronous, the event loop:
 * 100,000 sessions expiring together are deleted a thousand at a time, with
 * the requests that queued meanwhile served between chunks.
 */
async function deleteOlder(database: Database, table: string, column: string, before: number): Promise<number> {
  if (databaseClient(database) === 'postgres') return database(table).where(column, '<', before).delete();
  let total = 0;
  for (;;) {
    const deleted = await database(table)
      .whereIn('rowid', database(table).select('rowid').where(column, '<', before).limit(sweepChunk))
      .delete();
    total += deleted;
    if (deleted < sweepChunk) return total;
    await new Promise((resolve) => setImmediate(resolve));
  }
}
