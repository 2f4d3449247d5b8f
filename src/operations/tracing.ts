// OpenTelemetry traces of the broker process. With OTEL_EXPORTER_OTLP_ENDPOINT
// (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) set, startTracing loads the SDK,
// which exports spans over OTLP/HTTP (JSON) in batches and reads the other
// standard variables itself (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
// OTEL_TRACES_SAMPLER, OTEL_PROPAGATORS, OTEL_BSP_*); without them nothing of
// the SDK is even loaded and the API's spans (src/spans.ts) do nothing.
//
// traceRequests makes one server span per HTTP request, continuing the
// caller's W3C `traceparent`, named by method and route template (the
// provider's route names such as `token`, the routers' templates such as
// `/interaction/:uid`): never the raw path or the query, which carry
// interaction ids, link tokens, codes and state.
import { context, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE, ATTR_SERVICE_NAME, ATTR_URL_SCHEME } from '@opentelemetry/semantic-conventions';
import type { Context, Next } from 'koa';
import { brokerTracer, recordFailure, SpanKind, type Span } from '../spans.ts';
import { routeOf } from './metrics.ts';

export interface Tracing {
  /** Exports the spans ended so far. */
  flush(): Promise<void>;
  /** Exports what is left and unregisters the SDK (the API's no-op tracer again). */
  shutdown(): Promise<void>;
}

/** The service name unless OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) says otherwise. */
export const defaultServiceName = 'mbs-broker';

let running: Tracing | undefined;

/** Whether startTracing registered the SDK in this process (the assembly adds traceRequests only then). */
export function tracingStarted(): boolean {
  return running !== undefined;
}

/** Whether the environment asks for traces: an OTLP endpoint for them is set, and OTEL_SDK_DISABLED is not `true`. */
export function tracingRequested(environment: NodeJS.ProcessEnv = process.env): boolean {
  if (environment.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  return Boolean(environment.OTEL_EXPORTER_OTLP_ENDPOINT || environment.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** Registers the SDK for the whole process when the environment asks for traces; undefined when it does not. */
export async function startTracing(): Promise<Tracing | undefined> {
  if (!tracingRequested()) return undefined;
  if (running) return running;
  // Loaded here only: without an endpoint the process never loads the SDK.
  const [{ NodeTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, resources] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  // The environment's resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) wins over the default name.
  const resource = resources.resourceFromAttributes({ [ATTR_SERVICE_NAME]: defaultServiceName }).merge(resources.detectResources({ detectors: [resources.envDetector] }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] });
  // The AsyncLocalStorage context (child spans find their request) and the W3C propagator (or OTEL_PROPAGATORS).
  provider.register();
  const started: Tracing = {
    flush: () => provider.forceFlush(),
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
      running = undefined;
    },
  };
  running = started;
  return started;
}

/** The embedded dev upstream's routes, told apart from the broker's own routes of the same names. */
const devUpstreamRoute = '/dev/upstream';

/** What a request is, for its span's name: the provider's route name, else the router's template, else the metrics' route. */
export function routeNameOf(ctx: Context): string {
  const oidcRoute = (ctx as { oidc?: { route?: unknown } }).oidc?.route;
  const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
  const named = typeof oidcRoute === 'string' ? oidcRoute : typeof matched === 'string' ? matched : undefined;
  const route = routeOf(ctx.path);
  if (route === devUpstreamRoute) return named ? `${devUpstreamRoute} ${named}` : devUpstreamRoute;
  return named ?? route;
}

/** Names, and describes in safe words only, the span of a request that has been answered. */
function finishRequestSpan(span: Span, ctx: Context): void {
  const route = routeNameOf(ctx);
  span.updateName(`${ctx.method} ${route}`);
  span.setAttributes({ [ATTR_HTTP_ROUTE]: route, [ATTR_HTTP_RESPONSE_STATUS_CODE]: ctx.status });
  // The client is public (it is in every authorization URL); its secret never is.
  const clientId = (ctx as { oidc?: { client?: { clientId?: unknown } } }).oidc?.client?.clientId;
  if (typeof clientId === 'string') span.setAttribute('oauth.client_id', clientId);
  if (ctx.status >= 500) recordFailure(span, { code: `http_${ctx.status}` });
}

/** One server span per request, continuing the caller's trace (`traceparent`); first in the middleware list. */
export function traceRequests() {
  return async function traceRequest(ctx: Context, next: Next): Promise<void> {
    const parent = propagation.extract(ROOT_CONTEXT, ctx.headers);
    const span = brokerTracer().startSpan(ctx.method, { kind: SpanKind.SERVER, attributes: { [ATTR_HTTP_REQUEST_METHOD]: ctx.method, [ATTR_URL_SCHEME]: ctx.protocol } }, parent);
    try {
      await context.with(trace.setSpan(parent, span), next);
    } catch (error) {
      recordFailure(span, error);
      throw error;
    } finally {
      finishRequestSpan(span, ctx);
      span.end();
    }
  };
}
