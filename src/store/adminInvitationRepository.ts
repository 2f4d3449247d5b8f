// Invitations to the admin console: stored by the hash of their token,
// accepted once by a conditional UPDATE (like association links).
import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { AdminInvitationRecord, AdminRole } from '../domain/records.ts';
import { optionalNumber, optionalText, type Executor, type Row } from './rows.ts';
import type { AdminInvitationRepository } from './store.ts';

const toInvitation = (row: Row): AdminInvitationRecord => ({
  id: String(row.id),
  tokenHash: String(row.token_hash),
  email: String(row.email),
  role: String(row.role) as AdminRole,
  invitedBy: optionalText(row.invited_by),
  createdAt: Number(row.created_at),
  expiresAt: Number(row.expires_at),
  acceptedAt: optionalNumber(row.accepted_at),
  acceptedBy: optionalText(row.accepted_by),
});

export function adminInvitationRepository(db: Executor, clock: Clock): AdminInvitationRepository {
  return {
    async create(invitation) {
      const record: AdminInvitationRecord = { id: randomUUID(), createdAt: clock.now(), acceptedAt: undefined, acceptedBy: undefined, ...invitation };
      await db('admin_invitations').insert({
        id: record.id,
        token_hash: record.tokenHash,
        email: record.email,
        role: record.role,
        invited_by: record.invitedBy ?? null,
        created_at: record.createdAt,
        expires_at: record.expiresAt,
      });
      return record;
    },
    async findByTokenHash(tokenHash) {
      const row = (await db('admin_invitations').where({ token_hash: tokenHash }).first()) as Row | undefined;
      return row ? toInvitation(row) : undefined;
    },
    async accept(id, accountId) {
      const now = clock.now();
      return (await db('admin_invitations').where({ id }).whereNull('accepted_at').where('expires_at', '>', now).update({ accepted_at: now, accepted_by: accountId })) > 0;
    },
    async listPending() {
      const rows = (await db('admin_invitations').whereNull('accepted_at').where('expires_at', '>', clock.now()).select('*').orderBy('created_at', 'desc')) as Row[];
      return rows.map(toInvitation);
    },
    async revoke(id) {
      return (await db('admin_invitations').where({ id }).whereNull('accepted_at').delete()) > 0;
    },
  };
}
