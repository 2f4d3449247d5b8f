// The one JSON shape of each administered record, shared by the admin API
// and the CLI's --json output (snake_case fields, ISO 8601 times).
import type { OutboxSummary } from '../mail/outbox.ts';
import type { AdminInvitationRecord, AdminTokenRecord, AuditEventRecord, BoundProfile, ClientRecord, LinkRequestRecord, ProfileRecord, ResourceServerRecord, SigningKeyRecord, UpstreamIdentityRecord } from '../domain/records.ts';
import type { AdminListing } from './adminAccess.ts';
import type { Dashboard } from './dashboardStatistics.ts';
import { isPublicClient } from './clientAdministration.ts';
import type { AddressReport } from './emailAdministration.ts';
import type { PeopleFound, Person, PersonDetails } from './peopleAdministration.ts';

export const clientJson = (client: ClientRecord) => ({
  client_id: client.id,
  portal: client.portal,
  first_party: client.firstParty,
  public: isPublicClient(client),
  disabled: client.disabledAt !== undefined,
  ...client.metadata,
  created_at: new Date(client.createdAt).toISOString(),
  updated_at: new Date(client.updatedAt).toISOString(),
});

/** A registered API (resource server); `identifier` is the `resource` value and the tokens' `aud`. */
export const apiJson = (api: ResourceServerRecord) => ({
  identifier: api.identifier,
  name: api.name,
  scopes: api.scopes,
  token_format: api.tokenFormat,
  access_token_ttl: api.accessTokenTtl,
  allowed_clients: api.allowedClients,
  created_at: new Date(api.createdAt).toISOString(),
  updated_at: new Date(api.updatedAt).toISOString(),
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
  smtp_response: message.smtpResponse ?? null,
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

const isoOrNull = (time: number | undefined) => (time === undefined ? null : new Date(time).toISOString());

export const profileJson = (profile: ProfileRecord) => ({
  id: profile.id,
  portal: profile.portal,
  email: profile.email,
  display_name: profile.displayName,
  organization: profile.organization,
  roles: profile.roles,
});

export const boundProfileJson = (profile: BoundProfile) => ({
  ...profileJson(profile),
  bound_at: new Date(profile.binding.createdAt).toISOString(),
  binding_method: profile.binding.method,
});

export const identityJson = (identity: UpstreamIdentityRecord) => ({
  issuer: identity.issuer,
  subject: identity.subject,
  email_hint: identity.emailHint ?? null,
  name_hint: identity.nameHint ?? null,
  created_at: new Date(identity.createdAt).toISOString(),
  last_sign_in_at: isoOrNull(identity.lastSignInAt),
});

export const personJson = (person: Person) => ({
  account_id: person.account.id,
  email: person.account.email ?? null,
  email_verified: person.account.emailVerified,
  name: person.account.name ?? null,
  created_at: new Date(person.account.createdAt).toISOString(),
  identities: person.identities.map(identityJson),
  profiles: person.profiles.map(boundProfileJson),
});

export const personDetailsJson = (person: PersonDetails) => ({
  ...personJson(person),
  sign_ins: person.signIns.map(auditJson),
  sessions: person.sessions.map((session) => ({ signed_in_at: isoOrNull(session.signedInAt), expires_at: isoOrNull(session.expiresAt), client_ids: session.clientIds })),
});

export const peopleFoundJson = (found: PeopleFound) => ({ people: found.people.map(personJson), unbound_profiles: found.unboundProfiles.map(profileJson) });

export const addressReportJson = (report: AddressReport) => ({
  email: report.email,
  profiles: report.profiles.map(profileJson),
  emails: report.emails.map(outboxJson),
  email_total: report.emailTotal,
  pending_links: report.pendingLinks.map(linkJson),
});

export const dashboardJson = (dashboard: Dashboard) => ({
  days: dashboard.days,
  sign_ins: dashboard.signIns,
  funnel: {
    since: new Date(dashboard.funnel.since).toISOString(),
    until: new Date(dashboard.funnel.until).toISOString(),
    submissions: dashboard.funnel.submissions,
    steps: dashboard.funnel.steps.map((step) => ({ step: step.step, count: step.count, drop_off: step.dropOff, conversion: step.conversion })),
  },
  email: {
    queued: dashboard.email.queued,
    failing: dashboard.email.failing,
    given_up: dashboard.email.givenUp,
    sent: dashboard.email.sent,
    oldest_waiting_since: isoOrNull(dashboard.email.oldestWaitingSince),
  },
  active_sessions: dashboard.activeSessions,
});

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
