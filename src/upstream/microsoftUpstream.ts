// The Microsoft account preset: personal accounts only. openid-client's Entra
// handling accepts the consumers issuer; we check ourselves that `tid` is the
// personal-accounts tenant and that `iss` carries that tenant.
import { BrokerError } from '../errors.ts';
import { OidcUpstream, type IdTokenClaims } from './oidcUpstream.ts';

export const microsoftConsumersIssuer = 'https://login.microsoftonline.com/consumers/v2.0';
export const personalAccountsTenant = '9188040d-6c67-4c5b-b112-36a304b66dad';

/** Accepts only ID tokens of personal Microsoft accounts. `base` is the login host (tests use a local one). */
export function verifyPersonalMicrosoftAccount(claims: IdTokenClaims, base = 'https://login.microsoftonline.com'): void {
  const tenant = claims.tid;
  if (tenant !== personalAccountsTenant) {
    throw new BrokerError('upstream_error', 'error.upstream_work_account', { detail: `tid ${String(tenant)}` });
  }
  if (claims.iss !== `${base}/${tenant}/v2.0`) {
    throw new BrokerError('upstream_error', 'error.upstream_unverified', { detail: `iss ${claims.iss} does not carry tid ${tenant}` });
  }
}

export interface MicrosoftUpstreamOptions {
  clientId: string;
  clientSecret: string | undefined;
  /** Defaults to the consumers issuer; a test points it at a local imitation. */
  issuer?: string | undefined;
  signUpUrl?: string | undefined;
  passwordResetUrl?: string | undefined;
}

export function createMicrosoftUpstream(options: MicrosoftUpstreamOptions): OidcUpstream {
  const issuer = options.issuer ?? microsoftConsumersIssuer;
  const base = new URL(issuer).origin;
  return new OidcUpstream({
    kind: 'microsoft',
    issuer,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    signUpUrl: options.signUpUrl ?? 'https://signup.live.com/',
    passwordResetUrl: options.passwordResetUrl ?? 'https://account.live.com/password/reset',
    verifyClaims: (claims) => verifyPersonalMicrosoftAccount(claims, base),
  });
}
