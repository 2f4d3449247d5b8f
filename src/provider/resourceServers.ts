// The portals' APIs as resource servers (RFC 8707), backed by the registry
// of src/store/resourceServerRepository.ts: a `resource` names a registered
// API or is refused as invalid_target; a token for it is audience-restricted
// and, by default, a JWT access token (RFC 9068) signed with the broker's
// keys, carrying the person's profiles of the asking portal. JWT access
// tokens are recorded as opaque ones are and found by their value, so
// introspection, revocation and token exchange answer for them too.
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type Provider from 'oidc-provider';
import { errors, type Configuration, type KoaContextWithOIDC, type ResourceServer } from 'oidc-provider';
import { compactVerify, createLocalJWKSet, decodeJwt, type JWK } from 'jose';
import type { ProfileRecord, ResourceServerRecord } from '../domain/records.ts';
import { rethrowForProvider } from '../store/oidcAdapter.ts';
import { profileChoiceSituation, type ProfileChoiceStores } from './profileChoice.ts';

/** Where the provider reads the registered APIs. */
export interface ResourceServerRegistry {
  find(identifier: string): Promise<ResourceServerRecord | undefined>;
}

type ResourceIndicators = NonNullable<NonNullable<Configuration['features']>['resourceIndicators']>;
type AccessTokenLike = Parameters<NonNullable<Configuration['extraTokenClaims']>>[1];

/** The registered API named by `identifier`; invalid_target when there is none (RFC 8707 §2). */
export async function registeredApi(registry: ResourceServerRegistry, identifier: string): Promise<ResourceServerRecord> {
  const api = await registry.find(identifier).catch(rethrowForProvider);
  if (!api) throw new errors.InvalidTarget('the resource is not a registered API');
  return api;
}

/** What oidc-provider needs to issue a token for `api`: its scopes, audience, lifetime and format (JWTs signed RS256). */
export function resourceServerInfo(api: ResourceServerRecord): ResourceServer {
  return {
    scope: api.scopes.join(' '),
    audience: api.identifier,
    accessTokenTTL: api.accessTokenTtl,
    accessTokenFormat: api.tokenFormat,
    ...(api.tokenFormat === 'jwt' ? { jwt: { sign: { alg: 'RS256' as const } } } : {}),
  };
}

/**
 * Resource indicators over the registry. A person's grant (authorization
 * code, refresh token) may name any registered API: the person consents to
 * its scopes (first-party portals consent for them). Without a person,
 * by client credentials, only the API's allowed clients get tokens for it.
 * At the token endpoint the portal names the API again with `resource`
 * (RFC 8707 §2.2) to get its token; without it, a grant with `openid` gives
 * the userinfo token as before (oidc-provider's `useGrantedResource`
 * default), so one sign-in serves both, and a grant without `openid` gives
 * the token of its only API. A grant for several APIs must say which.
 */
export function resourceIndicators(registry: ResourceServerRegistry): ResourceIndicators {
  return {
    enabled: true,
    defaultResource: async (_ctx, _client, oneOf) => (oneOf?.length === 1 ? oneOf[0] : oneOf),
    useGrantedResource: async () => false,
    async getResourceServerInfo(ctx, identifier, client) {
      const api = await registeredApi(registry, identifier);
      const withoutPerson = ctx.oidc.route === 'token' && ctx.oidc.params?.grant_type === 'client_credentials';
      if (withoutPerson && !api.allowedClients.includes(client.clientId)) throw new errors.UnauthorizedClient('the client may not get tokens for this API without a person');
      return resourceServerInfo(api);
    },
  };
}

/** An access token's lifetime: the API's for a token meant for one, else the broker's (`fallback` seconds). */
export const accessTokenLifetime =
  (fallback: number) =>
  (_ctx: KoaContextWithOIDC, token: { resourceServer?: { accessTokenTTL?: number | undefined } | undefined }): number =>
    token.resourceServer?.accessTokenTTL ?? fallback;

/** The profile claims of a token for an API: string-valued, so an API checks them one value at a time. */
export type ApiProfileClaims = (profiles: readonly ProfileRecord[]) => { mbs_profile_ids: unknown[]; mbs_roles: unknown[] };

/**
 * The claims a token for an API carries besides RFC 9068's: when the
 * person's grant has the `mbs_profiles` scope, the ids and the qualified
 * roles of their profiles of the asking client's portal, and the profile
 * the sign-in acts as (`mbs_profile_id`) when one is chosen. Tokens without
 * an audience (userinfo's) and without a person carry nothing more.
 */
export function apiTokenClaims(stores: ProfileChoiceStores, claimsOf: ApiProfileClaims) {
  return async (ctx: KoaContextWithOIDC, token: AccessTokenLike): Promise<Record<string, unknown> | undefined> => {
    if (token.kind !== 'AccessToken' || !token.aud || !token.accountId) return undefined;
    const grant = ctx.oidc.entities.Grant ?? (token.grantId ? await ctx.oidc.provider.Grant.find(token.grantId) : undefined);
    if (!grant?.getOIDCScope().split(' ').includes('mbs_profiles')) return undefined;
    const situation = await profileChoiceSituation(stores, token.accountId, ctx.oidc.client).catch(rethrowForProvider);
    const { mbs_profile_ids, mbs_roles } = claimsOf(situation.profiles);
    return { mbs_profile_ids, mbs_roles, ...(situation.chosen ? { mbs_profile_id: situation.chosen.id } : {}) };
  };
}

const looksLikeJwt = (value: unknown): value is string => typeof value === 'string' && value.split('.').length === 3;

/** A JWK without its private members, for verifying. */
function publicPart(jwk: JWK): JWK {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, oth: _oth, k: _k, ...publicMembers } = jwk;
  return publicMembers;
}

/** The `jti` of a JWT access token this broker signed (its keys, its issuer, `typ: at+jwt`); undefined for anything else. */
function jtiReader(provider: Provider, jwks: { keys: JWK[] }): (value: string) => Promise<string | undefined> {
  const keySet = createLocalJWKSet({ keys: jwks.keys.map(publicPart) });
  return async (value) => {
    try {
      const { payload, protectedHeader } = await compactVerify(value, keySet);
      const claims = JSON.parse(new TextDecoder().decode(payload)) as { iss?: unknown; jti?: unknown };
      return protectedHeader.typ === 'at+jwt' && claims.iss === provider.issuer && typeof claims.jti === 'string' ? claims.jti : undefined;
    } catch {
      return undefined;
    }
  };
}

interface TokenModel {
  readonly IN_PAYLOAD: readonly string[];
  find(value: unknown, options?: object): Promise<unknown>;
  prototype: { getValueAndPayload(this: Record<string, unknown>): Promise<{ value: string; payload?: Record<string, unknown> }> };
}

/**
 * oidc-provider keeps no record of a JWT access token (it lives by its
 * signature alone), finds tokens only by their stored id, and its
 * introspection and revocation endpoints refuse JWTs outright
 * (unsupported_token_type). So that a portal can introspect and revoke the
 * JWTs it holds, and exchange them, and so that ending a grant or a
 * person's sessions ends them too, each JWT access token is stored as an
 * opaque one is, under its `jti`; a JWT this broker signed is looked up by
 * its `jti` (token lookups translate it, and the two endpoints see the `jti`
 * in place of the JWT). Every check on the stored token (expiry,
 * revocation, session binding, the client's own token) applies as for an
 * opaque one. An API that verifies the JWT itself sees a revocation only
 * when the token expires: hence the APIs' short lifetimes.
 */
export function keepJwtAccessTokens(provider: Provider, jwks: { keys: JWK[] }): void {
  const jtiOf = jtiReader(provider, jwks);
  for (const model of [provider.AccessToken, provider.ClientCredentials] as unknown as TokenModel[]) {
    const issue = model.prototype.getValueAndPayload;
    model.prototype.getValueAndPayload = async function storedAsWell() {
      const issued = await issue.call(this);
      if (issued.payload || !looksLikeJwt(issued.value)) return issued;
      const { iat, exp } = decodeJwt(issued.value);
      const payload = Object.fromEntries(model.IN_PAYLOAD.filter((key) => this[key] !== undefined).map((key) => [key, this[key]]));
      return { value: issued.value, payload: { ...payload, iat, exp } };
    };
    const find = model.find.bind(model);
    model.find = async (value, options) => {
      if (!looksLikeJwt(value)) return find(value, options);
      const jti = await jtiOf(value);
      return jti ? find(jti, options) : undefined;
    };
  }
  const paths = new Set([provider.pathFor('introspection'), provider.pathFor('revocation')]);
  provider.use(async (ctx, next) => {
    if (ctx.method === 'POST' && paths.has(ctx.path) && ctx.is('application/x-www-form-urlencoded')) await replaceJwtByJti(ctx.req, jtiOf);
    await next();
  });
}

/** oidc-provider's own limit on a request body. */
const bodyLimit = 56 * 1024;

/**
 * Reads the form, puts the `jti` in place of a JWT `token`, and hands
 * oidc-provider's body parser the rewritten form as if unread (its parser
 * reads `req` itself and warns about a body parsed before it).
 */
async function replaceJwtByJti(request: IncomingMessage, jtiOf: (value: string) => Promise<string | undefined>): Promise<void> {
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    received += chunk.length;
    chunks.push(chunk);
    if (received > bodyLimit) break;
  }
  const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
  const token = form.get('token');
  const jti = received <= bodyLimit && looksLikeJwt(token) ? await jtiOf(token) : undefined;
  if (jti) form.set('token', jti);
  // A body over the limit goes on as read, still over it: the parser refuses it as invalid_request.
  const body = jti ? Buffer.from(form.toString()) : Buffer.concat(chunks);
  const replay = Readable.from([body]);
  if (received <= bodyLimit) request.headers['content-length'] = String(body.length);
  Object.defineProperty(request, 'readable', { value: true, configurable: true });
  Object.defineProperty(request, 'iterator', { value: replay.iterator.bind(replay), configurable: true });
}
