// Which upstreams the broker signs people in with: the ones UPSTREAMS lists,
// else the one UPSTREAM names (oidc, microsoft), in the order the sign-in page
// offers them. An upstream of kind dev is the dev upstream embedded in the
// broker itself under /dev/upstream (never in production).
import { upstreamEntries, type Config } from '../config/config.ts';
import type { UpstreamEntry } from '../config/settings.ts';
import { createDevUpstream, type DevUpstream, type DevUpstreamOptions } from './devUpstream.ts';
import { createUpstream, type UpstreamHooks } from './index.ts';
import type { Upstream } from './upstream.ts';
import { Upstreams } from './upstreams.ts';

/** Where the dev upstream lives inside the broker when one upstream is of kind dev. */
export const devUpstreamPath = '/dev/upstream';
export const devUpstreamClientId = 'mbs-broker';
// The dev upstream runs only outside production and inside this process, so a
// fixed secret protects nothing and keeps several dev instances consistent.
const devUpstreamClientSecret = 'dev-upstream-secret-not-for-production';

export interface UpstreamChoice {
  upstreams: Upstreams;
  /** The embedded dev upstream, to mount at devUpstreamPath (an upstream of kind dev only). */
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

export async function chooseUpstreams(config: Config, parts: EmbeddedDevUpstreamParts, hooks: UpstreamHooks = {}): Promise<UpstreamChoice> {
  let devUpstream: DevUpstream | undefined;
  const upstreams: Upstream[] = [];
  for (const entry of upstreamEntries(config)) {
    if (entry.kind !== 'dev') {
      upstreams.push(createUpstream(entry, hooks));
      continue;
    }
    const embedded = await embeddedDevUpstream(entry, parts);
    devUpstream = embedded.devUpstream;
    upstreams.push(embedded.upstream);
  }
  return { upstreams: new Upstreams(upstreams), devUpstream };
}

async function embeddedDevUpstream(entry: UpstreamEntry, parts: EmbeddedDevUpstreamParts): Promise<{ upstream: Upstream; devUpstream: DevUpstream }> {
  const devIssuer = `${parts.issuer}${devUpstreamPath}`;
  const devUpstream = await createDevUpstream({
    issuer: devIssuer,
    cookieKeys: parts.cookieKeys,
    storage: parts.storage,
    clients: [{ clientId: devUpstreamClientId, clientSecret: devUpstreamClientSecret, redirectUris: [parts.redirectUri] }],
  });
  const upstream = createUpstream({
    id: entry.id,
    kind: 'dev',
    name: entry.name,
    domains: entry.domains,
    issuer: devIssuer,
    clientId: devUpstreamClientId,
    clientSecret: devUpstreamClientSecret,
    signUpUrl: entry.signUpUrl ?? `${devIssuer}/help/sign-up`,
    passwordResetUrl: entry.passwordResetUrl ?? `${devIssuer}/help/password-reset`,
  });
  return { upstream, devUpstream };
}
