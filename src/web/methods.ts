// Methods nobody here implements (PROPFIND, TRACE, MKCOL, …): routers and
// oidc-provider answer them 501, a server error. They are the client's
// mistake: 405 with the path's Allow list where a route knows the path,
// else 404 — as a page or JSON like every other refusal, not a bare status.
import type { Context, Next } from 'koa';
import { BrokerError } from '../errors.ts';

export async function refuseUnimplementedMethods(ctx: Context, next: Next): Promise<void> {
  await next();
  const bareRefusal = ctx.status === 405 && ctx.body === undefined;
  if (ctx.status !== 501 && !bareRefusal) return;
  const allowed = ctx.response.get('Allow');
  ctx.body = undefined;
  if (!allowed) {
    ctx.remove('Allow');
    throw new BrokerError('not_found', 'There is nothing at this address.', { detail: `${ctx.method} on a path no route serves`, messageKey: 'error.not_found' });
  }
  throw new BrokerError('method_not_allowed', 'This address does not take that kind of request.', { detail: `${ctx.method} not implemented; allowed ${allowed}`, messageKey: 'error.method_not_allowed' });
}
