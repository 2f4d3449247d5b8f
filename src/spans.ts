// Spans around the broker's own work (upstream calls, SMTP deliveries,
// database batches), through the OpenTelemetry API only. Without an SDK
// registered (src/operations/tracing.ts, when OTEL_EXPORTER_OTLP_ENDPOINT is
// set) the API's tracer does nothing, so these cost a function call.
//
// Attributes go to a tracing backend that support staff and vendors read:
// callers put in them what identifies the kind of work (a route template, a
// statement count, an email's kind, a host), never a secret, a token, a
// code, an email address or an SQL parameter. A failure is recorded by its
// type only, never its message, which may quote any of those.
import { INVALID_SPAN_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';

export { SpanKind, type Attributes, type Span };

/** The tracer every span of the broker comes from (asked each time: tests register and remove SDKs). */
export function brokerTracer() {
  return trace.getTracer('mbs-broker');
}

/** A failure in a word that names no secret: its code (BrokerError, nodemailer, SQLite, Node), else its class. */
export function failureType(error: unknown): string {
  if (typeof error !== 'object' || error === null) return 'unknown';
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^[A-Za-z0-9_.:-]{1,64}$/.test(code)) return code;
  return error instanceof Error ? error.name : 'unknown';
}

/** Marks `span` failed with the failure's type (see failureType). */
export function recordFailure(span: Span, error: unknown): void {
  span.setAttribute(ATTR_ERROR_TYPE, failureType(error));
  span.setStatus({ code: SpanStatusCode.ERROR });
}

export interface SpanOptions {
  attributes?: Attributes;
  kind?: SpanKind;
  /**
   * Only as a child of a span in force (a request's, a delivery's): work
   * that runs on its own every few seconds (the outbox worker polling the
   * database) would otherwise make a trace of its own each time.
   */
  withinTrace?: boolean;
}

/** The span handed to work that runs outside any trace (withinTrace): records nothing. */
const untraced = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * Runs `work` in a span named `name`, a child of the span in force, ended
 * when `work` returns or, when it returns a promise, when that settles.
 */
export function inSpan<Result>(name: string, options: SpanOptions, work: (span: Span) => Result): Result {
  if (options.withinTrace && !trace.getActiveSpan()) return work(untraced);
  const { attributes, kind } = options;
  return brokerTracer().startActiveSpan(name, { attributes, kind }, (span) => {
    const failed = (error: unknown): never => {
      recordFailure(span, error);
      span.end();
      throw error;
    };
    let result: Result;
    try {
      result = work(span);
    } catch (error) {
      return failed(error);
    }
    // Any thenable (knex's transactions among them) ends the span when it settles.
    if (typeof (result as { then?: unknown } | null)?.then !== 'function') {
      span.end();
      return result;
    }
    return Promise.resolve(result).then((value: unknown) => {
      span.end();
      return value;
    }, failed) as Result;
  });
}
