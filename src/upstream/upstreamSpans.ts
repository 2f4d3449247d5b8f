// A span for each HTTP call to an upstream (its discovery document, the code
// exchange at its token endpoint, its signing keys), with the W3C
// `traceparent` sent along so the upstream's own traces join the broker's.
// Attributes name the upstream, the host, the method and the status only:
// the token request's body (code, verifier, client secret) and the answer
// (tokens) never reach a span.
import { context, propagation } from '@opentelemetry/api';
import { ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_SERVER_ADDRESS } from '@opentelemetry/semantic-conventions';
import type * as client from 'openid-client';
import { inSpan, SpanKind } from '../spans.ts';

/** Which call a request to the upstream is, for its span's name. */
export type UpstreamCall = 'discovery' | 'token' | 'jwks' | 'request';

/** The endpoints discovery found (unknown before it). */
export type KnownEndpoints = () => Pick<client.ServerMetadata, 'token_endpoint' | 'jwks_uri'> | undefined;

const sameUrl = (endpoint: string | undefined, url: URL): boolean => endpoint !== undefined && URL.canParse(endpoint) && new URL(endpoint).href === url.href;

export function upstreamCallOf(url: URL, endpoints: KnownEndpoints): UpstreamCall {
  if (url.pathname.endsWith('/.well-known/openid-configuration')) return 'discovery';
  const known = endpoints();
  if (sameUrl(known?.token_endpoint, url)) return 'token';
  if (sameUrl(known?.jwks_uri, url)) return 'jwks';
  return 'request';
}

/** `fetch` (the platform's by default) with a client span around each call, named `upstream <call>`. */
export function tracedUpstreamFetch(upstreamId: string, endpoints: KnownEndpoints, fetch: client.CustomFetch = globalThis.fetch): client.CustomFetch {
  return (url, options) => {
    const target = new URL(url);
    const attributes = { [ATTR_HTTP_REQUEST_METHOD]: options.method, [ATTR_SERVER_ADDRESS]: target.hostname, 'mbs.upstream.id': upstreamId };
    return inSpan(`upstream ${upstreamCallOf(target, endpoints)}`, { kind: SpanKind.CLIENT, attributes }, async (span) => {
      // The span in force is this one: the upstream continues the trace under it.
      propagation.inject(context.active(), options.headers);
      const response = await fetch(url, options);
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, response.status);
      return response;
    });
  };
}
