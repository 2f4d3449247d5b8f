// The one interface every upstream identity provider implements (like Dex's
// connectors): send the browser there, take the callback, return who signed
// in. Only issuer + subject identify a person; email and name are hints.
// The broker may be configured with several upstreams (src/upstream/upstreams.ts);
// each has an id of its own, recorded with every identity it signs in.

export type UpstreamKind = 'dev' | 'oidc' | 'microsoft' | 'microsoft-work';

export interface UpstreamIdentity {
  /** The configured upstream that signed the person in (its `id`). */
  upstreamId: string;
  issuer: string;
  subject: string;
  /** Unverified and changeable upstream: a display hint, never a key. */
  email?: string | undefined;
  name?: string | undefined;
}

export interface UpstreamAuthorizationStart {
  url: URL;
  state: string;
  nonce: string;
  codeVerifier: string;
}

export interface UpstreamAuthorizationOptions {
  redirectUri: string;
  /** `login`, `select_account` or both (space-separated), as the portal asked. */
  prompt?: string;
  maxAge?: number;
  loginHint?: string;
  /** Microsoft's home-realm hint (a domain, `consumers` or `organizations`); sent to Microsoft presets only. */
  domainHint?: string;
}

export interface UpstreamCallback {
  /** The URL the upstream redirected the browser to (with code and state). */
  callbackUrl: URL;
  /** The redirect URI registered at the upstream. */
  redirectUri: string;
  state: string;
  nonce: string;
  codeVerifier: string;
  maxAge?: number;
}

/** What the sign-in page calls an upstream: a catalogue key for the presets, the configured text otherwise. */
export type UpstreamName = { key: string } | { text: string };

export interface Upstream {
  /** Unique among the configured upstreams; stored with the identities it signs in. */
  readonly id: string;
  readonly kind: UpstreamKind;
  readonly name: UpstreamName;
  /** Email domains this upstream serves: a portal's login_hint or domain_hint in one of them picks it. */
  readonly domains: readonly string[];
  /** Where people create an account (guide step 1). */
  readonly signUpUrl: string | undefined;
  /** Where people reset a forgotten password (guide step 1). */
  readonly passwordResetUrl: string | undefined;
  /** Fresh state, nonce and PKCE verifier (S256); the caller persists them keyed by state. */
  startAuthorization(options: UpstreamAuthorizationOptions): Promise<UpstreamAuthorizationStart>;
  /** Exchanges the code and validates the ID token (iss, aud, nonce, state, exp, max_age). */
  finishAuthorization(callback: UpstreamCallback): Promise<UpstreamIdentity>;
}
