// One log line per request with a request id (the caller's X-Request-Id when
// it is sane, else a new one, echoed back), the route, status and duration,
// and the client and interaction when known. Paths are logged as route
// templates: link tokens travel in paths and codes in query strings, so
// neither the raw path nor the query is ever logged.
import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import { requestLogContext, type Logger } from '../logging.ts';
import { routeOf } from './metrics.ts';

const requestIdPattern = /^[A-Za-z0-9._:-]{1,128}$/;

export interface RequestObserver {
  /** `route` is the path's route template (routeOf). */
  httpRequest(method: string, route: string, status: number, seconds: number): void;
}

/** Routes too frequent or too dull to log at info level. */
const quietRoutes = new Set(['/healthz', '/readyz', '/metrics', '/static/broker.css']);

export function requestId(ctx: Context): string | undefined {
  const value = (ctx.state as { requestId?: unknown }).requestId;
  return typeof value === 'string' ? value : undefined;
}

export function requestLogging(logger: Logger, observer?: RequestObserver) {
  return async function logRequest(ctx: Context, next: Next): Promise<void> {
    const started = process.hrtime.bigint();
    const incoming = ctx.get('x-request-id');
    const id = requestIdPattern.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = id;
    ctx.set('X-Request-Id', id);
    const route = routeOf(ctx.path);
    const interaction = route.startsWith('/interaction/:uid') ? ctx.path.split('/')[2] : undefined;
    try {
      await requestLogContext.run({ requestId: id, interaction }, next);
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      observer?.httpRequest(ctx.method, route, ctx.status, seconds);
      // The line is only put together when its level is logged (every token request pays for it otherwise).
      const level = quietRoutes.has(route) ? 'debug' : 'info';
      if (logger.isLevelEnabled(level)) {
        const oidc = (ctx as { oidc?: { client?: { clientId?: string } } }).oidc;
        const line = {
          requestId: id,
          ...(interaction ? { interaction } : {}),
          method: ctx.method,
          route,
          status: ctx.status,
          durationMs: Math.round(seconds * 10_000) / 10,
          ...(oidc?.client?.clientId ? { clientId: oidc.client.clientId } : {}),
        };
        logger[level](line, 'request');
      }
    }
  };
}
