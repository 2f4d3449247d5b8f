// The oidc-provider configuration of the broker: adapter, keys, cookies,
// TTLs, features, claims of the broker account (including the MBS profiles
// of the asking client's portal) and the pages oidc-provider renders itself.
import Provider, { errors, interactionPolicy, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { JWK } from 'jose';
import { verifySecret } from '../secrets.ts';
import { isLoopbackHost } from '../loopback.ts';
import { clientPortals, profileSelections, type ClientPortal, type ClientRecord, type ProfileRecord, type ProfileSelection } from '../domain/records.ts';
import { brandingPortal, clientPortal } from '../directory/portals.ts';
import type { AccountRepository, ProfileBindingRepository, ProfileChoiceRepository } from '../store/store.ts';
import { rethrowForProvider } from '../store/oidcAdapter.ts';
import type { PageRenderer } from '../web/pages.ts';
import { locales, negotiateLocale, type Locale } from '../i18n.ts';
import {
  chosenProfileClaims,
  chosenProfileClaimsOf,
  offersProfileChoice,
  profileChoiceNeeded,
  profileChoicePrompt,
  profileChoiceRequested,
  profileChoiceSituation,
  profileObject,
  type ProfileChoiceStores,
} from './profileChoice.ts';
import { makePortalsTheSectors, pairwiseSubjectConfiguration } from './pairwiseSubjects.ts';
import { accessTokenLifetime as fapiAccessTokenLifetime, completeFapiMetadata, fapiAuthorizationCodeLifetimeSeconds, fapiFeature, fapiProfileMetadata, pkceRequired } from './fapi.ts';
import { keepPushedRequestsToTheirClient, pushedAuthorizationFeature } from './pushedAuthorization.ts';
import { completeDpop, dpopFeature, dpopSigningAlgorithms } from './dpop.ts';
import { accessTokenLifetime as apiAccessTokenLifetime, apiTokenClaims, keepJwtAccessTokens, resourceIndicators, type ResourceServerRegistry } from './resourceServers.ts';
import { actorClaims, registerTokenExchange } from './tokenExchange.ts';

/** Scopes the broker understands; `mbs_profiles` carries the bound MBS profiles. */
export const supportedScopes = ['openid', 'offline_access', 'email', 'profile', 'mbs_profiles'] as const;

export interface ProviderTtls {
  accessToken: number;
  idToken: number;
  refreshToken: number;
  session: number;
  interaction: number;
}

export type AdapterConstructor = NonNullable<Configuration['adapter']>;

export interface ProviderOptions {
  issuer: string;
  adapter: AdapterConstructor;
  jwks: { keys: JWK[] };
  cookieKeys: string[];
  /** The DPoP nonces' secret, the same on every instance (dpopNonceSecret). */
  dpopNonceSecret: Buffer;
  ttl: ProviderTtls;
  accounts: AccountRepository;
  profileBindings: ProfileBindingRepository;
  /** The profile picker's memory per account and portal. */
  profileChoices: ProfileChoiceRepository;
  /**
   * Whether several upstreams are configured: prompt=select_account then
   * means choosing an upstream account again before the profile picker;
   * with one, an account with several profiles of the portal only picks a
   * profile again.
   */
  severalUpstreams: boolean;
  pages: PageRenderer;
  trustProxy: boolean;
  /**
   * Lets the provider's outgoing requests (back-channel logout) reach
   * loopback addresses, which its SSRF protection refuses: for the demo
   * portals and tests on one machine, never in production.
   */
  allowLoopbackRequests?: boolean;
  /** The broker's own clients whose sign-ins need no profile (the admin console, which checks roles). */
  clientsWithoutProfiles?: readonly string[];
  /** The HMAC key of pairwise subjects, the same on every instance (see pairwiseSubjects.ts). */
  pairwiseSubjectSecret: Buffer;
  /** The registered APIs (resource servers): `resource` values, JWT access tokens, token exchange. */
  resourceServers: ResourceServerRegistry;
}

/** What the provider's Client adapter returns for a stored client. */
export function clientMetadata(client: ClientRecord): Record<string, unknown> {
  return {
    ...client.metadata,
    client_id: client.id,
    ...(client.secretHash ? { client_secret: client.secretHash } : {}),
    portal: client.portal,
    first_party: client.firstParty,
  };
}

/** oidc-provider errors a person may see, each with a message in the catalogues. */
const explainedErrors = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_redirect_uri',
  'invalid_request_uri',
  'unauthorized_client',
  'access_denied',
  'invalid_scope',
  'login_required',
  'session_not_found',
  'server_error',
  'temporarily_unavailable',
]);

/** The reader's language for the pages oidc-provider renders itself. */
function readerLocale(ctx: KoaContextWithOIDC): Locale {
  const uiLocales = ctx.oidc?.params?.ui_locales;
  return negotiateLocale({ uiLocales: typeof uiLocales === 'string' ? uiLocales : undefined, acceptLanguage: ctx.get('accept-language') || undefined });
}

/** The registration policy an initial access token for `portal` carries. */
export const registrationPolicy = (portal: ClientPortal): string => `portal:${portal}`;

/**
 * Issues an initial access token for dynamic registration: clients
 * registered with it belong to `portal`. The value is returned once.
 */
export async function issueInitialAccessToken(provider: Provider, portal: ClientPortal, expiresInSeconds: number): Promise<{ token: string; expiresAt: number }> {
  const token = await new provider.InitialAccessToken({ expiresIn: expiresInSeconds, policies: [registrationPolicy(portal)] }).save();
  return { token, expiresAt: Date.now() + expiresInSeconds * 1000 };
}

/**
 * Tells every portal an account is signed in to, through each of its
 * sessions, that those sessions ended (OpenID Connect Back-Channel Logout),
 * as RP-initiated logout does for one session. Returns the notices sent.
 */
export async function notifyBackchannelLogout(provider: Provider, sessions: Array<{ accountId: string; authorizations?: Record<string, { sid?: string }> }>, onError: (error: unknown, clientId: string) => void): Promise<number> {
  let sent = 0;
  await Promise.all(
    sessions.flatMap((session) =>
      Object.entries(session.authorizations ?? {}).map(async ([clientId, authorization]) => {
        const client = await provider.Client.find(clientId);
        const logout = client as unknown as { backchannelLogoutUri?: string; backchannelLogout(sub: string, sid: string | undefined): Promise<unknown> } | undefined;
        if (!logout?.backchannelLogoutUri) return;
        try {
          // The account id, as oidc-provider's own end_session passes it: the
          // logout token's claims turn it into the pairwise sub of a pairwise
          // client (pairwiseSubjects.ts); passing that sub here would hash it twice.
          await logout.backchannelLogout(session.accountId, authorization.sid);
          sent += 1;
        } catch (error) {
          onError(error, clientId);
        }
      }),
    ),
  );
  return sent;
}

/** The claims of the `mbs_profiles` scope. */
export const profileClaims = ['mbs_profiles', 'mbs_profile_ids', 'mbs_roles'] as const;

/**
 * The `mbs_profiles` scope's claims for the bound profiles of the asking
 * portal: `mbs_profiles`, the profiles as objects; `mbs_profile_ids`, their
 * ids; `mbs_roles`, each role qualified by its profile (`PS-1001:admin`).
 * The string arrays survive relying parties that pass claims on as flat
 * strings and match them one value at a time (mod_auth_openidc's
 * `Require claim mbs_profile_ids:PS-1001`), which drop arrays of objects.
 */
export function profileClaimsOf(profiles: readonly ProfileRecord[]): Record<(typeof profileClaims)[number], unknown[]> {
  return {
    mbs_profiles: profiles.map(profileObject),
    mbs_profile_ids: profiles.map((profile) => profile.id),
    mbs_roles: profiles.flatMap((profile) => profile.roles.map((role) => `${profile.id}:${role}`)),
  };
}

/**
 * Which browser origin may call the token, revocation and introspection
 * endpoints (CORS) for a client: only a public client (a single-page app;
 * a confidential client's secret never sits in a browser), and only from the
 * origin of one of its own redirect URIs; userinfo also for a confidential
 * client's pages. Never `*`, never the opaque `null` origin. This is
 * oidc-provider's default policy, stated here so it is ours (the default
 * also prints a notice on stdout at its first use).
 */
function corsOriginAllowed(route: string | undefined, origin: string, client: { clientAuthMethod?: string; redirectUris?: readonly string[] | undefined }): boolean {
  if (origin === 'null') return false;
  if (route !== 'userinfo' && client.clientAuthMethod !== 'none') return false;
  return (client.redirectUris ?? []).some((uri) => URL.parse(uri)?.origin === origin);
}

/**
 * Whether a grant gets a refresh token: with `offline_access` (asked with
 * `prompt=consent`), or for a public client without it. oidc-provider binds
 * a token without `offline_access` to the broker session, so a single-page
 * app's refresh token dies at sign-out or session expiry, and it rotates at
 * each use (oidc-provider's rotation policy for public clients) — renewal by
 * refresh token, since the broker's pages refuse the iframe of a silent renew.
 */
function shouldIssueRefreshToken(client: { clientAuthMethod?: string; grantTypeAllowed(type: string): boolean }, scopes: ReadonlySet<string>): boolean {
  if (!client.grantTypeAllowed('refresh_token')) return false;
  return scopes.has('offline_access') || client.clientAuthMethod === 'none';
}

/** Why the login prompt asks again when the account page or a portal asks to associate another profile. */
export const associationRequested = 'association_requested';

/**
 * The authorization parameter through which a portal (or the account page)
 * asks the broker to add a profile, in the spirit of Keycloak's `kc_action`:
 * `mbs_action=associate_profile`. Any client may send it; another value is
 * refused as invalid_request, so a typo never passes as a plain sign-in.
 */
export const actionParameter = 'mbs_action';
export const associateProfileAction = 'associate_profile';

/** Whether the authorization request asks to associate another profile. */
export const isAssociationRequest = (params: Readonly<Record<string, unknown>> | undefined): boolean => params?.[actionParameter] === associateProfileAction;

/** What the portal gets when a requested association ends without a new profile of it (see README, "Adding a profile from a portal"). */
export const associationFailedError = 'association_failed';

/** Why the login prompt asks again when the portal asked for an account switch (prompt=select_account). */
export const accountSelectionRequested = 'account_selection_requested';

/** Why the login prompt asks again when a signed-in account has no profile of the asking portal. */
export const noProfileForPortal = 'no_profile_for_portal';

/** Whether the request asks for the profiles (the `mbs_profiles` scope): only then is there a profile to pick. */
const asksForProfiles = (ctx: KoaContextWithOIDC): boolean => Boolean(ctx.oidc.client) && String(ctx.oidc.params?.scope ?? '').split(' ').includes('mbs_profiles');

/**
 * oidc-provider's default prompts, with one more login check: a broker
 * session is not enough for a portal the account has no profile of (SSO
 * from CustomerSource must not hand PartnerSource an account without a
 * PartnerSource profile); the sign-in interaction then offers the portal-fit
 * page instead of a code.
 */
function signInPolicy(stores: ProfileChoiceStores, severalUpstreams: boolean, clientsWithoutProfiles: readonly string[]): ReturnType<typeof interactionPolicy.base> {
  const { profileBindings } = stores;
  const policy = interactionPolicy.base();
  policy.get('login')!.checks.add(
    new interactionPolicy.Check(noProfileForPortal, 'the account has no profile of the asking portal', async (ctx) => {
      const accountId = ctx.oidc.session?.accountId;
      if (!accountId || !ctx.oidc.client || clientsWithoutProfiles.includes(ctx.oidc.client.clientId)) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      const portal = clientPortal(ctx.oidc.client);
      const profiles = await profileBindings.listProfilesByAccount(accountId, portal === 'both' ? undefined : portal);
      return profiles.length === 0 ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
    }),
  );
  // "Associate another profile" (mbs_action=associate_profile, from the
  // account page or a portal): a signed-in account is not passed through but
  // goes to the association flow when the request arrives, and not again
  // once an interaction of this request has finished (its login, or the
  // consent that follows it).
  policy.get('login')!.checks.add(
    new interactionPolicy.Check(associationRequested, 'the account asked to associate another profile', async (ctx) =>
      isAssociationRequest(ctx.oidc.params) && ctx.oidc.session?.accountId && !ctx.oidc.result ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT,
    ),
  );
  // prompt=select_account: the portal wants the person to be able to switch
  // accounts, so even a signed-in account signs in upstream again, with
  // prompt=select_account passed on (Microsoft then shows its account picker).
  // Asked when the request arrives, not again once an interaction of this
  // request has finished (its login, or the consent that follows it). A
  // requestable select_account prompt with no checks of its own makes the
  // value accepted without ever being an interaction of its own.
  // With one upstream and several profiles of the portal to pick from, the
  // account switch the portal asks for is a profile switch: the picker
  // below, without a round trip upstream.
  policy.get('login')!.checks.add(
    new interactionPolicy.Check(accountSelectionRequested, 'the portal asked to select an account', async (ctx) => {
      const accountId = ctx.oidc.session?.accountId;
      if (!ctx.oidc.prompts.has('select_account') || !accountId || ctx.oidc.result) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      if (!severalUpstreams && asksForProfiles(ctx) && offersProfileChoice(await profileChoiceSituation(stores, accountId, ctx.oidc.client))) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      return interactionPolicy.Check.REQUEST_PROMPT;
    }),
  );
  const accountSelection = new interactionPolicy.Prompt({ name: 'select_account', requestable: true });
  accountSelection.checks.clear();
  policy.add(accountSelection, 1);
  // The profile picker, once the account is known and before consent: when
  // the account has several profiles of the portal and no choice in force,
  // or the portal asked with prompt=select_account and this request has not
  // picked yet: the request has just arrived (no interaction result) or its
  // last interaction was the sign-in. Each interaction's result replaces the
  // one before, so after the pick a consent's result must not ask again.
  const profileChoice = new interactionPolicy.Prompt(
    { name: profileChoicePrompt, requestable: false },
    new interactionPolicy.Check(profileChoiceNeeded, 'the account has several profiles of the portal and none chosen', async (ctx) => {
      const accountId = ctx.oidc.session?.accountId;
      if (!accountId || !asksForProfiles(ctx)) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      const situation = await profileChoiceSituation(stores, accountId, ctx.oidc.client);
      return offersProfileChoice(situation) && !situation.chosen ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
    }),
    new interactionPolicy.Check(profileChoiceRequested, 'the portal asked to choose the profile again', async (ctx) => {
      const accountId = ctx.oidc.session?.accountId;
      const result = ctx.oidc.result;
      const picked = result !== undefined && (result.login === undefined || result[profileChoicePrompt] !== undefined);
      if (!ctx.oidc.prompts.has('select_account') || !accountId || !asksForProfiles(ctx) || picked) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      return offersProfileChoice(await profileChoiceSituation(stores, accountId, ctx.oidc.client)) ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
    }),
  );
  policy.add(profileChoice, 2);
  return policy;
}

/** An access token's lifetime: the API's for a token meant for one, else the broker's; capped for FAPI clients either way. */
const accessTokenLifetime =
  (configuredSeconds: number) =>
  (ctx: KoaContextWithOIDC, token: { resourceServer?: { accessTokenTTL?: number | undefined } | undefined }, client: unknown): number =>
    fapiAccessTokenLifetime(apiAccessTokenLifetime(configuredSeconds)(ctx, token))(ctx, token, client);

export function createProvider(options: ProviderOptions): Provider {
  const { accounts, profileBindings, profileChoices, pages } = options;
  const apiClaims = apiTokenClaims({ profileBindings, profileChoices }, profileClaimsOf);

  const configuration: Configuration = {
    adapter: options.adapter,
    jwks: options.jwks as Configuration['jwks'],
    cookies: {
      keys: options.cookieKeys,
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    ttl: {
      AccessToken: accessTokenLifetime(options.ttl.accessToken),
      // Every client's codes live 60 s, FAPI 2.0's maximum.
      AuthorizationCode: fapiAuthorizationCodeLifetimeSeconds,
      ClientCredentials: accessTokenLifetime(options.ttl.accessToken),
      IdToken: options.ttl.idToken,
      RefreshToken: options.ttl.refreshToken,
      Session: options.ttl.session,
      Grant: options.ttl.refreshToken,
      Interaction: options.ttl.interaction,
    },
    scopes: [...supportedScopes],
    ...pairwiseSubjectConfiguration(options.pairwiseSubjectSecret),
    discovery: { ui_locales_supported: [...locales] },
    fetch: (input: string | URL | Request, init?: RequestInit) => {
      const target = new URL(input instanceof Request ? input.url : input);
      if (init && options.allowLoopbackRequests && isLoopbackHost(target.hostname)) delete (init as { dispatcher?: unknown }).dispatcher;
      return fetch(input, init);
    },
    extraParams: {
      // mbs_action: what a portal asks the broker to do besides signing in (only associate_profile).
      [actionParameter](_ctx, value) {
        if (value !== undefined && value !== associateProfileAction) throw new errors.InvalidRequest(`${actionParameter} must be ${associateProfileAction}`);
      },
      // domain_hint: Microsoft's home-realm hint, which picks an upstream by domain and goes on to Microsoft.
      domain_hint: null,
    },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      // The array of objects for JSON-aware relying parties, and string-valued
      // companions for those that flatten claims into strings
      // (mod_auth_openidc's OIDC_CLAIM_* variables and `Require claim`).
      // `mbs_profile` and its companions: the profile this sign-in acts as (the profile picker).
      mbs_profiles: [...profileClaims, ...chosenProfileClaims],
    },
    // The ID token carries the claims of the granted scopes, as userinfo does
    // (oidc-provider's default puts only `sub` in the ID token of a code
    // flow): relying parties that read the ID token alone, such as
    // express-openid-connect's `req.oidc.user`, see the email and profiles too.
    conformIdTokenClaims: false,
    // Tokens for a registered API carry the person's profiles; exchanged ones their actor (see resourceServers.ts, tokenExchange.ts).
    extraTokenClaims: async (ctx, token) => ({ ...(await apiClaims(ctx, token)), ...actorClaims(token) }),
    responseTypes: ['code'],
    clientBasedCORS: (ctx, origin, client) => corsOriginAllowed(ctx.oidc.route, origin, client),
    issueRefreshToken: async (_ctx, client, source) => shouldIssueRefreshToken(client, source.scopes),
    pkce: { required: pkceRequired },
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    enabledJWA: {
      idTokenSigningAlgValues: ['RS256', 'ES256', 'EdDSA'],
      userinfoSigningAlgValues: ['RS256', 'ES256', 'EdDSA'],
      introspectionSigningAlgValues: ['RS256', 'ES256', 'EdDSA'],
      authorizationSigningAlgValues: ['RS256', 'ES256', 'EdDSA'],
      dPoPSigningAlgValues: [...dpopSigningAlgorithms],
    },
    extraClientMetadata: {
      properties: ['portal', 'first_party', 'profile_selection', fapiProfileMetadata],
      validator(_ctx, key, value, metadata) {
        if (key === fapiProfileMetadata) completeFapiMetadata(value, metadata as Record<string, unknown>);
        if (key === 'portal' && value !== undefined && !clientPortals.includes(value as ClientPortal)) {
          throw new errors.InvalidClientMetadata('portal must be partnersource, customersource or both');
        }
        if (key === 'first_party' && value !== undefined && typeof value !== 'boolean') {
          throw new errors.InvalidClientMetadata('first_party must be a boolean');
        }
        if (key === 'profile_selection' && value !== undefined && !profileSelections.includes(value as ProfileSelection)) {
          throw new errors.InvalidClientMetadata('profile_selection must be ask or all');
        }
      },
    },
    features: {
      // Dynamic registration (RFC 7591) only with an initial access token that
      // an admin issued for one portal; management of it (RFC 7592).
      registration: {
        enabled: true,
        initialAccessToken: true,
        policies: Object.fromEntries(
          clientPortals.map((portal) => [
            registrationPolicy(portal),
            (_ctx: unknown, properties: Record<string, unknown>) => {
              properties.portal = portal;
              // Registrants are never first party: their users see the consent screen.
              properties.first_party = false;
            },
          ]),
        ),
      },
      registrationManagement: { enabled: true, rotateRegistrationAccessToken: true },
      // Single logout: every portal of the session hears of a sign-out.
      backchannelLogout: { enabled: true },
      devInteractions: { enabled: false },
      pushedAuthorizationRequests: pushedAuthorizationFeature,
      fapi: fapiFeature,
      dPoP: dpopFeature(options.dpopNonceSecret),
      clientCredentials: { enabled: true },
      resourceIndicators: resourceIndicators(options.resourceServers),
      userinfo: { enabled: true },
      introspection: {
        enabled: true,
        // A client may only learn about its own tokens.
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      revocation: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => {
          if (token.clientId !== client.clientId) {
            throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
          }
          return true;
        },
      },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.type = 'html';
          ctx.body = pages.render(
            'logout.eta',
            { titleKey: 'logout.title', form, clientName: ctx.oidc.client?.clientName },
            { portal: brandingPortal(ctx.oidc.client), locale: readerLocale(ctx) },
          );
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = pages.render(
            'signed-out.eta',
            { titleKey: 'signed_out.title', clientName: ctx.oidc.client?.clientName },
            { portal: brandingPortal(ctx.oidc.client), locale: readerLocale(ctx) },
          );
        },
      },
    },
    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
      policy: signInPolicy({ profileBindings, profileChoices }, options.severalUpstreams, options.clientsWithoutProfiles ?? []),
    },
    async findAccount(ctx: KoaContextWithOIDC, accountId: string) {
      const account = await accounts.find(accountId).catch(rethrowForProvider);
      if (!account) return undefined;
      return {
        accountId,
        async claims(_use: string, scope: string) {
          const claims: { sub: string; [claim: string]: unknown } = { sub: accountId };
          if (account.email) {
            claims.email = account.email;
            claims.email_verified = account.emailVerified;
          }
          if (account.name) claims.name = account.name;
          if (scope.split(' ').includes('mbs_profiles')) {
            const situation = await profileChoiceSituation({ profileBindings, profileChoices }, accountId, ctx.oidc.client).catch(rethrowForProvider);
            Object.assign(claims, profileClaimsOf(situation.profiles), chosenProfileClaimsOf(situation.chosen));
          }
          return claims;
        },
      };
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = pages.render(
        'error.eta',
        {
          titleKey: 'error.title_sign_in',
          messageKey: explainedErrors.has(out.error) ? `error.oauth.${out.error}` : 'error.oauth.other',
          hint: out.error_description,
          code: out.error,
        },
        { portal: brandingPortal(ctx.oidc?.client), locale: readerLocale(ctx) },
      );
    },
  };

  const provider = new Provider(options.issuer, configuration);
  provider.proxy = options.trustProxy;
  makePortalsTheSectors(provider);
  keepPushedRequestsToTheirClient(provider);
  completeDpop(provider, options.adapter);
  keepJwtAccessTokens(provider, options.jwks);
  registerTokenExchange(provider, options.resourceServers);

  // A revocation answers 200 with nothing in it (RFC 7009); oidc-provider's
  // empty string would go out as text/plain, which oidc-client-ts (its
  // revokeTokensOnSignout, over CORS from a single-page app) refuses as not
  // JSON. RFC 7009 clients ignore the body, so none reads the missing type
  // (openid-client's revocation in test/flows/signIn.test.ts still passes).
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route === 'revocation' && ctx.status === 200 && ctx.body === '') ctx.remove('Content-Type');
  });

  // Client secrets are stored hashed: compare the presented secret with the hash.
  const clientPrototype = provider.Client.prototype as unknown as {
    clientSecret?: string;
    compareClientSecret(this: { clientSecret?: string }, actual: string): boolean;
  };
  clientPrototype.compareClientSecret = function compareHashedClientSecret(actual: string) {
    return verifySecret(actual, this.clientSecret);
  };

  return provider;
}
