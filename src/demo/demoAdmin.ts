// The demo's first admin: in development with the dev upstream, the dev
// upstream's account named `admin` holds the console's admin role, so a
// newcomer signs in to /admin right after `npm start`.
import type { AdminAccess } from '../admin/adminAccess.ts';

/** The dev upstream account name of the demo admin. */
export const demoAdminAccountName = 'admin';

/** Grants the demo admin the admin role unless its account has a role already (an admin may have changed it). */
export async function grantDemoAdmin(access: AdminAccess, identity: { issuer: string; subject: string }): Promise<void> {
  await access.grantIdentityOnce({ ...identity, name: demoAdminAccountName }, 'admin');
}
