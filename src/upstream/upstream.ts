// The one interface every upstream identity provider implements (like Dex's
// connectors): send the browser there, take the callback, return who signed
// in. Only issuer + subject identify a person; email and name are hints.

export interface UpstreamIdentity {
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
  prompt?: string;
  maxAge?: number;
  loginHint?: string;
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

export interface Upstream {
  readonly kind: 'dev' | 'oidc' | 'microsoft';
  /** Where people create an account (guide step 1). */
  readonly signUpUrl: string | undefined;
  /** Where people reset a forgotten password (guide step 1). */
  readonly passwordResetUrl: string | undefined;
  /** Fresh state, nonce and PKCE verifier (S256); the caller persists them keyed by state. */
  startAuthorization(options: UpstreamAuthorizationOptions): Promise<UpstreamAuthorizationStart>;
  /** Exchanges the code and validates the ID token (iss, aud, nonce, state, exp, max_age). */
  finishAuthorization(callback: UpstreamCallback): Promise<UpstreamIdentity>;
}
