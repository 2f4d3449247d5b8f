// The store on knex: puts the repositories of the contract in
// src/store/store.ts together (one file each, written once for SQLite and
// PostgreSQL: JSON as text, times as epoch ms, booleans normalised), and
// runs transactions that hand out repositories bound to them.
import type { Clock } from '../clock.ts';
import { inSpan } from '../spans.ts';
import { accountRepository } from './accountRepository.ts';
import { adminInvitationRepository } from './adminInvitationRepository.ts';
import { adminRoleRepository } from './adminRoleRepository.ts';
import { adminTokenRepository } from './adminTokenRepository.ts';
import { associationFlowRepository } from './associationFlowRepository.ts';
import { auditEventRepository } from './auditEventRepository.ts';
import { clientRepository } from './clientRepository.ts';
import { cookieKeyRepository } from './cookieKeyRepository.ts';
import { databaseClient, preparedStatements, type Database, type PreparedStatements } from './database.ts';
import { identityRepository } from './identityRepository.ts';
import { linkRequestRepository } from './linkRequestRepository.ts';
import { profileBindingRepository } from './profileBindingRepository.ts';
import { profileChoiceRepository } from './profileChoiceRepository.ts';
import { profileRepository } from './profileRepository.ts';
import { rateLimitRepository } from './rateLimitRepository.ts';
import { resourceServerRepository } from './resourceServerRepository.ts';
import type { AuditEventInput } from '../domain/records.ts';
import type { Executor } from './rows.ts';
import { signingKeyRepository } from './signingKeyRepository.ts';
import { statisticsRepository } from './statisticsRepository.ts';
import type { Repositories, Store } from './store.ts';
import { upstreamTransactionRepository } from './upstreamTransactionRepository.ts';

/**
 * `prepared` (outside transactions): the lookups behind every token's claims
 * (the account, its profiles) as statements prepared once, compiled by knex
 * from the same query builders as the other paths.
 */
function repositories(db: Executor, clock: Clock, recorded: (event: AuditEventInput) => void, prepared?: PreparedStatements): Repositories {
  return {
    executor: db,
    associationFlows: associationFlowRepository(db, clock),
    linkRequests: linkRequestRepository(db, clock),
    rateLimits: rateLimitRepository(db, clock),
    clients: clientRepository(db, clock),
    resourceServers: resourceServerRepository(db, clock),
    profiles: profileRepository(db, clock),
    accounts: accountRepository(db, clock, prepared),
    identities: identityRepository(db, clock),
    profileBindings: profileBindingRepository(db, clock, prepared),
    profileChoices: profileChoiceRepository(db, clock),
    auditEvents: auditEventRepository(db, clock, recorded),
    signingKeys: signingKeyRepository(db, clock),
    cookieKeys: cookieKeyRepository(db, clock),
    upstreamTransactions: upstreamTransactionRepository(db, clock),
    statistics: statisticsRepository(db),
    adminRoles: adminRoleRepository(db, clock),
    adminInvitations: adminInvitationRepository(db, clock),
    adminTokens: adminTokenRepository(db, clock),
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
      const result = await inSpan('db.transaction', { withinTrace: true, attributes: { 'db.system': databaseClient(database) === 'postgres' ? 'postgresql' : 'sqlite' } }, () => database.transaction((trx) => work(repositories(trx, clock, (event) => recorded.push(event)))));
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

/** Rows one sweeping statement deletes. */
const sweepChunk = 1000;

/**
 * Deletes the rows of `table` whose `column` is before `before`, a thousand
 * at a time, with the requests that queued meanwhile served between chunks.
 * On SQLite a statement holds the one connection and, being synchronous,
 * the event loop. On PostgreSQL one statement for a day's expired rows
 * (214,287 in the benchmark's million-session store) ran for 2 s and
 * more than doubled the median refresh latency meanwhile; chunks of physical row ids (ctid,
 * fetched through the expiry index) spread that work the same way.
 */
async function deleteOlder(database: Database, table: string, column: string, before: number): Promise<number> {
  const postgres = databaseClient(database) === 'postgres';
  let total = 0;
  for (;;) {
    const deleted = postgres
      ? ((await database.raw('delete from ?? where ctid = any(array(select ctid from ?? where ?? < ? limit ?))', [table, table, column, before, sweepChunk])) as { rowCount: number }).rowCount
      : await database(table)
          .whereIn('rowid', database(table).select('rowid').where(column, '<', before).limit(sweepChunk))
          .delete();
    total += deleted;
    if (deleted < sweepChunk) return total;
    await new Promise((resolve) => setImmediate(resolve));
  }
}
