// Who may administer the broker, as an administration service under the CLI
// (`admins …`), the admin API's authentication and the console: roles per
// broker account (grant, change, revoke — never the last admin), invitations
// by email (a hashed, single-use, expiring link queued through the outbox in
// the same transaction, accepted by signing in: the association's pattern),
// and admin API tokens with a role (shown once, stored hashed). Every change
// is one transaction with its audit event, carrying the acting admin.
import { BrokerError, invalidRequest, notFound } from '../errors.ts';
import { parseEmail } from '../directory/email.ts';
import type { Clock } from '../clock.ts';
import type { Locale } from '../i18n.ts';
import type { Outbox } from '../mail/outbox.ts';
import type { EmailRenderer } from '../mail/render.ts';
import { generateSecret, secretHash } from '../secrets.ts';
import { adminRoles, type AdminInvitationRecord, type AdminRole, type AdminRoleRecord, type AdminTokenRecord } from '../domain/records.ts';
import type { Repositories, Store } from '../store/store.ts';
import { actingDetails, type Acting } from './acting.ts';

export interface AdminAccessParts {
  store: Store;
  clock: Clock;
  outbox: Outbox;
  emails: EmailRenderer;
  /** The broker's issuer: invitation links live under it. */
  issuer: string;
  supportEmail: string;
  /** Milliseconds an invitation link works. */
  invitationTtl: number;
}

/** An admin as the lists show them: the role and how the person is known. */
export interface AdminListing extends AdminRoleRecord {
  /** The upstream account's email or name hint, else the MBS email of a bound profile. */
  knownAs: string;
}

export type InvitationDescription = { status: 'valid'; invitation: AdminInvitationRecord } | { status: 'unknown' | 'accepted' | 'expired' };

/** The path of an invitation link below the issuer. */
export const invitationPath = (token: string): string => `/admin/invitations/${token}`;

/** The refusal of an invitation link that is unknown, already used or expired. */
export const invitationInvalid = (detail: string): BrokerError =>
  new BrokerError('not_found', 'error.console.invitation_invalid', { detail });

export function parseAdminRole(value: unknown): AdminRole {
  if (typeof value === 'string' && (adminRoles as readonly string[]).includes(value)) return value as AdminRole;
  throw invalidRequest('error.console.role_invalid', { fields: { role: 'admin, support or auditor' } });
}

export class AdminAccess {
  readonly #parts: AdminAccessParts;
  readonly #acting: Acting;

  constructor(parts: AdminAccessParts, acting: Acting) {
    this.#parts = parts;
    this.#acting = acting;
  }

  #audit(type: string, fields: { accountId?: string | undefined; details?: Record<string, unknown> }) {
    return { type, outcome: 'success' as const, actor: this.#acting.surface, accountId: fields.accountId, details: { ...fields.details, ...actingDetails(this.#acting) } };
  }

  get #grantor(): string {
    return this.#acting.accountId ?? this.#acting.surface;
  }

  /** The role of a broker account, if it has one. */
  async roleOf(accountId: string): Promise<AdminRole | undefined> {
    return (await this.#parts.store.adminRoles.find(accountId))?.role;
  }

  async list(): Promise<AdminListing[]> {
    const roles = await this.#parts.store.adminRoles.list();
    return Promise.all(roles.map(async (role) => ({ ...role, knownAs: await this.#knownAs(role.accountId) })));
  }

  /**
   * The broker account an admin names: its id, or an MBS email address whose
   * profiles are bound to exactly one account (an address proven by the
   * association, never the upstream's unverified email claim).
   */
  async resolveAccount(emailOrAccount: string): Promise<string> {
    const { store } = this.#parts;
    const typed = emailOrAccount.trim();
    if (typed && (await store.accounts.find(typed))) return typed;
    const email = parseEmail(typed);
    if (email) {
      const accounts = new Set((await store.profileBindings.list({ email, limit: 500 })).items.map((profile) => profile.binding.accountId));
      if (accounts.size === 1) return [...accounts][0]!;
      if (accounts.size > 1) throw new BrokerError('conflict', 'error.console.account_ambiguous');
    }
    throw notFound('error.console.account_unknown', { detail: `no account for ${typed.slice(0, 100)}` });
  }

  /** Grants a role, or changes the account's role; the last admin cannot be demoted. */
  async grant(emailOrAccount: string, role: AdminRole): Promise<AdminRoleRecord> {
    const accountId = await this.resolveAccount(emailOrAccount);
    return this.#parts.store.transaction(async (repositories) => {
      const current = await repositories.adminRoles.find(accountId);
      if (current?.role === 'admin' && role !== 'admin') await this.#keepAnAdmin(repositories.adminRoles, accountId);
      const previous = await repositories.adminRoles.set(accountId, role, this.#grantor);
      await repositories.auditEvents.record(this.#audit(previous ? 'admin.role_changed' : 'admin.role_granted', { accountId, details: { role, ...(previous ? { previous: previous.role } : {}) } }));
      return (await repositories.adminRoles.find(accountId))!;
    });
  }

  /**
   * Grants a role to the account of an upstream identity (issuer + subject),
   * making the account if the identity never signed in: for a first admin
   * known only by their upstream subject, such as the demo's.
   */
  async grantIdentity(identity: { issuer: string; subject: string; name?: string | undefined }, role: AdminRole): Promise<AdminRoleRecord> {
    const accountId = await this.#parts.store.transaction(async (repositories) => {
      const known = await repositories.identities.findByIssuerAndSubject(identity.issuer, identity.subject);
      if (known) return known.accountId;
      const account = await repositories.accounts.create({ name: identity.name });
      await repositories.identities.create({ accountId: account.id, issuer: identity.issuer, subject: identity.subject, nameHint: identity.name });
      return account.id;
    });
    return this.grant(accountId, role);
  }

  /** `grantIdentity`, unless the identity's account has a role already (it is left as it is). */
  async grantIdentityOnce(identity: { issuer: string; subject: string; name?: string | undefined }, role: AdminRole): Promise<void> {
    const known = await this.#parts.store.identities.findByIssuerAndSubject(identity.issuer, identity.subject);
    if (known && (await this.roleOf(known.accountId))) return;
    await this.grantIdentity(identity, role);
  }

  /** Takes the account's role away; the last admin cannot be revoked. */
  async revoke(emailOrAccount: string): Promise<void> {
    const accountId = await this.resolveAccount(emailOrAccount);
    await this.#parts.store.transaction(async (repositories) => {
      const current = await repositories.adminRoles.find(accountId);
      if (!current) throw notFound('error.console.not_an_admin');
      if (current.role === 'admin') await this.#keepAnAdmin(repositories.adminRoles, accountId);
      await repositories.adminRoles.remove(accountId);
      await repositories.auditEvents.record(this.#audit('admin.role_revoked', { accountId, details: { previous: current.role } }));
    });
  }

  /** Sends an invitation link to `email` (through the outbox, in the same transaction as the invitation). */
  async invite(typedEmail: string, role: AdminRole, locale: Locale): Promise<AdminInvitationRecord> {
    const { store, outbox, emails, issuer, supportEmail, invitationTtl } = this.#parts;
    const email = parseEmail(typedEmail);
    if (!email) throw invalidRequest('error.console.email_invalid', { fields: { email: 'an email address' } });
    const token = generateSecret(32);
    const expiresAt = this.#parts.clock.now() + invitationTtl;
    const message = await emails.render('admin-invitation', locale, {
      role,
      link: `${issuer}${invitationPath(token)}`,
      expires: `${new Intl.DateTimeFormat(locale, { dateStyle: 'long', timeStyle: 'short', timeZone: 'UTC' }).format(new Date(expiresAt))} UTC`,
      supportEmail,
      accent: '#0f6cbd',
    });
    return store.transaction(async (repositories) => {
      const invitation = await repositories.adminInvitations.create({ tokenHash: secretHash(token), email, role, invitedBy: this.#grantor, expiresAt });
      await outbox.queue(repositories.executor, { kind: 'admin_invitation', recipient: email, ...message });
      await repositories.auditEvents.record(this.#audit('admin.invited', { details: { email, role, invitation: invitation.id } }));
      return invitation;
    });
  }

  async listInvitations(): Promise<AdminInvitationRecord[]> {
    return this.#parts.store.adminInvitations.listPending();
  }

  async revokeInvitation(id: string): Promise<void> {
    await this.#revokeOne((repositories) => repositories.adminInvitations.revoke(id), notFound('error.console.invitation_gone'), 'admin.invitation_revoked', { invitation: id });
  }

  /** What an invitation link stands for; reading it never uses it (mail scanners open links). */
  async describeInvitation(token: string): Promise<InvitationDescription> {
    const invitation = await this.#parts.store.adminInvitations.findByTokenHash(secretHash(token));
    if (!invitation) return { status: 'unknown' };
    if (invitation.acceptedAt !== undefined) return { status: 'accepted' };
    if (invitation.expiresAt <= this.#parts.clock.now()) return { status: 'expired' };
    return { status: 'valid', invitation };
  }

  /**
   * The signed-in account accepts the invitation: used once (a conditional
   * update), the role granted in the same transaction. An admin accepting a
   * lesser role's invitation stays admin.
   */
  async acceptInvitation(token: string, accountId: string): Promise<AdminRole> {
    const described = await this.describeInvitation(token);
    if (described.status !== 'valid') throw invitationInvalid(`invitation ${described.status}`);
    const { invitation } = described;
    return this.#parts.store.transaction(async (repositories) => {
      if (!(await repositories.adminInvitations.accept(invitation.id, accountId))) throw invitationInvalid('invitation accepted concurrently');
      const current = await repositories.adminRoles.find(accountId);
      const role = current?.role === 'admin' ? 'admin' : invitation.role;
      await repositories.adminRoles.set(accountId, role, invitation.invitedBy);
      await repositories.auditEvents.record({ type: 'admin.invitation_accepted', outcome: 'success', actor: 'console', accountId, details: { invitation: invitation.id, role, email: invitation.email, actingAdmin: accountId } });
      return role;
    });
  }

  /** Issues an admin API token with a role: the token is returned once, only its hash is stored. */
  async issueToken(role: AdminRole, label: string | undefined): Promise<{ token: string; record: AdminTokenRecord }> {
    const token = `mbs_${generateSecret(32)}`;
    return this.#parts.store.transaction(async (repositories) => {
      const record = await repositories.adminTokens.create({ tokenHash: secretHash(token), role, label: label?.trim().slice(0, 200) || undefined, issuedBy: this.#grantor });
      await repositories.auditEvents.record(this.#audit('admin.token_issued', { details: { token: record.id, role } }));
      return { token, record };
    });
  }

  async listTokens(): Promise<AdminTokenRecord[]> {
    return this.#parts.store.adminTokens.list();
  }

  async revokeToken(id: string): Promise<void> {
    await this.#revokeOne((repositories) => repositories.adminTokens.revoke(id), notFound('error.console.token_gone'), 'admin.token_revoked', { token: id });
  }

  /** Revokes one record and audits it in one transaction; `missing` when there was nothing to revoke. */
  async #revokeOne(revoke: (repositories: Repositories) => Promise<boolean>, missing: BrokerError, type: string, details: Record<string, string>): Promise<void> {
    await this.#parts.store.transaction(async (repositories) => {
      if (!(await revoke(repositories))) throw missing;
      await repositories.auditEvents.record(this.#audit(type, { details }));
    });
  }

  async #keepAnAdmin(roles: Store['adminRoles'], leaving: string): Promise<void> {
    const others = (await roles.list()).filter((role) => role.role === 'admin' && role.accountId !== leaving);
    if (others.length === 0) throw new BrokerError('conflict', 'error.console.last_admin');
  }

  async #knownAs(accountId: string): Promise<string> {
    const { store } = this.#parts;
    const identities = await store.identities.listByAccount(accountId);
    const hinted = identities.map((identity) => identity.emailHint ?? identity.nameHint).find(Boolean);
    if (hinted) return hinted;
    return (await store.profileBindings.listProfilesByAccount(accountId))[0]?.email ?? accountId;
  }
}

/** Which admin API token this bearer value is: a stored one (by its hash), else none. */
export async function storedAdminToken(store: Store, presented: string): Promise<AdminTokenRecord | undefined> {
  return store.adminTokens.findActiveByHash(secretHash(presented));
}

