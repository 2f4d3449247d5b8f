// Pushed authorization requests (RFC 9126): a client posts its authorization
// parameters to /request, authenticated, and sends the browser to /auth with
// only its client_id and the request_uri it got back. The pushed request is
// an oidc-provider record in the store (oidc_payloads), so it may be pushed
// at one broker instance and used at another; it is consumed when the
// authorization answers with a code or an error, and expires after
// `pushedAuthorizationRequestLifetimeSeconds`.
import Provider, { type Configuration } from 'oidc-provider';
import { decodeJwt } from 'jose';

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

/** The client a pushed request came from: its request object's client_id (or issuer, which oidc-provider sets to it). */
function pushingClient(request: unknown): string | undefined {
  if (typeof request !== 'string') return undefined;
  try {
    const claims = decodeJwt(request);
    return typeof claims.client_id === 'string' ? claims.client_id : claims.iss;
  } catch {
    return undefined;
  }
}

interface PushedRequestModel {
  find(id: string, options?: object): Promise<{ request?: unknown } | undefined>;
}

/**
 * A request_uri belongs to the client that pushed it: presented by another
 * client it is as unknown as an invented one, invalid_request_uri (RFC 9101
 * §7, "contains invalid data") instead of oidc-provider's
 * invalid_request_object, whose redirect would tell the other client the
 * request exists.
 */
export function keepPushedRequestsToTheirClient(provider: Provider): void {
  const model = provider.PushedAuthorizationRequest as unknown as PushedRequestModel;
  const find = model.find.bind(model);
  model.find = async (id, options) => {
    const found = await find(id, options);
    const asking = (Provider.ctx as { oidc?: { client?: { clientId: string } } } | undefined)?.oidc?.client?.clientId;
    return found && asking && pushingClient(found.request) !== asking ? undefined : found;
  };
}
