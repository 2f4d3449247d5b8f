// The admins page (admin only): who holds which console role, changing a
// role and revoking it (sensitive: a recent sign-in), inviting someone by
// email with a role, and revoking a pending invitation; the admin API tokens
// (id, role, label, created, revoked — never the token): issuing one (a
// recent sign-in; the token shown once, with a copy button) and revoking one
// after a confirmation page. Every change goes through AdminAccess acting as
// the signed-in admin, so its audit event carries them.
import { parseAdminRole } from '../../admin/adminAccess.ts';
import { isBrokerError, notFound } from '../../errors.ts';
import { adminRoles } from '../../domain/records.ts';
import { pageLocale } from '../../web/pages.ts';
import type { ConsoleContext, ConsolePage, ConsoleStep, ConsoleSteps } from '../consoleSteps.ts';

const adminsPath = '/admin/admins';
const tokensPath = `${adminsPath}/tokens`;
const notices = new Set(['invited', 'role_changed', 'revoked', 'invitation_revoked', 'token_revoked']);
/** The longest token label kept (AdminAccess cuts there; the form says so instead). */
const tokenLabelLimit = 200;

interface AdminsProblems {
  email?: string;
  role?: string;
  page?: string;
  tokenRole?: string;
  tokenLabel?: string;
}
interface AdminsTyped {
  email?: string;
  role?: string;
  tokenRole?: string;
  tokenLabel?: string;
}

/** The page with the admins, the pending invitations and the invitation form (with a problem beside a field, when given). */
async function showAdmins(steps: ConsoleSteps, ctx: ConsoleContext, problems: AdminsProblems = {}, typed: AdminsTyped = {}): Promise<void> {
  const { access } = ctx.state.services;
  const [admins, invitations, tokens] = await Promise.all([access.list(), access.listInvitations(), access.listTokens()]);
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
    // Never the hash: the page lists what a token is, not what proves it.
    tokens: tokens.map((token) => ({
      id: token.id,
      role: token.role,
      label: token.label ?? '',
      createdAt: steps.time(ctx, token.createdAt),
      revokedAt: steps.time(ctx, token.revokedAt),
      revoke: token.revokedAt === undefined ? `${tokensPath}/${encodeURIComponent(token.id)}/revoke` : undefined,
    })),
    issueToken: tokensPath,
    tokenLabelLimit,
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

    const issueToken: ConsoleStep = async (ctx) => {
      const tokenLabel = field(ctx, 'label').trim();
      const tokenRole = field(ctx, 'role');
      const problems: AdminsProblems = {
        ...((adminRoles as readonly string[]).includes(tokenRole) ? {} : { tokenRole: 'error.console.role_invalid' }),
        ...(tokenLabel.length > tokenLabelLimit ? { tokenLabel: 'error.console.token_label_too_long' } : {}),
      };
      if (problems.tokenRole || problems.tokenLabel) {
        ctx.status = 400;
        return showAdmins(steps, ctx, problems, { tokenRole, tokenLabel: tokenLabel.slice(0, tokenLabelLimit + 100) });
      }
      const { token, record } = await ctx.state.services.access.issueToken(parseAdminRole(tokenRole), tokenLabel || undefined);
      // Shown this once; only its hash is stored.
      ctx.set('Cache-Control', 'no-store');
      steps.render(ctx, 'console/secret.eta', { titleKey: 'console.admins.token_issued', secret: token, secretLabelKey: 'console.admins.token', hintKey: 'console.admins.token_once', back: adminsPath, tokenId: record.id, tokenRole: record.role });
    };
    /** The token a revocation names, still active; else the page's 404. */
    const activeToken = async (ctx: ConsoleContext) => {
      const token = (await ctx.state.services.access.listTokens()).find((candidate) => candidate.id === ctx.params.tokenId && candidate.revokedAt === undefined);
      if (!token) throw notFound('error.console.token_gone', { detail: `no active admin token ${String(ctx.params.tokenId).slice(0, 100)}` });
      return token;
    };
    const confirmTokenRevocation: ConsoleStep = async (ctx) => {
      const token = await activeToken(ctx);
      steps.render(ctx, 'console/token-revoke.eta', { titleKey: 'console.admins.token_revoke_title', token: { id: token.id, role: token.role, label: token.label ?? '' }, action: `${tokensPath}/${encodeURIComponent(token.id)}/revoke`, back: adminsPath });
    };

    router.get(adminsPath, signedIn, adminOnly, (ctx) => showAdmins(steps, ctx));
    router.post(tokensPath, signedIn, adminOnly, form, recentSignIn, issueToken);
    router.get(`${tokensPath}/:tokenId/revoke`, signedIn, adminOnly, confirmTokenRevocation);
    router.post(`${tokensPath}/:tokenId/revoke`, signedIn, adminOnly, form, change(steps, async (ctx) => {
      await ctx.state.services.access.revokeToken(String(ctx.params.tokenId));
      return 'token_revoked';
    }));
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
