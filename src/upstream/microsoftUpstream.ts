// The two Microsoft presets. Personal accounts (`microsoft`): the consumers
// issuer, whose discovery document announces the personal-accounts tenant's
// own issuer. Work or school accounts (`microsoft-work`, Entra ID
// multi-tenant): the organizations (or common) issuer, whose document
// announces the `{tenantid}` template that openid-client resolves from each
// ID token's `tid` (its special handling of https://login.microsoftonline.com).
// Beyond openid-client's checks we check ourselves that `iss` carries the
// token's own `tid`, and that the tenant is the personal-accounts one
// (`microsoft`) or on the configured allow-list (`microsoft-work`).
import { BrokerError, invalidConfiguration } from '../errors.ts';
import { OidcUpstream, type IdTokenClaims, type UpstreamFetch } from './oidcUpstream.ts';
import type { UpstreamName } from './upstream.ts';

export const microsoftLoginOrigin = 'https://login.microsoftonline.com';
export const microsoftConsumersIssuer = `${microsoftLoginOrigin}/consumers/v2.0`;
export const microsoftOrganizationsIssuer = `${microsoftLoginOrigin}/organizations/v2.0`;
export const personalAccountsTenant = '9188040d-6c67-4c5b-b112-36a304b66dad';

const unverified = (detail: string) =>
  new BrokerError('upstream_error', 'error.upstream_unverified', { detail });

/** The ID token's `iss` must be the v2.0 issuer of its own `tid` on the login host `base`. */
function verifyIssuerCarriesTenant(claims: IdTokenClaims, tenant: string, base: string): void {
  if (claims.iss !== `${base}/${tenant}/v2.0`) throw unverified(`iss ${claims.iss} does not carry tid ${tenant}`);
}

/** Accepts only ID tokens of personal Microsoft accounts. `base` is the login host (tests use a local one). */
export function verifyPersonalMicrosoftAccount(claims: IdTokenClaims, base = microsoftLoginOrigin): void {
  const tenant = claims.tid;
  if (tenant !== personalAccountsTenant) {
    throw new BrokerError('upstream_error', 'error.upstream_work_account', { detail: `tid ${String(tenant)}` });
  }
  verifyIssuerCarriesTenant(claims, tenant, base);
}

/** Accepts only ID tokens of an allowed tenant (compared case-insensitively, as GUIDs are), whose `iss` carries that tenant. */
export function verifyAllowedTenant(claims: IdTokenClaims, allowedTenants: readonly string[], base = microsoftLoginOrigin): void {
  const tenant = claims.tid;
  if (typeof tenant !== 'string' || !/^[0-9a-f-]{36}$/i.test(tenant)) throw unverified(`tid ${String(tenant)} is not a tenant id`);
  if (!allowedTenants.some((allowed) => allowed.toLowerCase() === tenant.toLowerCase())) {
    // A refusal (403), not an upstream failure: the account is fine, its organization is not let in.
    throw new BrokerError('forbidden', 'error.upstream_tenant_not_allowed', { detail: `tenant ${tenant} is not allowed` });
  }
  verifyIssuerCarriesTenant(claims, tenant, base);
}

export interface MicrosoftUpstreamOptions {
  id?: string | undefined;
  /** Defaults to the preset's name in the catalogue. */
  name?: UpstreamName | undefined;
  clientId: string;
  clientSecret: string | undefined;
  /** Defaults to the preset's issuer; a test may point it at a local imitation. */
  issuer?: string | undefined;
  domains?: readonly string[] | undefined;
  signUpUrl?: string | undefined;
  passwordResetUrl?: string | undefined;
  fetch?: UpstreamFetch | undefined;
}

/** What both presets share: Microsoft's login host, its pages, domain_hint forwarded, a claims check tied to the issuer's origin. */
interface MicrosoftPreset {
  kind: 'microsoft' | 'microsoft-work';
  issuer: string;
  nameKey: string;
  signUpUrl: string | undefined;
  passwordResetUrl: string;
  verifyClaims(claims: IdTokenClaims, base: string): void;
}

function createPresetUpstream(options: MicrosoftUpstreamOptions, preset: MicrosoftPreset): OidcUpstream {
  const issuer = options.issuer ?? preset.issuer;
  const base = new URL(issuer).origin;
  return new OidcUpstream({
    id: options.id ?? preset.kind,
    kind: preset.kind,
    name: options.name ?? { key: preset.nameKey },
    domains: options.domains,
    issuer,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    signUpUrl: options.signUpUrl ?? preset.signUpUrl,
    passwordResetUrl: options.passwordResetUrl ?? preset.passwordResetUrl,
    forwardDomainHint: true,
    verifyClaims: (claims) => preset.verifyClaims(claims, base),
    fetch: options.fetch,
  });
}

/** Microsoft personal accounts (`/consumers/v2.0`). */
export function createMicrosoftUpstream(options: MicrosoftUpstreamOptions): OidcUpstream {
  return createPresetUpstream(options, {
    kind: 'microsoft',
    issuer: microsoftConsumersIssuer,
    nameKey: 'upstream.microsoft',
    signUpUrl: 'https://signup.live.com/',
    passwordResetUrl: 'https://account.live.com/password/reset',
    verifyClaims: verifyPersonalMicrosoftAccount,
  });
}

export interface MicrosoftWorkUpstreamOptions extends MicrosoftUpstreamOptions {
  /** The Entra ID tenants (directory ids) whose accounts may sign in. */
  tenants: readonly string[];
}

/** Microsoft work or school accounts (`/organizations/v2.0` or `/common/v2.0`), limited to the allowed tenants. */
export function createMicrosoftWorkUpstream(options: MicrosoftWorkUpstreamOptions): OidcUpstream {
  const tenants = [...options.tenants];
  if (tenants.length === 0) throw invalidConfiguration('error.configuration.upstream_tenants_required');
  return createPresetUpstream(options, {
    kind: 'microsoft-work',
    issuer: microsoftOrganizationsIssuer,
    nameKey: 'upstream.microsoft_work',
    // Work accounts are created and reset by each organization's administrators.
    signUpUrl: undefined,
    passwordResetUrl: 'https://passwordreset.microsoftonline.com/',
    verifyClaims: (claims, base) => verifyAllowedTenant(claims, tenants, base),
  });
}
