// A generic OpenID Connect upstream through openid-client: discovery (lazy,
// because the dev upstream is served by the very process that discovers it),
// state, nonce, PKCE S256, client_secret_basic, ID-token validation, and an
// optional extra check of the ID token's claims (the Microsoft tenant check).
import * as client from 'openid-client';
import { BrokerError, type ErrorMessageKey } from '../errors.ts';
import type { Upstream, UpstreamAuthorizationOptions, UpstreamAuthorizationStart, UpstreamCallback, UpstreamIdentity, UpstreamKind, UpstreamName } from './upstream.ts';
import { isLoopbackHost } from '../loopback.ts';
import { tracedUpstreamFetch } from './upstreamSpans.ts';

export type IdTokenClaims = Record<string, unknown> & { iss: string; sub: string };

/**
 * The HTTP client openid-client uses (discovery, token, keys). Only tests set
 * one, in code (createBroker's `upstreamFetch`), to route Microsoft's real host
 * name to a local imitation: no setting reaches it, so production always uses
 * the platform's fetch with its own DNS and trust store.
 */
export type UpstreamFetch = client.CustomFetch;

export interface OidcUpstreamOptions {
  /** Defaults to the kind. */
  id?: string | undefined;
  kind: UpstreamKind;
  /** Defaults to the issuer's host name. */
  name?: UpstreamName | undefined;
  domains?: readonly string[] | undefined;
  issuer: string;
  clientId: string;
  clientSecret: string | undefined;
  signUpUrl?: string | undefined;
  passwordResetUrl?: string | undefined;
  /** Whether a portal's domain_hint goes upstream too (Microsoft understands it; others may refuse unknown parameters). */
  forwardDomainHint?: boolean;
  /** Throws when an ID token must not be accepted even though it is valid. */
  verifyClaims?: (claims: IdTokenClaims) => void;
  fetch?: UpstreamFetch | undefined;
}


/** An upstream failure: `messageKey` names the message in the catalogues (views/locales). */
export const upstreamError = (messageKey: ErrorMessageKey, detail: string, cause?: unknown): BrokerError => new BrokerError('upstream_error', messageKey, { detail, cause });

/** openid-client wraps the telling message in `cause`; keep the whole chain for the logs. */
function describeFailure(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 4; depth += 1) {
    const code = (current as { code?: unknown; error?: unknown }).error ?? (current as { code?: unknown }).code;
    parts.push(`${current.message}${typeof code === 'string' ? ` [${code}]` : ''}`);
    current = current.cause;
  }
  return parts.join(' ← ');
}

export class OidcUpstream implements Upstream {
  readonly id: string;
  readonly kind: UpstreamKind;
  readonly name: UpstreamName;
  readonly domains: readonly string[];
  readonly signUpUrl: string | undefined;
  readonly passwordResetUrl: string | undefined;
  readonly #options: OidcUpstreamOptions;
  #configuration: Promise<client.Configuration> | undefined;
  /** Discovery's endpoints once known, naming the spans of the calls to them. */
  #endpoints: client.ServerMetadata | undefined;
  readonly #fetch: UpstreamFetch;

  constructor(options: OidcUpstreamOptions) {
    this.id = options.id ?? options.kind;
    this.kind = options.kind;
    this.name = options.name ?? { text: new URL(options.issuer).hostname };
    this.domains = (options.domains ?? []).map((domain) => domain.toLowerCase());
    this.signUpUrl = options.signUpUrl;
    this.passwordResetUrl = options.passwordResetUrl;
    this.#options = options;
    this.#fetch = tracedUpstreamFetch(this.id, () => this.#endpoints, options.fetch);
  }

  #configure(): Promise<client.Configuration> {
    if (!this.#configuration) {
      const issuer = new URL(this.#options.issuer);
      const insecure = issuer.protocol === 'http:' && isLoopbackHost(issuer.hostname);
      this.#configuration = client
        .discovery(
          issuer,
          this.#options.clientId,
          { token_endpoint_auth_method: this.#options.clientSecret ? 'client_secret_basic' : 'none' },
          this.#options.clientSecret ? client.ClientSecretBasic(this.#options.clientSecret) : client.None(),
          {
            ...(insecure ? { execute: [client.allowInsecureRequests] } : {}),
            [client.customFetch]: this.#fetch,
          },
        )
        .then((configuration) => {
          this.#endpoints = configuration.serverMetadata();
          return configuration;
        })
        .catch((error: unknown) => {
          // Forget the failure so the next sign-in tries discovery again.
          this.#configuration = undefined;
          throw upstreamError('error.upstream_unreachable', `discovery of ${issuer.href} failed`, error);
        });
    }
    return this.#configuration;
  }

  async startAuthorization(options: UpstreamAuthorizationOptions): Promise<UpstreamAuthorizationStart> {
    const configuration = await this.#configure();
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const parameters: Record<string, string> = {
      redirect_uri: options.redirectUri,
      scope: 'openid profile email',
      response_type: 'code',
      state,
      nonce,
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    };
    if (options.prompt) parameters.prompt = options.prompt;
    if (options.maxAge !== undefined) parameters.max_age = String(options.maxAge);
    if (options.loginHint) parameters.login_hint = options.loginHint;
    if (options.domainHint && this.#options.forwardDomainHint) parameters.domain_hint = options.domainHint;
    return { url: client.buildAuthorizationUrl(configuration, parameters), state, nonce, codeVerifier };
  }

  async finishAuthorization(callback: UpstreamCallback): Promise<UpstreamIdentity> {
    const error = callback.callbackUrl.searchParams.get('error');
    if (error) {
      throw upstreamError(
        error === 'access_denied' ? 'error.upstream_cancelled' : 'error.upstream_refused',
        `upstream returned error=${error}`,
      );
    }
    const configuration = await this.#configure();
    let claims: IdTokenClaims | undefined;
    try {
      // openid-client derives redirect_uri from the URL it is given: the
      // registered redirect URI with the callback's parameters.
      const currentUrl = new URL(callback.redirectUri);
      currentUrl.search = callback.callbackUrl.search;
      const tokens = await client.authorizationCodeGrant(
        configuration,
        currentUrl,
        {
          pkceCodeVerifier: callback.codeVerifier,
          expectedState: callback.state,
          expectedNonce: callback.nonce,
          idTokenExpected: true,
          ...(callback.maxAge === undefined ? {} : { maxAge: callback.maxAge }),
        },
      );
      claims = tokens.claims() as IdTokenClaims | undefined;
    } catch (cause) {
      throw upstreamError('error.upstream_unverified', `code exchange or ID token validation failed: ${describeFailure(cause)}`, cause);
    }
    if (!claims) throw upstreamError('error.upstream_unverified', 'no ID token claims');
    this.#options.verifyClaims?.(claims);
    return {
      upstreamId: this.id,
      issuer: claims.iss,
      subject: claims.sub,
      email: typeof claims.email === 'string' ? claims.email : undefined,
      name: typeof claims.name === 'string' ? claims.name : undefined,
    };
  }
}
