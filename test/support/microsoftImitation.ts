// Microsoft's login service imitated under its real host name, so that
// openid-client's special handling of https://login.microsoftonline.com (the
// consumers tenant's own issuer, the `{tenantid}` template of organizations
// and common) runs in the tests exactly as in production. Real oidc-provider
// instances (the dev upstream with a `tid` claim), one per tenant at
// /<tenant>/v2.0, behind Microsoft-shaped discovery documents, endpoints and
// keys at /consumers, /organizations and /common; served over https with a
// certificate from a test CA made at test time (never committed). The HTTP
// client given to the broker and to the test browser connects
// login.microsoftonline.com to this server on loopback and trusts the test
// CA; nothing else about the requests changes.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import mount from 'koa-mount';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { Agent, buildConnector } from 'undici';
import { isLoopbackHost } from '../../src/loopback.ts';
import { createDevUpstream, devSigningJwk } from '../../src/upstream/devUpstream.ts';
import { microsoftLoginOrigin, personalAccountsTenant } from '../../src/upstream/microsoftUpstream.ts';

const host = new URL(microsoftLoginOrigin).hostname;

/** A test CA and a certificate for login.microsoftonline.com it signed (openssl, in a temporary folder removed at once). */
function testCertificates(): { ca: string; key: string; cert: string } {
  const directory = mkdtempSync(join(tmpdir(), 'mbs-test-ca-'));
  const file = (name: string) => join(directory, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  try {
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=MBS broker test CA', '-keyout', file('ca.key'), '-out', file('ca.pem'));
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${host}`, '-keyout', file('server.key'), '-out', file('server.csr'));
    writeFileSync(file('server.ext'), `subjectAltName=DNS:${host}\nextendedKeyUsage=serverAuth\n`);
    openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', file('server.ext'), '-out', file('server.pem'));
    return { ca: readFileSync(file('ca.pem'), 'utf8'), key: readFileSync(file('server.key'), 'utf8'), cert: readFileSync(file('server.pem'), 'utf8') };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

export interface ImitationClient {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
}

/** A tenant served at /<path>/v2.0 whose ID tokens carry `tid` (normally the same as the path: the iss/tid mismatch case differs). */
export interface ImitatedTenant {
  path: string;
  tid: string;
}

export class MicrosoftImitation {
  /** Which tenant signs in through /organizations and /common next (Microsoft's home-realm discovery). */
  homeTenant: ImitatedTenant | undefined;
  /** The query of every authorization request that reached a Microsoft-shaped authorize endpoint. */
  readonly authorizationRequests: URLSearchParams[] = [];
  /** The HTTP client for the broker and the test browser: this server for login.microsoftonline.com, trusting the test CA. */
  readonly fetch: typeof fetch;
  readonly #server: Server;
  readonly #agent: Agent;
  readonly #tenants = new Map<string, ImitatedTenant>();

  private constructor(server: Server, agent: Agent) {
    this.#server = server;
    this.#agent = agent;
    this.fetch = ((input: Parameters<typeof fetch>[0], init?: RequestInit) => fetch(input, { ...init, dispatcher: this.#agent } as RequestInit)) as typeof fetch;
  }

  static async start(client: ImitationClient, tenants: ImitatedTenant[]): Promise<MicrosoftImitation> {
    const { ca, key, cert } = testCertificates();
    const app = new Koa();
    // Koa composes its middleware when asked for the handler: after #serve added it.
    let handle: ReturnType<Koa['callback']> | undefined;
    const server = createServer({ key, cert }, (request, response) => void handle!(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const connect = buildConnector({ ca });
    const agent = new Agent({
      // Only where login.microsoftonline.com is found changes: TLS still checks
      // its name against the (test) CA. Loopback (the broker) is reached as
      // usual; any other host is refused, so no test reaches the internet.
      connect: (options, callback) => {
        if (options.hostname === host) return connect({ ...options, hostname: '127.0.0.1', host: '127.0.0.1', port: String(port), servername: host }, callback);
        if (isLoopbackHost(options.hostname)) return connect(options, callback);
        callback(new Error(`the tests reach no real host (${options.hostname})`), null);
      },
    });
    const imitation = new MicrosoftImitation(server, agent);
    const personal = { path: personalAccountsTenant, tid: personalAccountsTenant };
    for (const tenant of [personal, ...tenants]) imitation.#tenants.set(tenant.path, tenant);
    await imitation.#serve(app, client);
    handle = app.callback();
    return imitation;
  }

  async #serve(app: Koa, client: ImitationClient): Promise<void> {
    const issuerOf = (path: string) => `${microsoftLoginOrigin}/${path}/v2.0`;
    const tenantApps = new Map<string, Koa>();
    // One set of cookie keys: mounted, the providers sign with the host's keys and verify with their own.
    const cookieKeys = [randomBytes(32).toString('base64url')];
    for (const tenant of this.#tenants.values()) {
      const { app: tenantApp } = await createDevUpstream({
        issuer: issuerOf(tenant.path),
        cookieKeys,
        tenantId: tenant.tid,
        clients: [{ clientId: client.clientId, clientSecret: client.clientSecret, redirectUris: [client.redirectUri] }],
      });
      tenantApps.set(tenant.path, tenantApp);
    }
    // Microsoft signs every tenant's tokens with one set of keys.
    const keys: JWK[] = [];
    for (const tenant of this.#tenants.values()) {
      const { d: _private, ...publicKey } = devSigningJwk(issuerOf(tenant.path));
      keys.push({ ...publicKey, kid: await calculateJwkThumbprint(publicKey) });
    }
    /** Which tenant's provider answers for a segment: consumers is the personal tenant; organizations and common the home tenant. */
    const tenantFor = (segment: string): ImitatedTenant | undefined => {
      if (segment === 'consumers') return this.#tenants.get(personalAccountsTenant);
      if (segment === 'organizations' || segment === 'common') return this.homeTenant;
      return this.#tenants.get(segment);
    };
    const segments = /^\/(consumers|organizations|common|[0-9a-f-]{36})\/(v2\.0\/\.well-known\/openid-configuration|oauth2\/v2\.0\/(authorize|token|logout)|discovery\/v2\.0\/keys)$/;

    app.use(async (ctx, next) => {
      const match = segments.exec(ctx.path);
      if (!match) return next();
      const [, segment, what, endpoint] = match as unknown as [string, string, string, string | undefined];
      const base = `${microsoftLoginOrigin}/${segment}`;
      if (what.endsWith('openid-configuration')) {
        ctx.body = discoveryDocument(segment, base, segment === 'consumers' ? issuerOf(personalAccountsTenant) : segment === 'organizations' || segment === 'common' ? `${microsoftLoginOrigin}/{tenantid}/v2.0` : issuerOf(segment));
        return;
      }
      if (what.startsWith('discovery')) {
        ctx.body = { keys };
        return;
      }
      const tenant = tenantFor(segment);
      if (!tenant) {
        ctx.status = 400;
        ctx.body = { error: 'invalid_request', error_description: 'AADSTS90002: no home tenant chosen for this sign-in' };
        return;
      }
      // The tenant's own oidc-provider does the work at its own paths.
      if (endpoint === 'authorize') {
        this.authorizationRequests.push(new URLSearchParams(ctx.querystring));
        ctx.redirect(`/${tenant.path}/v2.0/auth?${ctx.querystring}`);
        return;
      }
      ctx.url = `/${tenant.path}/v2.0/${endpoint === 'logout' ? 'session/end' : endpoint}`;
      return next();
    });
    // Microsoft's v2.0 endpoints do not send RFC 9207's `iss` with the code
    // (oidc-provider does): drop it, as a client of Microsoft sees it.
    app.use(async (ctx, next) => {
      await next();
      const location = ctx.response.get('Location') as string | undefined;
      if (!location?.startsWith(client.redirectUri)) return;
      const url = new URL(location);
      url.searchParams.delete('iss');
      ctx.set('Location', url.href);
    });
    for (const [path, tenantApp] of tenantApps) app.use(mount(`/${path}/v2.0`, tenantApp));
    // Mounted, the providers sign their cookies with the host's keys (as the broker does for the dev upstream).
    app.keys = tenantApps.values().next().value!.keys!;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await this.#agent.close();
  }
}

/** A discovery document shaped like Microsoft's v2.0 ones (fields as https://login.microsoftonline.com/<segment>/v2.0/.well-known/openid-configuration has them). */
function discoveryDocument(segment: string, base: string, issuer: string): Record<string, unknown> {
  return {
    token_endpoint: `${base}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${base}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    // Microsoft signs with RS256; the imitation's tenants (the dev upstream) sign with ES256.
    id_token_signing_alg_values_supported: ['RS256', 'ES256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer,
    request_uri_parameter_supported: false,
    userinfo_endpoint: 'https://graph.microsoft.com/oidc/userinfo',
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${base}/oauth2/v2.0/logout`,
    claims_supported: ['sub', 'iss', 'cloud_instance_name', 'cloud_instance_host_name', 'cloud_graph_host_name', 'msgraph_host', 'aud', 'exp', 'iat', 'auth_time', 'acr', 'nonce', 'preferred_username', 'name', 'tid', 'ver', 'at_hash', 'c_hash', 'email'],
    kerberos_endpoint: `${base}/kerberos`,
    tenant_region_scope: segment === 'consumers' ? null : 'WW',
    cloud_instance_name: 'microsoftonline.com',
    cloud_graph_host_name: 'graph.windows.net',
    msgraph_host: 'graph.microsoft.com',
    rbac_url: 'https://pas.windows.net',
  };
}
