// Admin API tokens with a role: stored by the hash of the bearer value only.
import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { AdminRole, AdminTokenRecord } from '../domain/records.ts';
import { optionalNumber, optionalText, type Executor, type Row } from './rows.ts';
import type { AdminTokenRepository } from './store.ts';

const toToken = (row: Row): AdminTokenRecord => ({
  id: String(row.id),
  tokenHash: String(row.token_hash),
  role: String(row.role) as AdminRole,
  label: optionalText(row.label),
  issuedBy: optionalText(row.issued_by),
  createdAt: Number(row.created_at),
  revokedAt: optionalNumber(row.revoked_at),
});

export function adminTokenRepository(db: Executor, clock: Clock): AdminTokenRepository {
  return {
    async create(token) {
      const record: AdminTokenRecord = { id: randomUUID(), createdAt: clock.now(), revokedAt: undefined, ...token };
      await db('admin_tokens').insert({ id: record.id, token_hash: record.tokenHash, role: record.role, label: record.label ?? null, issued_by: record.issuedBy ?? null, created_at: record.createdAt });
      return record;
    },
    async findActiveByHash(tokenHash) {
      const row = (await db('admin_tokens').where({ token_hash: tokenHash }).whereNull('revoked_at').first()) as Row | undefined;
      return row ? toToken(row) : undefined;
    },
    async list() {
      return ((await db('admin_tokens').select('*').orderBy('created_at', 'desc')) as Row[]).map(toToken);
    },
    async revoke(id) {
      return (await db('admin_tokens').where({ id }).whereNull('revoked_at').update({ revoked_at: clock.now() })) > 0;
    },
  };
}
