// The one JSON shape of each administered record, shared by the admin API
// and the CLI's --json output (snake_case fields, ISO 8601 times).
import type { OutboxSummary } from '../mail/outbox.ts';
import type { AdminInvitationRecord, AdminTokenRecord, AuditEventRecord, ClientRecord, LinkRequestRecord, SigningKeyRecord } from '../domain/records.ts';
import type { AdminListing } from './adminAccess.ts';

export const clientJson = (client: ClientRecord) => ({
  client_id: client.id,
  portal: client.portal,
  first_party: client.firstParty,
  public: !client.secretHash,
  disabled: client.disabledAt !== undefined,
  ...client.metadata,
  created_at: new Date(client.createdAt).toISOString(),
  updated_at: new Date(client.updatedAt).toISOString(),
});

export const linkJson = (link: LinkRequestRecord) => ({
  id: link.id,
  profile_id: link.profileId,
  issuer: link.issuer,
  subject: link.subject,
  created_at: new Date(link.createdAt).toISOString(),
  expires_at: new Date(link.expiresAt).toISOString(),
});

// Bodies hold secret association links: never returned.
export const outboxJson = (message: OutboxSummary) => ({
  id: message.id,
  kind: message.kind,
  recipient: message.recipient,
  subject: message.subject,
  attempts: message.attempts,
  sent_at: message.sentAt === undefined ? null : new Date(message.sentAt).toISOString(),
  next_attempt_at: new Date(message.nextAttemptAt).toISOString(),
  last_error: message.lastError ?? null,
  created_at: new Date(message.createdAt).toISOString(),
});

// Public parts only: the private JWK never leaves the database.
export const signingKeyJson = (key: SigningKeyRecord) => ({
  kid: key.kid,
  alg: key.alg,
  status: key.status,
  created_at: new Date(key.createdAt).toISOString(),
  retired_at: key.retiredAt === undefined ? null : new Date(key.retiredAt).toISOString(),
});

export const auditJson = (event: AuditEventRecord) => ({ ...event, occurredAt: new Date(event.occurredAt).toISOString() });

export const adminJson = (admin: AdminListing) => ({
  account_id: admin.accountId,
  role: admin.role,
  known_as: admin.knownAs,
  granted_by: admin.grantedBy ?? null,
  granted_at: new Date(admin.grantedAt).toISOString(),
});

// The token itself is shown once when issued, never listed; its hash is not shown either.
export const adminTokenJson = (token: AdminTokenRecord) => ({
  id: token.id,
  role: token.role,
  label: token.label ?? null,
  issued_by: token.issuedBy ?? null,
  created_at: new Date(token.createdAt).toISOString(),
  revoked_at: token.revokedAt === undefined ? null : new Date(token.revokedAt).toISOString(),
});

// The invitation link is sent by email only; never shown.
export const adminInvitationJson = (invitation: AdminInvitationRecord) => ({
  id: invitation.id,
  email: invitation.email,
  role: invitation.role,
  invited_by: invitation.invitedBy ?? null,
  created_at: new Date(invitation.createdAt).toISOString(),
  expires_at: new Date(invitation.expiresAt).toISOString(),
});
