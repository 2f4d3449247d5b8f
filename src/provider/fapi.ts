// The FAPI 2.0 Security Profile, per client: a client registered with
// `fapi_profile: '2.0'` gets oidc-provider's FAPI 2.0 behaviour (PKCE with
// S256, the issuer as the only audience of its client assertions, the
// redirect_uri never omitted) and the parts of the profile oidc-provider
// leaves to its deployer: pushed authorization requests and DPoP-bound
// tokens required, private_key_jwt as its only client authentication,
// ID tokens signed with an algorithm the profile allows, and short-lived
// codes and access tokens. Other clients are untouched.
import { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { fapiProfiles, type FapiProfile } from '../domain/records.ts';
import { brokerMetadataMember } from '../directory/portals.ts';

/** The client metadata naming the profile. */
export const fapiProfileMetadata = 'fapi_profile' as const;

/** FAPI 2.0 Security Profile §5.3.2.1: "authorization codes with a maximum lifetime of 60 seconds". */
export const fapiAuthorizationCodeLifetimeSeconds = 60;

/**
 * The profile names no figure for access tokens; sender-constrained ones
 * still should not outlive a short conversation with an API, so a FAPI
 * client's access tokens live at most 5 minutes (less when ACCESS_TOKEN_TTL
 * says less); its refresh token renews them.
 */
export const fapiAccessTokenLifetimeSeconds = 300;

/**
 * FAPI 2.0 §5.4 allows PS256, ES256 and EdDSA (Ed25519) for signatures; the
 * broker holds ES256 and EdDSA keys (its RSA key signs RS256 only), and
 * signs a FAPI client's ID tokens with ES256 unless it asks for EdDSA.
 */
const fapiSigningAlgorithms = ['ES256', 'EdDSA'];

/** The FAPI profile of an oidc-provider Client, read duck-typed; undefined for other clients and none. */
export function clientFapiProfile(client: unknown): FapiProfile | undefined {
  const profile = brokerMetadataMember(client, fapiProfileMetadata);
  return fapiProfiles.find((known) => known === profile);
}

/** oidc-provider's FAPI feature, with the profile each client was registered with. */
export const fapiFeature: NonNullable<NonNullable<Configuration['features']>['fapi']> = {
  enabled: true,
  profile: (_ctx: KoaContextWithOIDC, client: unknown) => clientFapiProfile(client),
};

/**
 * Checks and completes the metadata of a client claiming a FAPI profile, at
 * its registration and each time oidc-provider loads it, so a stored FAPI
 * client can never drift out of the profile: private_key_jwt or nothing
 * (invalid_client_metadata), and PAR and DPoP-bound tokens required whatever
 * the registrant said.
 */
export function completeFapiMetadata(value: unknown, metadata: Record<string, unknown>): void {
  if (value === undefined) return;
  if (!fapiProfiles.includes(value as FapiProfile)) throw new errors.InvalidClientMetadata(`${fapiProfileMetadata} must be ${fapiProfiles.join(' or ')}`);
  if (metadata.token_endpoint_auth_method !== 'private_key_jwt') {
    throw new errors.InvalidClientMetadata('a FAPI 2.0 client must use token_endpoint_auth_method private_key_jwt');
  }
  const assertionAlgorithm = metadata.token_endpoint_auth_signing_alg;
  if (assertionAlgorithm !== undefined && !fapiSigningAlgorithms.includes(String(assertionAlgorithm))) {
    throw new errors.InvalidClientMetadata(`a FAPI 2.0 client's token_endpoint_auth_signing_alg must be ${fapiSigningAlgorithms.join(' or ')}`);
  }
  metadata.require_pushed_authorization_requests = true;
  metadata.dpop_bound_access_tokens = true;
  if (!fapiSigningAlgorithms.includes(String(metadata.id_token_signed_response_alg))) metadata.id_token_signed_response_alg = 'ES256';
}

/** PKCE is required of public clients (they cannot keep a secret) and of FAPI clients (the profile says so). */
export const pkceRequired = (_ctx: KoaContextWithOIDC, client: { clientAuthMethod?: string }): boolean => client.clientAuthMethod === 'none' || clientFapiProfile(client) !== undefined;

/** The access-token lifetime of a client: the configured one, capped for FAPI clients. */
export const accessTokenLifetime =
  (configuredSeconds: number) =>
  (_ctx: KoaContextWithOIDC, _token: unknown, client: unknown): number =>
    clientFapiProfile(client) ? Math.min(configuredSeconds, fapiAccessTokenLifetimeSeconds) : configuredSeconds;
