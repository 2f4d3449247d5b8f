// The broker's records, as every room sees them: what the store keeps and
// the services pass around, with no behaviour and no storage of their own.
// Times are epoch milliseconds.

export type Portal = 'partnersource' | 'customersource';
export type ClientPortal = Portal | 'both';
export const portals: readonly Portal[] = ['partnersource', 'customersource'];
export const clientPortals: readonly ClientPortal[] = ['partnersource', 'customersource', 'both'];

export interface ClientRecord {
  id: string;
  /** oidc-provider client metadata (redirect_uris, grant_types, …) without the secret. */
  metadata: Record<string, unknown>;
  portal: ClientPortal;
  firstParty: boolean;
  /** Hash of the client secret (see src/secrets.ts); undefined for public clients. */
  secretHash: string | undefined;
  /** When an admin disabled the client; the provider then refuses it. */
  disabledAt?: number | undefined;
  createdAt: number;
  updatedAt: number;
}

export interface ProfileRecord {
  /** The MBS profile id. */
  id: string;
  portal: Portal;
  /** Normalised (trimmed, lower-case) email registered for the profile. */
  email: string;
  displayName: string;
  organization: string;
  roles: string[];
  createdAt: number;
  updatedAt: number;
}

export type ProfileInput = Pick<ProfileRecord, 'id' | 'portal' | 'email' | 'displayName' | 'organization' | 'roles'>;

export interface AccountRecord {
  id: string;
  /** The MBS email this account proved it controls; never the upstream's email claim. */
  email: string | undefined;
  emailVerified: boolean;
  name: string | undefined;
  createdAt: number;
  updatedAt: number;
}

export interface UpstreamIdentityRecord {
  id: string;
  accountId: string;
  /** The configured upstream it last signed in through; undefined for identities from before several upstreams (the first configured). */
  upstreamId: string | undefined;
  issuer: string;
  subject: string;
  /** The upstream's email claim: a hint for display, never a key. */
  emailHint: string | undefined;
  nameHint: string | undefined;
  createdAt: number;
  lastSignInAt: number | undefined;
}

export type BindingMethod = 'association' | 'admin';

export interface ProfileBindingRecord {
  profileId: string;
  accountId: string;
  identityId: string | undefined;
  method: BindingMethod;
  createdAt: number;
}

export interface BoundProfile extends ProfileRecord {
  binding: ProfileBindingRecord;
}

/** The profile an account acts as at a portal (the profile picker's choice). */
export interface ProfileChoiceRecord {
  accountId: string;
  /** The asking client's portal value; a client of both portals has its own choice. */
  portal: ClientPortal;
  profileId: string;
  chosenAt: number;
}

/**
 * Per client: `ask` (the default) has a person with several profiles of the
 * portal choose one, carried in `mbs_profile`; `all` gives the list alone.
 */
export type ProfileSelection = 'ask' | 'all';
export const profileSelections: readonly ProfileSelection[] = ['ask', 'all'];

/**
 * Per client (OpenID Connect Core §8): `public` (the default) gives every
 * client the broker account id as `sub`; `pairwise` gives one `sub` per
 * portal, so clients of different portals cannot correlate a person.
 */
export type SubjectType = 'public' | 'pairwise';
export const subjectTypes: readonly SubjectType[] = ['public', 'pairwise'];

/**
 * The FAPI profile a client is held to (client metadata `fapi_profile`):
 * `2.0`, the FAPI 2.0 Security Profile (README, "FAPI 2.0 clients").
 */
export type FapiProfile = '2.0';
export const fapiProfiles: readonly FapiProfile[] = ['2.0'];

export type AuditOutcome = 'success' | 'failure';

export interface AuditEventInput {
  type: string;
  outcome: AuditOutcome;
  actor?: string | undefined;
  accountId?: string | undefined;
  profileId?: string | undefined;
  clientId?: string | undefined;
  ip?: string | undefined;
  details?: Record<string, unknown> | undefined;
}

export interface AuditEventRecord extends AuditEventInput {
  id: number;
  occurredAt: number;
}

export type SigningKeyStatus = 'active' | 'retired';

export interface SigningKeyRecord {
  kid: string;
  alg: string;
  status: SigningKeyStatus;
  publicJwk: Record<string, unknown>;
  /** As stored: sealed under KEY_ENCRYPTION_KEY (a JWK JSON string only from versions before sealing). */
  privateJwk: string;
  createdAt: number;
  retiredAt: number | undefined;
}

export interface CookieKeyRecord {
  id: number;
  /** As stored: sealed under KEY_ENCRYPTION_KEY (in clear only from versions before sealing). */
  secret: string;
  createdAt: number;
}

/** sign_in: a portal's sign-in; link: an association link's re-authentication; add_identity: the account page adding a sign-in method. */
export type UpstreamTransactionPurpose = 'sign_in' | 'link' | 'add_identity';

export interface UpstreamTransactionRecord {
  state: string;
  purpose: UpstreamTransactionPurpose;
  interactionUid: string | undefined;
  codeVerifier: string;
  nonce: string;
  context: Record<string, unknown>;
  createdAt: number;
  expiresAt: number;
}

export interface Page<Item> {
  items: Item[];
  total: number;
}

export interface PageRequest {
  limit?: number;
  offset?: number;
}

/** See src/flows/associationFlow.mermaid for the transitions. */
export type AssociationFlowState = 'email_requested' | 'links_sent' | 'bound' | 'expired' | 'cancelled';

export interface AssociationFlowRecord {
  id: string;
  state: AssociationFlowState;
  interactionUid: string | undefined;
  clientId: string | undefined;
  /** The upstream identity that asked; only it may confirm the links. */
  issuer: string;
  subject: string;
  /** The configured upstream it signed in through, where its links re-authenticate (undefined: the first configured). */
  upstreamId: string | undefined;
  /** The normalised MBS email typed at step 4. */
  email: string | undefined;
  createdAt: number;
  updatedAt: number;
  expiresAt: number;
}

export interface LinkRequestRecord {
  id: string;
  /** SHA-256 of the link token; the token itself is never stored. */
  tokenHash: string;
  flowId: string | undefined;
  profileId: string;
  /** The requesting upstream identity (issuer + subject, CVE-2026-9087). */
  issuer: string;
  subject: string;
  /** The configured upstream the requester signed in through; the confirmation re-authenticates there (undefined: the first configured). */
  upstreamId: string | undefined;
  interactionUid: string | undefined;
  createdAt: number;
  expiresAt: number;
  consumedAt: number | undefined;
}

/** What an admin may do: `admin` everything; `support` people, bindings and emails (no clients, no keys); `auditor` read only. */
export type AdminRole = 'admin' | 'support' | 'auditor';
export const adminRoles: readonly AdminRole[] = ['admin', 'support', 'auditor'];

export interface AdminRoleRecord {
  accountId: string;
  role: AdminRole;
  /** Who granted it (an acting admin's account id, or the surface: 'cli', 'demo'). */
  grantedBy: string | undefined;
  grantedAt: number;
}

export interface AdminInvitationRecord {
  id: string;
  /** SHA-256 of the invitation token; the token itself is never stored. */
  tokenHash: string;
  /** Normalised address the invitation was sent to. */
  email: string;
  role: AdminRole;
  invitedBy: string | undefined;
  createdAt: number;
  expiresAt: number;
  acceptedAt: number | undefined;
  /** The account that accepted it. */
  acceptedBy: string | undefined;
}

export interface AdminTokenRecord {
  id: string;
  /** SHA-256 of the bearer token; the token itself is shown once and never stored. */
  tokenHash: string;
  role: AdminRole;
  label: string | undefined;
  issuedBy: string | undefined;
  createdAt: number;
  revokedAt: number | undefined;
}

/** How an API's access tokens look: a JWT it verifies itself (RFC 9068), or an opaque value it introspects. */
export type AccessTokenFormat = 'jwt' | 'opaque';
export const accessTokenFormats: readonly AccessTokenFormat[] = ['jwt', 'opaque'];

/** An API registered as a resource server (RFC 8707): portals ask for tokens meant for it alone. */
export interface ResourceServerRecord {
  /** An absolute URI without a fragment: the `resource` value clients send and the tokens' `aud`. */
  identifier: string;
  name: string;
  /** The scopes the API accepts; a token for it carries only these. */
  scopes: string[];
  tokenFormat: AccessTokenFormat;
  /** Seconds an access token for the API lives. */
  accessTokenTtl: number;
  /**
   * Clients that may get tokens for the API without a person's sign-in:
   * client credentials, and exchanging a person's token (RFC 8693).
   */
  allowedClients: string[];
  createdAt: number;
  updatedAt: number;
}
