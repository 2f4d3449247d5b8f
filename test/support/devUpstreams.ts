// Dev upstreams (real oidc-provider instances, src/upstream/devUpstream.ts)
// served on loopback ports of their own, as separate identity providers for
// the broker to be configured with; each records the authorization requests
// it receives, so a test can see what the broker sent upstream.
import { createServer, type Server } from 'node:http';
import Koa from 'koa';
import mount from 'koa-mount';
import { createDevUpstream, type DevUpstreamClient } from '../../src/upstream/devUpstream.ts';
import { freePort } from './broker.ts';

export interface ServedDevUpstream {
  issuer: string;
  /** The query of every authorization request, oldest first. */
  authorizationRequests: URLSearchParams[];
  stop(): Promise<void>;
}

export async function serveDevUpstream(options: { clients: DevUpstreamClient[]; pathPrefix?: string; tenantId?: string }): Promise<ServedDevUpstream> {
  const port = await freePort();
  const pathPrefix = options.pathPrefix ?? '';
  const issuer = `http://127.0.0.1:${port}${pathPrefix}`;
  const { app, provider } = await createDevUpstream({ issuer, clients: options.clients, ...(options.tenantId ? { tenantId: options.tenantId } : {}) });
  const authorizationPath = new URL(provider.urlFor('authorization')).pathname;
  const authorizationRequests: URLSearchParams[] = [];
  const host = new Koa();
  host.keys = app.keys;
  host.use(async (ctx, next) => {
    if (ctx.path === authorizationPath) authorizationRequests.push(new URLSearchParams(ctx.querystring));
    await next();
  });
  host.use(pathPrefix ? mount(pathPrefix, app) : mount(app));
  const server: Server = createServer(host.callback());
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    issuer,
    authorizationRequests,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
