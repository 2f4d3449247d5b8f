// What each admin role may do, the one rule every surface applies: `admin`
// everything; the others only where a route or page names them
// (`support`: people, bindings, emails; `auditor`: reading the audit log).
import type { AdminRole } from '../domain/records.ts';

/** Whether `role` may use something that admits `admitted` (admin is always admitted). */
export function roleAdmits(role: AdminRole, admitted: readonly AdminRole[]): boolean {
  return role === 'admin' || admitted.includes(role);
}

/** Roles that may change nothing, whatever a route admits. */
export const readOnlyRoles: readonly AdminRole[] = ['auditor'];
