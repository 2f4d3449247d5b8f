// oidc-provider's persistence on knex: every model in the oidc_payloads table
// (clients excepted: they live in `clients`), with an atomic consume so that
// of parallel redemptions of one code or refresh token exactly one wins.
// Bearer values (codes, tokens, initial and registration access tokens) are
// their own ids, and so is a session's (the `_session` cookie): those rows
// are keyed by the value's hash and keep no copy of it (an Interaction's
// copy of its session's cookie value is not stored either), so a database
// dump hands out no working token or session. The dev upstream, standing in
// for Microsoft's own database, may have its payloads sealed whole.
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { errors } from 'oidc-provider';
import { isBrokerError, type BrokerError } from '../errors.ts';
import type { ClientRecord } from '../domain/records.ts';
import { isSecretHash, secretHash } from '../secrets.ts';
import { isSealed, type Sealer } from '../sealing.ts';
import type { ClientRepository } from './store.ts';
import { hotStatements, type Database } from './database.ts';

export interface OidcAdapterOptions {
  /** The broker's clients; without them, Client rows are stored like any model. */
  clients?: ClientRepository;
  /** Maps a stored client to the metadata oidc-provider validates. */
  clientMetadata?: (client: ClientRecord) => Record<string, unknown> | undefined;
  /**
   * Keeps another provider's models apart (`<namespace>:<Model>`): the dev
   * upstream shares the broker's database so that every instance sees its
   * sessions, and nothing of it mixes with the broker's own rows.
   */
  namespace?: string;
  /** Seals every payload (the dev upstream's: its requests carry the broker's upstream state). */
  payloadSealer?: Sealer;
}

const table = 'oidc_payloads';

const bearerModels = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'ClientCredentials', 'InitialAccessToken', 'RegistrationAccessToken']);
/** Models whose id is presented to act as someone: stored hashed. A session's id is its cookie's value. */
const hashedIdModels = new Set([...bearerModels, 'Session']);

/**
 * What is stored of a payload: without the id when the id is stored hashed,
 * and an Interaction without its session's cookie value (oidc-provider
 * copies it there for the application; nothing reads it back).
 */
function storedPayload(model: string, payload: AdapterPayload, hashedId: boolean): AdapterPayload {
  if (hashedId) {
    const { jti: _value, ...stored } = payload;
    return stored;
  }
  if (model.endsWith('Interaction') && payload.session && typeof payload.session === 'object' && 'cookie' in payload.session) {
    const { cookie: _cookie, ...session } = payload.session as Record<string, unknown>;
    return { ...payload, session } as AdapterPayload;
  }
  return payload;
}

interface StoredRow {
  id: string;
  payload: string;
  expires_at: number | string | null;
  consumed_at: number | string | null;
}

function toPayload(row: StoredRow | undefined, open: (row: StoredRow) => string): AdapterPayload | undefined {
  if (!row) return undefined;
  if (row.expires_at !== null && Number(row.expires_at) <= Date.now()) return undefined;
  const payload = JSON.parse(open(row)) as AdapterPayload;
  if (row.consumed_at !== null) payload.consumed = Math.floor(Number(row.consumed_at) / 1000);
  return payload;
}

/** The sessions of an account, as oidc-provider stored them (with the clients each signed in to). */
export async function sessionsOfAccount(database: Database, accountId: string): Promise<Array<{ accountId: string; authorizations?: Record<string, { sid?: string }> }>> {
  const rows = (await database(table).select('payload').where({ type: 'Session', account_id: accountId })) as Array<{ payload: string }>;
  return rows.map((row) => JSON.parse(row.payload) as { accountId: string; authorizations?: Record<string, { sid?: string }> });
}

/** An account's live session as the support desk sees it: when it signed in, until when, and the clients it reached. */
export interface AccountSession {
  signedInAt: number | undefined;
  expiresAt: number | undefined;
  clientIds: string[];
}

export async function liveSessionsOfAccount(database: Database, accountId: string): Promise<AccountSession[]> {
  const rows = (await database(table).select('payload', 'expires_at').where({ type: 'Session', account_id: accountId }).where('expires_at', '>', Date.now())) as Array<{ payload: string; expires_at: number | string }>;
  return rows.map((row) => {
    const payload = JSON.parse(row.payload) as { loginTs?: number; authorizations?: Record<string, unknown> };
    return {
      signedInAt: typeof payload.loginTs === 'number' ? payload.loginTs * 1000 : undefined,
      expiresAt: Number(row.expires_at),
      clientIds: Object.keys(payload.authorizations ?? {}).sort(),
    };
  });
}

/**
 * Ends everything an account holds at the provider: its sessions, grants,
 * codes and tokens (refresh tokens included). Returns the rows removed.
 */
export async function revokeAccount(database: Database, accountId: string): Promise<number> {
  return database(table).where({ account_id: accountId }).whereIn('type', ['Session', 'Grant', 'AuthorizationCode', 'AccessToken', 'RefreshToken']).delete();
}

// Every statement of the adapter, once: both databases run them prepared
// and commit the writes of one turn together (see hotStatements).
const upsertSql = `insert into ${table} (type, id, payload, grant_id, uid, user_code, account_id, expires_at) values (?, ?, ?, ?, ?, ?, ?, ?)
  on conflict (type, id) do update set payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid, user_code = excluded.user_code, account_id = excluded.account_id, expires_at = excluded.expires_at`;
const findSql = `select id, payload, expires_at, consumed_at from ${table} where type = ? and id = ?`;
const findByUidSql = `select id, payload, expires_at, consumed_at from ${table} where type = ? and uid = ? limit 1`;
const findByUserCodeSql = `select id, payload, expires_at, consumed_at from ${table} where type = ? and user_code = ? limit 1`;
const consumeSql = `update ${table} set consumed_at = ? where type = ? and id = ? and consumed_at is null`;
// Inserts a row unless a live one with its key exists: an expired row (not yet
// swept) is taken over. One statement, so of instances racing for one key
// exactly one counts a changed row.
const insertUniqueSql = `insert into ${table} (type, id, payload, expires_at) values (?, ?, ?, ?)
  on conflict (type, id) do update set payload = excluded.payload, expires_at = excluded.expires_at, consumed_at = null
  where ${table}.expires_at is not null and ${table}.expires_at <= ?`;
const destroySql = `delete from ${table} where type = ? and id = ?`;
const revokeByGrantIdSql = `delete from ${table} where type = ? and grant_id = ?`;

/**
 * A storage failure as oidc-provider's own error: its error handler answers
 * 503 temporarily_unavailable (JSON, or the error page) with the safe
 * message, instead of a 500 server_error; the BrokerError is its cause.
 */
class StorageTemporarilyUnavailable extends errors.OIDCProviderError {
  constructor(cause: BrokerError) {
    super(503, 'temporarily_unavailable', { cause, ...(cause.detail === undefined ? {} : { detail: cause.detail }) });
    this.error_description = cause.publicMessage;
    this.expose = true;
    this.allow_redirect = false;
  }
}

/** Rethrows a storage failure so that oidc-provider answers 503; any other error as it is. */
export function rethrowForProvider(error: unknown): never {
  if (isBrokerError(error) && error.code === 'temporarily_unavailable') throw new StorageTemporarilyUnavailable(error);
  throw error;
}

const adapterMethods = ['upsert', 'insertUnique', 'find', 'findByUid', 'findByUserCode', 'consume', 'destroy', 'revokeByGrantId'] as const;

/**
 * The adapter's one addition to oidc-provider's interface: a record saved
 * only when no live record has its id, for the replay detection of DPoP
 * proofs and client assertions (their `jti`s), which oidc-provider does as
 * find-then-save, a race between instances.
 */
export interface UniqueInsertAdapter {
  /** Saves the record unless a live one has `id`; resolves whether it was saved. */
  insertUnique(id: string, payload: AdapterPayload, expiresIn: number): Promise<boolean>;
}

/** Whether an adapter (from createOidcAdapter) can insert atomically; oidc-provider's in-memory one cannot. */
export const canInsertUnique = (adapter: object): adapter is UniqueInsertAdapter => typeof (adapter as Partial<UniqueInsertAdapter>).insertUnique === 'function';

export function createOidcAdapter(database: Database, options: OidcAdapterOptions) {
  const statements = hotStatements(database);
  const KnexAdapter = class KnexAdapter implements Adapter, UniqueInsertAdapter {
    readonly #model: string;
    readonly #hashedId: boolean;
    readonly #clients: { repository: ClientRepository; metadata: NonNullable<OidcAdapterOptions['clientMetadata']> } | undefined;

    constructor(model: string) {
      this.#model = options.namespace ? `${options.namespace}:${model}` : model;
      this.#hashedId = hashedIdModels.has(model);
      this.#clients = model === 'Client' && options.clients && options.clientMetadata ? { repository: options.clients, metadata: options.clientMetadata } : undefined;
    }

    /** The row id: the hash of a bearer value or session id, the id itself otherwise. */
    #key(id: string): string {
      return this.#hashedId ? secretHash(id) : id;
    }

    /** The payload column: JSON, sealed (bound to the row) when the adapter seals. */
    #seal(id: string, payload: AdapterPayload): string {
      const json = JSON.stringify(storedPayload(this.#model, payload, this.#hashedId));
      return options.payloadSealer ? options.payloadSealer.seal(json, `${this.#model}:${this.#key(id)}`) : json;
    }

    /** The payload as JSON (opened when sealed: bound to the row it was read from). */
    #open = (row: StoredRow): string =>
      isSealed(row.payload) && options.payloadSealer ? options.payloadSealer.open(row.payload, `${this.#model}:${row.id}`) : row.payload;

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      if (this.#clients) {
        await upsertClient(this.#clients.repository, id, payload);
        return;
      }
      const row = {
        type: this.#model,
        id: this.#key(id),
        payload: this.#seal(id, payload),
        grant_id: payload.grantId ?? null,
        uid: payload.uid ?? null,
        user_code: payload.userCode ?? null,
        account_id: typeof payload.accountId === 'string' ? payload.accountId : null,
        expires_at: expiresIn ? Date.now() + expiresIn * 1000 : null,
      };
      await statements.run(upsertSql, [row.type, row.id, row.payload, row.grant_id, row.uid, row.user_code, row.account_id, row.expires_at]);
    }

    async insertUnique(id: string, payload: AdapterPayload, expiresIn: number): Promise<boolean> {
      const now = Date.now();
      const inserted = await statements.run(insertUniqueSql, [this.#model, this.#key(id), this.#seal(id, payload), now + expiresIn * 1000, now]);
      return inserted > 0;
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.#clients) {
        const client = await this.#clients.repository.find(id);
        // A disabled client is unknown to the provider: invalid_client everywhere.
        return client && client.disabledAt === undefined ? (this.#clients.metadata(client) as AdapterPayload | undefined) : undefined;
      }
      const payload = await this.#findOne(findSql, this.#key(id));
      if (payload && this.#hashedId) payload.jti = id;
      return payload;
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      // Every interaction step looks its session up by uid.
      return this.#findOne(findByUidSql, uid);
    }

    findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return this.#findOne(findByUserCodeSql, userCode);
    }

    /** The payload of this model's row that `sql` finds by one value. */
    async #findOne(sql: string, value: string): Promise<AdapterPayload | undefined> {
      return toPayload((await statements.get(sql, [this.#model, value])) as StoredRow | undefined, this.#open);
    }

    async consume(id: string): Promise<void> {
      const updated = await statements.run(consumeSql, [Date.now(), this.#model, this.#key(id)]);
      if (updated === 0) throw new errors.InvalidGrant('grant already consumed');
    }

    async destroy(id: string): Promise<void> {
      if (this.#clients) {
        await this.#clients.repository.remove(id);
        return;
      }
      await statements.run(destroySql, [this.#model, this.#key(id)]);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await statements.run(revokeByGrantIdSql, [this.#model, grantId]);
    }
  };
  for (const method of adapterMethods) {
    const original = KnexAdapter.prototype[method] as (...values: unknown[]) => Promise<unknown>;
    Object.defineProperty(KnexAdapter.prototype, method, {
      value(this: InstanceType<typeof KnexAdapter>, ...values: unknown[]) {
        return original.apply(this, values).catch(rethrowForProvider);
      },
    });
  }
  return KnexAdapter;
}

async function upsertClient(clients: ClientRepository, id: string, payload: AdapterPayload): Promise<void> {
  // Dynamic registration: the provider hands the registrant its secret once;
  // only the hash is kept. A stored hash coming back (an update) stays as it is.
  const { client_id: _clientId, client_secret: secret, portal, first_party: _firstParty, ...metadata } = payload as Record<string, unknown>;
  const existing = await clients.find(id);
  const clientPortal = portal === 'partnersource' || portal === 'customersource' || portal === 'both' ? portal : 'both';
  const hash = typeof secret === 'string' && secret.length > 0 ? (isSecretHash(secret) ? secret : secretHash(secret)) : undefined;
  if (existing) {
    await clients.update(id, { metadata, portal: clientPortal, ...(hash ? { secretHash: hash } : {}) });
  } else {
    await clients.create({ id, metadata, portal: clientPortal, firstParty: false, secretHash: hash });
  }
}
