// Which upstream the broker signs people in with: the one named by UPSTREAM
// (oidc, microsoft), or the dev upstream embedded in the broker itself under
// /dev/upstream (UPSTREAM=dev, never in production).
import type { Config } from '../config/config.ts';
import { createDevUpstream, type DevUpstream, type DevUpstreamOptions } from './devUpstream.ts';
import { createUpstream } from './index.ts';
import type { Upstream } from './upstream.ts';

/** Where the dev upstream lives inside the broker when UPSTREAM=dev. */
export const devUpstreamPath = '/dev/upstream';
export const devUpstreamClientId = 'mbs-broker';
// The dev upstream runs only outside production and inside this process, so a
// fixed secret protects nothing and keeps several dev instances consistent.
const devUpstreamClientSecret = 'dev-upstream-secret-not-for-production';

export interface UpstreamChoice {
  upstream: Upstream;
  /** The embedded dev upstream, to mount at devUpstreamPath (UPSTREAM=dev only). */
  devUpstream: DevUpstream | undefined;
}

export interface EmbeddedDevUpstreamParts {
  /** The broker's own issuer, without a trailing slash. */
  issuer: string;
  /** Where the dev upstream sends people back to (the broker's upstream callback). */
  redirectUri: string;
  /** The broker's live cookie keys: mounted, the dev upstream signs with the host's keys. */
  cookieKeys: string[];
  /** Where the dev upstream keeps its records (the broker's database, so all instances share one). */
  storage: NonNullable<DevUpstreamOptions['storage']>;
}

export async function chooseUpstream(config: Config, parts: EmbeddedDevUpstreamParts): Promise<UpstreamChoice> {
  if (config.upstream !== 'dev') {
    const upstream = createUpstream({
      kind: config.upstream,
      issuer: config.upstreamIssuer,
      clientId: config.upstreamClientId,
      clientSecret: config.upstreamClientSecret,
      signUpUrl: config.upstreamSignUpUrl,
      passwordResetUrl: config.upstreamPasswordResetUrl,
    });
    return { upstream, devUpstream: undefined };
  }
  const devIssuer = `${parts.issuer}${devUpstreamPath}`;
  const devUpstream = await createDevUpstream({
    issuer: devIssuer,
    cookieKeys: parts.cookieKeys,
    storage: parts.storage,
    clients: [{ clientId: devUpstreamClientId, clientSecret: devUpstreamClientSecret, redirectUris: [parts.redirectUri] }],
  });
  const upstream = createUpstream({
    kind: 'dev',
    issuer: devIssuer,
    clientId: devUpstreamClientId,
    clientSecret: devUpstreamClientSecret,
    signUpUrl: config.upstreamSignUpUrl ?? `${devIssuer}/help/sign-up`,
    passwordResetUrl: config.upstreamPasswordResetUrl ?? `${devIssuer}/help/password-reset`,
  });
  return { upstream, devUpstream };
}
