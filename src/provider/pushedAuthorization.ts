// Pushed authorization requests (RFC 9126): a client posts its authorization
// parameters to /request, authenticated, and sends the browser to /auth with
// only its client_id and the request_uri it got back. The pushed request is
// an oidc-provider record in the store (oidc_payloads), so it may be pushed
// at one broker instance and used at another; it is consumed when the
// authorization answers with a code or an error, and expires after
// `pushedAuthorizationRequestLifetimeSeconds`.
import type { Configuration } from 'oidc-provider';

/**
 * How long a request_uri lives: oidc-provider's fixed 60 seconds, the value
 * of RFC 9126's example and well under FAPI 2.0's "less than 600 seconds".
 * A client may ask for less with a signed request object's `exp`.
 */
export const pushedAuthorizationRequestLifetimeSeconds = 60;

/**
 * oidc-provider's PAR endpoint, open to every client; a client registered
 * with `require_pushed_authorization_requests` (and every FAPI 2.0 client)
 * gets invalid_request for a plain authorization request. A pushed request
 * names one of the client's registered redirect URIs, as any other does.
 */
export const pushedAuthorizationFeature: NonNullable<NonNullable<Configuration['features']>['pushedAuthorizationRequests']> = {
  enabled: true,
  requirePushedAuthorizationRequests: false,
  allowUnregisteredRedirectUris: false,
};
