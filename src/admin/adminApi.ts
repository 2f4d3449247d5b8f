// The admin HTTP API under /admin/api: JSON over the same administration
// services the CLI uses, behind ADMIN_TOKEN bearer tokens (compared in
// constant time; several may be configured for rotation). Every route is
// declared once, with its zod schemas, and the OpenAPI 3.1 document at
// /admin/api/openapi.json is generated from those declarations.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import { z } from 'zod';
import { adminTokenRequired, errorMessage, invalidInput, invalidRequest, isBrokerError, notFound as notFoundError, type BrokerError } from '../errors.ts';
import type { Logger } from '../logging.ts';
import { constantTimeEqual } from '../secrets.ts';
import { describeFailure } from '../web/errorAnswers.ts';
import type { AdminServices } from './adminServices.ts';
import { grantTypes } from './clientAdministration.ts';
import { auditJson, clientJson, linkJson, outboxJson, signingKeyJson } from './recordJson.ts';

export const adminApiPrefix = '/admin/api';

const adminRouteNotFound = (ctx: Context): BrokerError =>
  notFoundError('error.admin_route_not_found', { messageValues: { method: ctx.method, path: ctx.path } });

/** The administration services acting as 'admin-api', and who may call them. */
export interface AdminApiDependencies extends AdminServices {
  tokens: string[];
  logger: Logger;
}

const paging = {
  limit: z.coerce.number().int().min(1).max(500).default(50).describe('page size (1–500)'),
  offset: z.coerce.number().int().min(0).default(0).describe('items to skip'),
};

const timestamp = z.iso.datetime({ offset: true }).describe('ISO 8601 date-time');

const clientBody = z
  .object({
    id: z.string().optional().describe('client id; a random UUID when absent'),
    name: z.string().optional(),
    portal: z.enum(['partnersource', 'customersource', 'both']),
    redirectUris: z.array(z.string()).min(1),
    postLogoutRedirectUris: z.array(z.string()).optional(),
    public: z.boolean().optional().describe('a public client (PKCE, no secret)'),
    firstParty: z.boolean().optional().describe('first-party clients skip the consent screen'),
    grantTypes: z.array(z.enum(grantTypes)).optional(),
    backchannelLogoutUri: z.string().optional().describe('where the client hears of sign-outs (back-channel logout)'),
    profileSelection: z.enum(['ask', 'all']).optional().describe('ask (default): a person with several profiles of the portal picks one, carried in mbs_profile; all: the list alone'),
  })
  .strict();

const clientChanges = z
  .object({
    name: z.string().optional(),
    portal: z.enum(['partnersource', 'customersource', 'both']).optional(),
    redirectUris: z.array(z.string()).min(1).optional(),
    postLogoutRedirectUris: z.array(z.string()).optional(),
    backchannelLogoutUri: z.string().optional(),
    profileSelection: z.enum(['ask', 'all']).optional(),
  })
  .strict();

const profileBody = z
  .object({
    portal: z.enum(['partnersource', 'customersource']),
    email: z.string(),
    displayName: z.string(),
    organization: z.string(),
    roles: z.array(z.string()).default([]),
  })
  .strict();

type Schema = z.ZodType;

interface RouteDeclaration {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Koa path with :parameters, relative to /admin/api. */
  path: string;
  summary: string;
  tag: string;
  query?: z.ZodObject;
  body?: Schema;
  /** Text bodies accepted besides JSON (CSV import). */
  textBody?: boolean;
  status?: number;
  handle(input: { params: Record<string, string>; query: Record<string, unknown>; body: unknown; ctx: Context }): Promise<unknown>;
}

type Handled = RouteDeclaration['handle'];

/** A route whose handler gets the query and body as their schemas made them, so no handler re-casts what zod checked. */
interface TypedRoute<Query extends z.ZodObject | undefined, Body extends Schema | undefined> extends Omit<RouteDeclaration, 'query' | 'body' | 'handle'> {
  query?: Query;
  body?: Body;
  handle(input: {
    params: Record<string, string>;
    query: Query extends z.ZodObject ? z.output<Query> : Record<string, never>;
    body: Body extends Schema ? z.output<Body> : undefined;
    ctx: Context;
  }): Promise<unknown>;
}

/** Declares a typed route; the router validates query and body against the same schemas before the handler runs. */
function route<Query extends z.ZodObject | undefined = undefined, Body extends Schema | undefined = undefined>(declaration: TypedRoute<Query, Body>): RouteDeclaration {
  return { ...declaration, handle: declaration.handle as unknown as Handled };
}

const pageOf = <Item, Shown>(page: { items: Item[]; total: number }, query: Record<string, unknown>, show: (item: Item) => Shown) => ({
  items: page.items.map(show),
  total: page.total,
  limit: query.limit,
  offset: query.offset,
});

function declareRoutes(dependencies: AdminApiDependencies): RouteDeclaration[] {
  const { clients, directory, outbox } = dependencies;
  return [
    // Clients.
    route({ method: 'post', path: '/clients', tag: 'clients', summary: 'Register a client; a confidential client’s secret is returned once', body: clientBody, status: 201,
      handle: async ({ body }) => {
        const registered = await clients.register(body);
        return { ...clientJson(registered.client), ...(registered.clientSecret ? { client_secret: registered.clientSecret } : {}) };
      } }),
    { method: 'get', path: '/clients', tag: 'clients', summary: 'List clients (secrets are never shown)', handle: async () => ({ items: (await clients.list()).map(clientJson) }) },
    { method: 'get', path: '/clients/:clientId', tag: 'clients', summary: 'Show a client', handle: async ({ params }) => clientJson(await clients.show(params.clientId!)) },
    route({ method: 'patch', path: '/clients/:clientId', tag: 'clients', summary: 'Change name, portal or redirect URIs', body: clientChanges,
      handle: async ({ params, body }) => clientJson(await clients.update(params.clientId!, body)) }),
    { method: 'post', path: '/clients/:clientId/rotate-secret', tag: 'clients', summary: 'Replace the secret; the new one is returned once',
      handle: async ({ params }) => {
        const rotated = await clients.rotateSecret(params.clientId!);
        return { ...clientJson(rotated.client), client_secret: rotated.clientSecret };
      } },
    { method: 'post', path: '/clients/:clientId/disable', tag: 'clients', summary: 'Disable a client: it can no longer sign anyone in or get tokens',
      handle: async ({ params }) => clientJson(await clients.setDisabled(params.clientId!, true)) },
    { method: 'post', path: '/clients/:clientId/enable', tag: 'clients', summary: 'Enable a disabled client', handle: async ({ params }) => clientJson(await clients.setDisabled(params.clientId!, false)) },
    { method: 'delete', path: '/clients/:clientId', tag: 'clients', summary: 'Delete a client', status: 204,
      handle: async ({ params }) => {
        await clients.remove(params.clientId!);
        return undefined;
      } },

    route({ method: 'post', path: '/initial-access-tokens', tag: 'clients', summary: 'Issue an initial access token for dynamic registration (RFC 7591); clients registered with it belong to its portal. Returned once.',
      body: z.object({ portal: z.enum(['partnersource', 'customersource', 'both']), expiresInSeconds: z.number().int().min(60).max(30 * 24 * 3600).default(86_400) }).strict(), status: 201,
      handle: async ({ body }) => {
        const { portal, expiresInSeconds } = body;
        const issued = await dependencies.initialAccessTokens.issue(portal, expiresInSeconds);
        return { initial_access_token: issued.token, portal, expires_at: new Date(issued.expiresAt).toISOString() };
      } }),

    // Profiles.
    { method: 'post', path: '/profiles/import', tag: 'profiles', summary: 'Import profiles from CSV (text/csv) or JSON (an array of profiles)', textBody: true,
      body: z.array(profileBody.extend({ id: z.string() })).describe('or a CSV text with the header id,portal,email,display_name,organization,roles'),
      handle: async ({ ctx, body }) => {
        const csv = typeof body === 'string';
        return directory.importProfiles(csv ? 'import.csv' : 'import.json', csv ? body : JSON.stringify(body), 'admin-api');
      } },
    route({ method: 'put', path: '/profiles/:profileId', tag: 'profiles', summary: 'Create or replace one profile', body: profileBody,
      handle: async ({ params, body, ctx }) => {
        const { outcome, profile } = await directory.upsertProfile({ ...body, id: params.profileId }, 'admin-api');
        if (outcome === 'created') ctx.status = 201;
        return profile;
      } }),
    route({ method: 'get', path: '/profiles', tag: 'profiles', summary: 'List profiles, optionally by email', query: z.object({ ...paging, email: z.string().optional().describe('normalised email') }),
      handle: async ({ query }) => pageOf(await directory.listProfiles(query), query, (profile) => profile) }),
    { method: 'delete', path: '/profiles/:profileId', tag: 'profiles', summary: 'Delete a profile and its binding', status: 204,
      handle: async ({ params }) => {
        await directory.removeProfile(params.profileId!, 'admin-api');
        return undefined;
      } },

    // Bindings.
    route({ method: 'get', path: '/bindings', tag: 'bindings', summary: 'List bindings by account, profile or email',
      query: z.object({ ...paging, account: z.string().optional(), profile: z.string().optional(), email: z.string().optional() }),
      handle: async ({ query }) =>
        pageOf(
          await directory.listBindings(query),
          query,
          (binding) => binding,
        ) }),
    { method: 'delete', path: '/bindings/:profileId', tag: 'bindings', summary: 'Unbind a profile', status: 204,
      handle: async ({ params }) => {
        await directory.unbind(params.profileId!, 'admin-api');
        return undefined;
      } },

    // Link requests.
    route({ method: 'get', path: '/link-requests', tag: 'link requests', summary: 'List pending association links (tokens are never stored, so never shown)', query: z.object({ ...paging }),
      handle: async ({ query }) => pageOf(await directory.listPendingLinks(query), query, linkJson) }),
    { method: 'post', path: '/link-requests/:linkId/revoke', tag: 'link requests', summary: 'Revoke an unused association link', status: 204,
      handle: async ({ params }) => {
        await directory.revokeLink(params.linkId!, 'admin-api');
        return undefined;
      } },

    // Outbox.
    route({ method: 'get', path: '/outbox', tag: 'outbox', summary: 'List queued and sent emails (bodies are never shown)', query: z.object({ ...paging, pending: z.enum(['true', 'false']).optional() }),
      handle: async ({ query }) => pageOf(await outbox.list({ limit: query.limit, offset: query.offset, pending: query.pending === 'true' }), query, outboxJson) }),
    { method: 'post', path: '/outbox/:messageId/retry', tag: 'outbox', summary: 'Make an unsent email due now', status: 204,
      handle: async ({ params }) => {
        await outbox.retry(params.messageId!);
        return undefined;
      } },

    // Keys.
    { method: 'get', path: '/signing-keys', tag: 'keys', summary: 'List token signing keys (public details only; active keys sign, retired keys still verify)',
      handle: async () => ({ items: (await dependencies.keys.list()).map(signingKeyJson) }) },
    { method: 'post', path: '/signing-keys/rotate', tag: 'keys', summary: 'Add a new signing key per algorithm: published by every instance within KEY_REFRESH_INTERVAL, signing after twice that; old keys keep verifying',
      handle: async () => {
        return { items: (await dependencies.keys.rotateSigningKeys()).map(signingKeyJson) };
      } },
    { method: 'post', path: '/cookie-keys/rotate', tag: 'keys', summary: 'Add a new cookie key: it signs cookies after twice KEY_REFRESH_INTERVAL; older keys keep verifying', status: 204,
      handle: async () => {
        await dependencies.keys.rotateCookieKey();
        return undefined;
      } },

    // Audit events.
    route({ method: 'get', path: '/audit-events', tag: 'audit', summary: 'Audit events, newest first, filtered by type, account, profile, client and time range',
      query: z.object({ ...paging, type: z.string().optional(), account: z.string().optional(), profile: z.string().optional(), client: z.string().optional(), since: timestamp.optional(), until: timestamp.optional() }),
      handle: async ({ query }) =>
        pageOf(
          await directory.listAuditEvents({ ...query, since: query.since ? Date.parse(query.since) : undefined, until: query.until ? Date.parse(query.until) : undefined }),
          query,
          auditJson,
        ) }),
  ];
}


/** The OpenAPI 3.1 document of the declared routes. */
export function openApiDocument(routes: RouteDeclaration[], serverUrl: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const openApiPath = route.path.replace(/:(\w+)/g, '{$1}');
    const parameters = [
      ...[...route.path.matchAll(/:(\w+)/g)].map((match) => ({ name: match[1], in: 'path', required: true, schema: { type: 'string' } })),
      ...Object.entries(route.query?.shape ?? {}).map(([name, schema]) => ({
        name,
        in: 'query',
        required: false,
        schema: z.toJSONSchema(schema as Schema, { io: 'input', unrepresentable: 'any' }),
      })),
    ];
    const status = String(route.status ?? 200);
    paths[openApiPath] ??= {};
    paths[openApiPath][route.method] = {
      summary: route.summary,
      tags: [route.tag],
      ...(parameters.length ? { parameters } : {}),
      ...(route.body
        ? {
            requestBody: {
              required: true,
              content: {
                'application/json': { schema: z.toJSONSchema(route.body, { io: 'input', unrepresentable: 'any' }) },
                ...(route.textBody ? { 'text/csv': { schema: { type: 'string' } } } : {}),
              },
            },
          }
        : {}),
      responses: {
        [status]: { description: status === '204' ? 'Done' : 'OK', ...(status === '204' ? {} : { content: { 'application/json': { schema: {} } } }) },
        '400': { $ref: '#/components/responses/Error' },
        '401': { $ref: '#/components/responses/Error' },
        '404': { $ref: '#/components/responses/Error' },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'MBS identity broker admin API', version: '1' },
    servers: [{ url: serverUrl }],
    security: [{ adminToken: [] }],
    paths,
    components: {
      securitySchemes: { adminToken: { type: 'http', scheme: 'bearer', description: 'one of the ADMIN_TOKEN values' } },
      responses: {
        Error: {
          description: 'An error with a stable wire code; validation errors name each field',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['error', 'error_description'],
                properties: { error: { type: 'string' }, error_description: { type: 'string' }, fields: { type: 'object', additionalProperties: { type: 'string' } } },
              },
            },
          },
        },
      },
    },
  };
}

export function adminApi(dependencies: AdminApiDependencies, serverUrl: string): { router: Router; routes: RouteDeclaration[]; notFound: (ctx: Context, next: Next) => Promise<void> } {
  // Paths match exactly as written: letter case and trailing slashes count.
  const router = new Router({ prefix: adminApiPrefix, sensitive: true, strict: true });
  const routes = declareRoutes(dependencies);
  const document = openApiDocument(routes, `${serverUrl}${adminApiPrefix}`);

  // Errors as JSON with a wire code, never a page or a stack trace.
  router.use(async (ctx: Context, next: Next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw adminRouteNotFound(ctx);
    } catch (error) {
      // Body-parser refusals keep their status (413 too large, 415 charset, 400 unreadable).
      const failure = describeFailure(error);
      if (failure.status >= 500) {
        dependencies.logger.error({ err: error, path: ctx.path }, 'admin API request failed');
        ctx.status = 500;
        ctx.body = { error: 'server_error', error_description: errorMessage('error.server_error') };
        return;
      }
      ctx.status = failure.status;
      ctx.body = isBrokerError(error) ? error.toJSON() : { error: failure.code, error_description: failure.message };
    }
  });

  router.get('/openapi.json', (ctx) => {
    ctx.body = document;
  });

  // The token check is part of each protected route's own middleware list, so
  // it runs wherever that route runs: a router-level check and the routes'
  // path matching once disagreed on letter case, and /ADMIN/api answered
  // without a token.
  async function authenticate(ctx: Context, next: Next): Promise<void> {
    const presented = /^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'))?.[1];
    // Compare with every configured token, so timing does not tell which matched.
    const matches = presented ? dependencies.tokens.map((token) => constantTimeEqual(presented, token)).includes(true) : false;
    if (!matches) {
      ctx.set('WWW-Authenticate', 'Bearer realm="mbs-broker-admin"');
      throw adminTokenRequired(dependencies.tokens.length > 0);
    }
    await next();
  }

  const json = bodyParser({ enableTypes: ['json', 'text'], extendTypes: { text: ['text/csv'] }, jsonLimit: '5mb', textLimit: '5mb' });
  for (const route of routes) {
    router[route.method](route.path, authenticate, json, async (ctx) => {
      const query = route.query ? route.query.safeParse(ctx.query) : undefined;
      if (query && !query.success) throw invalidInput('query', query.error.issues, 'query');
      let body: unknown = ctx.request.body;
      if (route.body) {
        if (!(route.textBody && typeof body === 'string')) {
          if (!ctx.is('application/json')) throw invalidRequest('error.json_body_required', { fields: { body: errorMessage('error.field.json_expected') } });
          const parsed = route.body.safeParse(body);
          if (!parsed.success) throw invalidInput('body', parsed.error.issues, 'body');
          body = parsed.data;
        }
      }
      const result = await route.handle({ params: ctx.params as Record<string, string>, query: query?.data ?? {}, body, ctx });
      if (route.status && ctx.status === 404) ctx.status = route.status;
      else if (ctx.status === 404) ctx.status = 200;
      if (result !== undefined) ctx.body = result;
    });
  }
  /** Any other path under /admin/api: a JSON 404, not the HTML one. */
  async function notFound(ctx: Context, next: Next): Promise<void> {
    if (ctx.path !== adminApiPrefix && !ctx.path.startsWith(`${adminApiPrefix}/`)) return next();
    ctx.status = 404;
    ctx.body = adminRouteNotFound(ctx).toJSON();
  }

  return { router, routes, notFound };
}
