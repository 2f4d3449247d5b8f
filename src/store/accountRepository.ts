// Broker accounts: the subject of the tokens. `find` sits behind every
// token's claims, so outside transactions it runs as a statement
// prepared once.
import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { PreparedStatements } from './database.ts';
import type { AccountRecord } from '../domain/records.ts';
import { optionalText, type Executor, type Row } from './rows.ts';
import type { AccountRepository } from './store.ts';

const toAccount = (row: Row): AccountRecord => ({
  id: String(row.id),
  email: optionalText(row.email),
  emailVerified: Boolean(row.email_verified),
  name: optionalText(row.name),
  createdAt: Number(row.created_at),
  updatedAt: Number(row.updated_at),
});

export function accountRepository(db: Executor, clock: Clock, prepared?: PreparedStatements): AccountRepository {
  // The SQL once, compiled by knex from the same builder; the id comes per call.
  const findSql = prepared && db('accounts').where({ id: '' }).toSQL().sql;
  return {
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
      const row = (prepared && findSql ? await prepared.get(findSql, [id]) : await db('accounts').where({ id }).first()) as Row | undefined;
      return row ? toAccount(row) : undefined;
    },
    async listByEmail(email) {
      return ((await db('accounts').where({ email }).orderBy('created_at')) as Row[]).map(toAccount);
    },
    async update(id, changes) {
      const update: Row = { updated_at: clock.now() };
      if ('email' in changes) update.email = changes.email ?? null;
      if (changes.emailVerified !== undefined) update.email_verified = changes.emailVerified;
      if ('name' in changes) update.name = changes.name ?? null;
      await db('accounts').where({ id }).update(update);
    },
  };
}
