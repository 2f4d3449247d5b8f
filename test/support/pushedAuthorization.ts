// Sign-ins through pushed authorization requests (RFC 9126) for the PAR and
// FAPI 2.0 suites: openid-client pushes the parameters, a Person follows the
// short authorization URL through the dev upstream; and how an authorization
// request ended when it did not reach the portal with a code.
import * as client from 'openid-client';
import { formAction, hiddenField, type Page } from './browser.ts';
import { redirectUri, type Person } from './journey.ts';

export const pushedRequestUriPrefix = 'urn:ietf:params:oauth:request_uri:';

export interface PushedSignIn {
  /** The authorization URL openid-client built: client_id and request_uri only. */
  url: URL;
  page: Page | undefined;
  location: URL | undefined;
  tokens(options?: client.DPoPOptions): Promise<client.TokenEndpointResponse & client.TokenEndpointResponseHelpers>;
}

/** Pushes an authorization request with PKCE (and DPoP when given), then signs `person` in through it. */
export async function signInWithPushedRequest(person: Person, configuration: client.Configuration, options: { extra?: Record<string, string>; DPoP?: client.DPoPHandle } = {}): Promise<PushedSignIn> {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = await client.buildAuthorizationUrlWithPAR(
    configuration,
    {
      redirect_uri: redirectUri,
      scope: 'openid email profile mbs_profiles',
      state,
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      ...options.extra,
    },
    options.DPoP ? { DPoP: options.DPoP } : {},
  );
  let { page, location } = await person.follow(url.href);
  // A third-party client (dynamically registered) asks for consent: the person allows.
  if (!location && page?.body.includes('name="decision"')) {
    const allowed = await person.browser.post(new URL(formAction(page.body), page.url).href, { csrf: hiddenField(page.body, 'csrf') ?? '', decision: 'allow' });
    ({ page, location } = await person.follow(new URL(allowed.headers.get('location')!, allowed.url).href));
  }
  return {
    url,
    page,
    location,
    tokens: (grantOptions = options.DPoP ? { DPoP: options.DPoP } : {}) => {
      if (!location) throw new Error(`the sign-in did not reach the portal: ${page?.status} ${page?.body.slice(0, 300)}`);
      return client.authorizationCodeGrant(configuration, location, { pkceCodeVerifier: codeVerifier, expectedState: state }, undefined, grantOptions);
    },
  };
}

export interface AuthorizationRefusal {
  /** The OAuth error code, from the redirect to the portal or from the broker's error page. */
  error: string | undefined;
  /** `redirect` when the portal got the error, `page` when the broker showed it. */
  delivery: 'redirect' | 'page';
  /** The error page's HTTP status. */
  status?: number;
  /** The `iss` of an error redirect (RFC 9207). */
  issuer?: string | null;
}

/** Where an authorization request that should be refused ended: an error redirect to the portal, or the broker's error page. */
export async function authorizationRefusal(person: Person, url: string): Promise<AuthorizationRefusal> {
  const { page, location } = await person.follow(url);
  if (location) return { error: location.searchParams.get('error') ?? undefined, delivery: 'redirect', issuer: location.searchParams.get('iss') };
  return { error: /<code>([a-z_]+)<\/code>/.exec(page?.body ?? '')?.[1], delivery: 'page', status: page?.status ?? 0 };
}
