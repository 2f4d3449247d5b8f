// Methods nobody here implements (PROPFIND, TRACE, MKCOL, …): routers and
// oidc-provider answer them 501, a server error. They are the client's
// mistake: 405 with the path's Allow list where a route knows the path,
// else 404 — as a page or JSON like every other refusal, not a bare status.
import type { Context, Next } from 'koa';
import { methodNotAllowed, pageNotFound } from '../errors.ts';

export async function refuseUnimplementedMethods(ctx: Context, next: Next): Promise<void> {
  await next();
  const bareRefusal = ctx.status === 405 && ctx.body === undefined;
  if (ctx.status !== 501 && !bareRefusal) return;
  const allowed = ctx.response.get('Allow');
  ctx.body = undefined;
  if (!allowed) {
    ctx.remove('Allow');
    throw pageNotFound(`${ctx.method} on a path no route serves`);
  }
  throw methodNotAllowed(`${ctx.method} not implemented; allowed ${allowed}`);
}
