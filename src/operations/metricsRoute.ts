// GET /metrics: the broker's Prometheus metrics, behind a bearer token when
// METRICS_TOKEN is set (compared in constant time).
import type { Context, Next } from 'koa';
import { errorMessage } from '../errors.ts';
import { constantTimeEqual } from '../secrets.ts';
import type { BrokerMetrics } from './metrics.ts';

/** GET /metrics in Prometheus text format, behind a bearer token when one is configured. */
export function metricsRoute(metrics: BrokerMetrics, token: string | undefined) {
  return async function serveMetrics(ctx: Context, next: Next): Promise<void> {
    if (ctx.path !== '/metrics' || ctx.method !== 'GET') return next();
    if (token) {
      const presented = /^Bearer (.+)$/.exec(ctx.get('authorization'))?.[1] ?? '';
      if (!constantTimeEqual(presented, token)) {
        ctx.status = 401;
        ctx.set('WWW-Authenticate', 'Bearer realm="metrics"');
        ctx.body = { error: 'unauthorized', error_description: errorMessage('error.metrics_token_required') };
        return;
      }
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.type = metrics.contentType();
    ctx.body = await metrics.text();
  };
}
