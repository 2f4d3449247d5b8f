// The start of every trip to an upstream (sign-in, a link's confirmation,
// adding a sign-in method): fresh state, nonce and PKCE verifier from the
// upstream, kept in the store under the state until the callback uses them.
import type { Clock } from '../clock.ts';
import type { UpstreamTransactionPurpose } from '../domain/records.ts';
import type { Store } from '../store/store.ts';
import type { Upstream, UpstreamAuthorizationOptions } from '../upstream/upstream.ts';

export interface RoundTripParts {
  store: Store;
  clock: Clock;
  /** How long the person may take at the upstream, in milliseconds. */
  upstreamTransactionTtl: number;
}

export interface RoundTrip {
  purpose: UpstreamTransactionPurpose;
  /** What the callback needs to finish; the upstream's id is added. */
  context: Record<string, unknown>;
  interactionUid?: string | undefined;
}

/** Asks `upstream` for an authorization URL and records the round trip; the caller sends the browser to `url`. */
export async function beginRoundTrip(parts: RoundTripParts, upstream: Upstream, options: UpstreamAuthorizationOptions, trip: RoundTrip): Promise<{ url: URL; state: string }> {
  const start = await upstream.startAuthorization(options);
  await parts.store.upstreamTransactions.create({
    state: start.state,
    purpose: trip.purpose,
    interactionUid: trip.interactionUid,
    codeVerifier: start.codeVerifier,
    nonce: start.nonce,
    context: { ...trip.context, upstreamId: upstream.id },
    expiresAt: parts.clock.now() + parts.upstreamTransactionTtl,
  });
  return { url: start.url, state: start.state };
}
