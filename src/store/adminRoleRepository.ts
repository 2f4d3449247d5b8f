// Who may administer the broker: one role per broker account.
import type { Clock } from '../clock.ts';
import type { AdminRole, AdminRoleRecord } from '../domain/records.ts';
import { optionalText, type Executor, type Row } from './rows.ts';
import type { AdminRoleRepository } from './store.ts';

const toRole = (row: Row): AdminRoleRecord => ({
  accountId: String(row.account_id),
  role: String(row.role) as AdminRole,
  grantedBy: optionalText(row.granted_by),
  grantedAt: Number(row.granted_at),
});

export function adminRoleRepository(db: Executor, clock: Clock): AdminRoleRepository {
  return {
    async find(accountId) {
      const row = (await db('admin_roles').where({ account_id: accountId }).first()) as Row | undefined;
      return row ? toRole(row) : undefined;
    },
    async list() {
      return ((await db('admin_roles').select('*').orderBy('granted_at', 'asc')) as Row[]).map(toRole);
    },
    async set(accountId, role, grantedBy) {
      const previous = (await db('admin_roles').where({ account_id: accountId }).first()) as Row | undefined;
      const row = { account_id: accountId, role, granted_by: grantedBy ?? null, granted_at: clock.now() };
      if (previous) await db('admin_roles').where({ account_id: accountId }).update(row);
      else await db('admin_roles').insert(row);
      return previous ? toRole(previous) : undefined;
    },
    async remove(accountId) {
      return (await db('admin_roles').where({ account_id: accountId }).delete()) > 0;
    },
  };
}
