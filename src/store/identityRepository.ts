// Upstream identities (issuer + subject) of an account, unique per pair,
// with the hints of the last sign-in; an account may have several (its
// sign-in methods), and never loses its last.
import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.ts';
import { conflict } from '../errors.ts';
import type { UpstreamIdentityRecord } from '../domain/records.ts';
import { optionalNumber, optionalText, type Executor, type Row } from './rows.ts';
import type { UpstreamIdentityRepository } from './store.ts';
import { isUniqueViolation } from './storageErrors.ts';

const toIdentity = (row: Row): UpstreamIdentityRecord => ({
  id: String(row.id),
  accountId: String(row.account_id),
  upstreamId: optionalText(row.upstream_id),
  issuer: String(row.issuer),
  subject: String(row.subject),
  emailHint: optionalText(row.email_hint),
  nameHint: optionalText(row.name_hint),
  createdAt: Number(row.created_at),
  lastSignInAt: optionalNumber(row.last_sign_in_at),
});

export function identityRepository(db: Executor, clock: Clock): UpstreamIdentityRepository {
  return {
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
    async listBySubject(subject) {
      return ((await db('identities').where({ subject }).orderBy('created_at')) as Row[]).map(toIdentity);
    },
    async create(identity) {
      const now = clock.now();
      const record: UpstreamIdentityRecord = {
        id: randomUUID(),
        accountId: identity.accountId,
        upstreamId: identity.upstreamId,
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
          upstream_id: record.upstreamId ?? null,
          issuer: record.issuer,
          subject: record.subject,
          email_hint: record.emailHint ?? null,
          name_hint: record.nameHint ?? null,
          created_at: now,
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw conflict('error.identity_exists', { detail: `${identity.issuer} ${identity.subject}`, cause: error });
        throw error;
      }
      return record;
    },
    async recordSignIn(id, hints) {
      await db('identities')
        .where({ id })
        .update({
          last_sign_in_at: clock.now(),
          email_hint: hints.emailHint ?? null,
          name_hint: hints.nameHint ?? null,
          ...(hints.upstreamId === undefined ? {} : { upstream_id: hints.upstreamId }),
        });
    },
    async removeUnlessLast(id, accountId) {
      // One removal per account at a time, so two at once cannot each see the
      // other's identity and leave the account with none (PostgreSQL: the
      // account row is locked; SQLite: its one connection runs one
      // transaction at a time).
      return db.transaction(async (trx) => {
        if (trx.client.config.client === 'pg') await trx('accounts').select('id').where({ id: accountId }).forUpdate();
        const identities = (await trx('identities').select('id').where({ account_id: accountId })) as Row[];
        if (!identities.some((row) => String(row.id) === id)) return 'missing';
        if (identities.length < 2) return 'last';
        await trx('identities').where({ id, account_id: accountId }).delete();
        return 'removed';
      });
    },
  };
}
