// The admins page (admin only): who holds which console role, changing a
// role and revoking it (sensitive: a recent sign-in), inviting someone by
// email with a role, and revoking a pending invitation. Every change goes
// through AdminAccess acting as the signed-in admin.
import { parseAdminRole } from '../../admin/adminAccess.ts';
import { isBrokerError } from '../../errors.ts';
import { adminRoles } from '../../domain/records.ts';
import { pageLocale } from '../../web/pages.ts';
import type { ConsoleContext, ConsolePage, ConsoleStep, ConsoleSteps } from '../consoleSteps.ts';

const adminsPath = '/admin/admins';
const notices = new Set(['invited', 'role_changed', 'revoked', 'invitation_revoked']);

/** The page with the admins, the pending invitations and the invitation form (with a problem beside a field, when given). */
async function showAdmins(steps: ConsoleSteps, ctx: ConsoleContext, problems: { email?: string; role?: string; page?: string } = {}, typed: { email?: string; role?: string } = {}): Promise<void> {
  const { access } = ctx.state.services;
  const [admins, invitations] = await Promise.all([access.list(), access.listInvitations()]);
  const done = typeof ctx.query.done === 'string' && notices.has(ctx.query.done) ? ctx.query.done : undefined;
  steps.render(ctx, 'console/admins.eta', {
    titleKey: 'console.admins.title',
    roles: adminRoles,
    admins: admins.map((admin) => ({
      ...admin,
      grantedAt: steps.time(ctx, admin.grantedAt),
      self: admin.accountId === ctx.state.session.accountId,
      changeRole: `${adminsPath}/${encodeURIComponent(admin.accountId)}/role`,
      revoke: `${adminsPath}/${encodeURIComponent(admin.accountId)}/revoke`,
    })),
    invitations: invitations.map((invitation) => ({ ...invitation, expiresAt: steps.time(ctx, invitation.expiresAt), revoke: `${adminsPath}/invitations/${encodeURIComponent(invitation.id)}/revoke` })),
    invite: `${adminsPath}/invite`,
    done,
    problems,
    typed,
  });
}

/** Runs a change; a refusal with a catalogue message is shown on the page (nothing changed), anything else goes on up. */
const change = (steps: ConsoleSteps, work: (ctx: ConsoleContext) => Promise<string>): ConsoleStep => async (ctx) => {
  try {
    const done = await work(ctx);
    ctx.status = 303;
    ctx.redirect(`${adminsPath}?done=${done}`);
  } catch (error) {
    if (!isBrokerError(error) || !error.messageKey || error.status >= 500) throw error;
    ctx.status = error.status;
    await showAdmins(steps, ctx, { page: error.messageKey });
  }
};

export const adminsPage: ConsolePage = {
  navigation: { path: adminsPath, labelKey: 'console.nav.admins', roles: [] },
  routes(router, steps) {
    const { signedIn, form } = steps;
    const adminOnly = steps.requireRole();
    const recentSignIn = steps.requireRecentSignIn(adminsPath);
    const field = (ctx: ConsoleContext, name: string): string => (typeof ctx.state.form[name] === 'string' ? (ctx.state.form[name] as string) : '');

    const invite: ConsoleStep = async (ctx, next) => {
      const email = field(ctx, 'email').slice(0, 320);
      const role = field(ctx, 'role');
      try {
        await ctx.state.services.access.invite(email, parseAdminRole(role), pageLocale(ctx));
      } catch (error) {
        if (!isBrokerError(error) || !error.fields) throw error;
        ctx.status = 400;
        return showAdmins(steps, ctx, { ...(error.fields.email ? { email: error.messageKey ?? 'error.console.email_invalid' } : {}), ...(error.fields.role ? { role: 'error.console.role_invalid' } : {}) }, { email, role });
      }
      await next();
    };
    const invited: ConsoleStep = (ctx) => {
      ctx.status = 303;
      ctx.redirect(`${adminsPath}?done=invited`);
    };

    router.get(adminsPath, signedIn, adminOnly, (ctx) => showAdmins(steps, ctx));
    router.post(`${adminsPath}/invite`, signedIn, adminOnly, form, recentSignIn, invite, invited);
    router.post(`${adminsPath}/:accountId/role`, signedIn, adminOnly, form, recentSignIn, change(steps, async (ctx) => {
      await ctx.state.services.access.grant(String(ctx.params.accountId), parseAdminRole(field(ctx, 'role')));
      return 'role_changed';
    }));
    router.post(`${adminsPath}/:accountId/revoke`, signedIn, adminOnly, form, recentSignIn, change(steps, async (ctx) => {
      await ctx.state.services.access.revoke(String(ctx.params.accountId));
      return 'revoked';
    }));
    router.post(`${adminsPath}/invitations/:invitationId/revoke`, signedIn, adminOnly, form, change(steps, async (ctx) => {
      await ctx.state.services.access.revokeInvitation(String(ctx.params.invitationId));
      return 'invitation_revoked';
    }));
  },
};
