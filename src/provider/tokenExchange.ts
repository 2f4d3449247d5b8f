// OAuth 2.0 Token Exchange (RFC 8693) at the token endpoint: a portal's
// backend (a confidential client the API allows) trades the access token of
// a person signed in to the portal for a token meant for one registered API,
// audience-restricted, that says who acts for the person
// (`act: { sub: <client id> }`, §4.1). The subject token must be active and
// issued to the exchanging client or to another client of the same portal
// (its single-page app, say). The new token is bound to no grant: it lives
// the API's lifetime, never longer than the subject token.
import type Provider from 'oidc-provider';
import { errors, type Grant, type TokenEndpointGrantContext } from 'oidc-provider';
import type { ResourceServerRecord } from '../domain/records.ts';
import { clientPortal } from '../directory/portals.ts';
import { registeredApi, resourceServerInfo, type ResourceServerRegistry } from './resourceServers.ts';

export const tokenExchangeGrantType = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const accessTokenType = 'urn:ietf:params:oauth:token-type:access_token';

interface ExchangeParameters {
  subject_token?: string;
  subject_token_type?: string;
  resource?: string;
  audience?: string;
  requested_token_type?: string;
  actor_token?: string;
  actor_token_type?: string;
}

type ExchangeContext = TokenEndpointGrantContext<ExchangeParameters>;
type AccessToken = InstanceType<Provider['AccessToken']>;

const exchangeParameters = ['subject_token', 'subject_token_type', 'resource', 'audience', 'scope', 'requested_token_type', 'actor_token', 'actor_token_type'];

/** Registers the grant type; discovery's grant_types_supported then lists it. */
export function registerTokenExchange(provider: Provider, registry: ResourceServerRegistry): void {
  provider.registerGrantType<ExchangeParameters>(tokenExchangeGrantType, (ctx) => exchangeToken(ctx, registry), exchangeParameters);
}

/** The actor claim of an exchanged token (RFC 8693 §4.1): the client acting for the person. */
export const actorClaims = (token: { gty?: string | undefined; clientId?: string | undefined }): Record<string, unknown> =>
  token.gty === tokenExchangeGrantType ? { act: { sub: token.clientId } } : {};

async function exchangeToken(ctx: ExchangeContext, registry: ResourceServerRegistry): Promise<void> {
  const { params, client, provider } = ctx.oidc;
  const target = exchangeTarget(params);
  const api = await registeredApi(registry, target);
  // A public client proves nothing about itself: the actor of a delegation must authenticate.
  if (client.clientAuthMethod === 'none' || !api.allowedClients.includes(client.clientId)) throw new errors.UnauthorizedClient('the client may not exchange tokens for this API');
  const { subject, grant } = await activeSubjectToken(ctx, params.subject_token!);
  const scope = exchangedScope(params.scope, api, subject, grant);
  // No grantId: the token is the exchanging client's, while the grant may be another client's of the portal.
  const properties = { client, accountId: subject.accountId!, gty: tokenExchangeGrantType, ...(scope ? { scope } : {}), expiresIn: Math.max(1, Math.min(api.accessTokenTtl, subject.remainingTTL)) };
  const token = new provider.AccessToken(properties as unknown as ConstructorParameters<Provider['AccessToken']>[0]);
  token.resourceServer = new provider.ResourceServer(api.identifier, resourceServerInfo(api));
  // The person's grant tells the token's claims (profiles) whether it has mbs_profiles.
  ctx.oidc.entity('Grant', grant);
  ctx.oidc.entity('AccessToken', token);
  const value = await token.save();
  ctx.body = { access_token: value, issued_token_type: accessTokenType, token_type: 'Bearer', expires_in: token.expiration, ...(scope ? { scope } : {}) };
}

/** Checks the request's parameters (RFC 8693 §2.1) and returns the API it names. */
function exchangeTarget(params: ExchangeContext['oidc']['params']): string {
  for (const name of ['subject_token', 'subject_token_type'] as const) {
    if (!params[name]) throw new errors.InvalidRequest(`missing required parameter '${name}'`);
  }
  if (params.subject_token_type !== accessTokenType) throw new errors.InvalidRequest(`subject_token_type must be ${accessTokenType}`);
  if (params.requested_token_type !== undefined && params.requested_token_type !== accessTokenType) throw new errors.InvalidRequest(`requested_token_type must be ${accessTokenType}`);
  if (params.actor_token !== undefined || params.actor_token_type !== undefined) throw new errors.InvalidRequest('actor_token is not supported: the authenticated client is the actor');
  const { resource, audience } = params;
  if (typeof resource !== 'string' && resource !== undefined) throw new errors.InvalidTarget('only one resource may be requested');
  if (resource && audience && resource !== audience) throw new errors.InvalidTarget('resource and audience name different APIs');
  const target = resource ?? audience;
  if (!target) throw new errors.InvalidRequest("missing required parameter 'resource' or 'audience'");
  return target;
}

const inactiveSubject = () => new errors.InvalidGrant('subject_token is invalid, expired or revoked');

/**
 * The person's access token, active (found, unexpired, its grant alive) and
 * issued to the exchanging client or another client of its portal.
 */
async function activeSubjectToken(ctx: ExchangeContext, value: string): Promise<{ subject: AccessToken; grant: Grant }> {
  const { provider, client } = ctx.oidc;
  const subject = await provider.AccessToken.find(value);
  if (!subject?.accountId || subject.isExpired || !subject.grantId) throw inactiveSubject();
  // A sender-constrained token proves its holder with a key the exchanging client does not present.
  if (subject.isSenderConstrained()) throw new errors.InvalidGrant('a sender-constrained subject_token cannot be exchanged');
  const grant = await provider.Grant.find(subject.grantId);
  if (!grant || grant.isExpired || grant.accountId !== subject.accountId || grant.clientId !== subject.clientId) throw inactiveSubject();
  if (subject.clientId !== client.clientId) {
    const issuedTo = await provider.Client.find(subject.clientId!);
    if (!issuedTo || clientPortal(issuedTo) !== clientPortal(client)) throw new errors.InvalidGrant('subject_token was not issued to a client of this portal');
  }
  return { subject, grant };
}

/**
 * The exchanged token's scopes: those asked (all available when none are),
 * each one the API accepts and the person gave: in the subject token, or
 * granted for this API in the person's grant. Anything else: invalid_scope.
 */
function exchangedScope(requested: string | undefined, api: ResourceServerRecord, subject: AccessToken, grant: Grant): string | undefined {
  const granted = new Set([...subject.scopes, ...grant.getResourceScope(api.identifier).split(' ')]);
  const available = api.scopes.filter((scope) => granted.has(scope));
  const asked = requested ? requested.split(' ').filter(Boolean) : available;
  const refused = asked.filter((scope) => !available.includes(scope));
  if (refused.length > 0) throw new errors.InvalidScope('requested scope is not granted for this API', refused.join(' '));
  return asked.join(' ') || undefined;
}
