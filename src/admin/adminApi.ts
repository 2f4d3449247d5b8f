// The admin HTTP API under /admin/api: JSON over the same administration
// services the CLI uses, behind bearer tokens: the ADMIN_TOKEN values
// (compared in constant time; several may be configured for rotation) act
// as role admin, tokens issued with `admins tokens issue --role …` (stored
// hashed) act with their role. Every route is declared once, with its zod
// schemas and the roles it admits (admin always), and the OpenAPI 3.1
// document at /admin/api/openapi.json is generated from those declarations.
import { Readable } from 'node:stream';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import { z } from 'zod';
import { adminTokenRequired, errorMessage, invalidInput, invalidRequest, isBrokerError, notFound as notFoundError, BrokerError } from '../errors.ts';
import type { Logger } from '../logging.ts';
import { locales } from '../i18n.ts';
import { constantTimeEqual } from '../secrets.ts';
import { describeFailure } from '../web/errorAnswers.ts';
import type { AdminRole } from '../domain/records.ts';
import type { Acting } from './acting.ts';
import type { AdminServices } from './adminServices.ts';
import { roleAdmits } from './roles.ts';
import { grantTypes } from './clientAdministration.ts';
import { addressReportJson, apiJson, auditJson, clientJson, dashboardJson, linkJson, outboxJson, peopleFoundJson, personDetailsJson, profileJson, signingKeyJson } from './recordJson.ts';

export const adminApiPrefix = '/admin/api';

const adminRouteNotFound = (ctx: Context): BrokerError =>
  notFoundError('error.admin_route_not_found', { messageValues: { method: ctx.method, path: ctx.path } });

/** The administration services for each caller, and who may call them. */
export interface AdminApiDependencies {
  /** The services acting for one caller (surface 'admin-api', with the token's id when it is a stored one). */
  servicesFor(acting: Acting): AdminServices;
  /** The ADMIN_TOKEN values: role admin. */
  tokens: string[];
  /** A stored token's role and id, by the bearer value presented. */
  storedToken(presented: string): Promise<{ id: string; role: AdminRole } | undefined>;
  logger: Logger;
}

/** Who called, once the bearer token checked out. */
interface ApiCaller {
  role: AdminRole;
  tokenId: string | undefined;
}

const paging = {
  limit: z.coerce.number().int().min(1).max(500).default(50).describe('page size (1–500)'),
  offset: z.coerce.number().int().min(0).default(0).describe('items to skip'),
};

const timestamp = z.iso.datetime({ offset: true }).describe('ISO 8601 date-time');

const auditFilters = {
  type: z.string().optional(),
  actor: z.string().optional().describe('the surface that acted: cli, admin-api, console, user'),
  account: z.string().optional(),
  profile: z.string().optional(),
  client: z.string().optional(),
  since: timestamp.optional(),
  until: timestamp.optional(),
};

/** The audit filters of a query, times as epoch milliseconds. */
const auditQuery = <Query extends { since?: string | undefined; until?: string | undefined }>(query: Query) => ({
  ...query,
  since: query.since ? Date.parse(query.since) : undefined,
  until: query.until ? Date.parse(query.until) : undefined,
});

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
    subjectType: z.enum(['public', 'pairwise']).optional().describe('public (default): sub is the broker account id; pairwise: one sub per portal (OpenID Connect Core §8.1)'),
    requirePushedAuthorizationRequests: z.boolean().optional().describe('refuse plain authorization requests: only pushed ones (RFC 9126)'),
    fapiProfile: z.enum(['2.0']).optional().describe('hold the client to the FAPI 2.0 Security Profile: PAR, PKCE, DPoP-bound tokens, private_key_jwt (needs jwks or jwksUri)'),
    jwks: z.object({ keys: z.array(z.looseObject({ kty: z.string() })) }).optional().describe('the client’s public keys (JWK Set): it authenticates with private_key_jwt and gets no secret'),
    jwksUri: z.string().optional().describe('where the client publishes its public keys (instead of jwks)'),
    dpopBoundAccessTokens: z.boolean().optional().describe('every token request must carry a DPoP proof (RFC 9449 dpop_bound_access_tokens)'),
  })
  .strict();

const clientChanges = z
  .object({
    name: z.string().optional(),
    portal: z.enum(['partnersource', 'customersource', 'both']).optional(),
    redirectUris: z.array(z.string()).min(1).optional(),
    postLogoutRedirectUris: z.array(z.string()).optional(),
    backchannelLogoutUri: z.string().optional(),
    grantTypes: z.array(z.enum(grantTypes)).optional(),
    profileSelection: z.enum(['ask', 'all']).optional(),
    subjectType: z.enum(['public', 'pairwise']).optional(),
    requirePushedAuthorizationRequests: z.boolean().optional(),
    dpopBoundAccessTokens: z.boolean().optional(),
  })
  .strict();

const apiFields = {
  name: z.string(),
  scopes: z.array(z.string()).min(1).describe('the scopes the API accepts'),
  tokenFormat: z.enum(['jwt', 'opaque']).describe('jwt (RFC 9068, the default) or opaque (introspected)'),
  accessTokenTtl: z.number().int().describe('seconds (30–86400; default 300)'),
  allowedClients: z.array(z.string()).describe('clients that may get tokens for it by client credentials or token exchange'),
};

const apiBody = z
  .object({ identifier: z.string().describe('absolute https URI without a fragment'), ...apiFields, tokenFormat: apiFields.tokenFormat.optional(), accessTokenTtl: apiFields.accessTokenTtl.optional(), allowedClients: apiFields.allowedClients.optional() })
  .strict();

const apiChanges = z.object(apiFields).partial().strict();

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
  /** Roles besides admin that may call it; none: admin only. */
  roles?: readonly AdminRole[];
  handle(input: { params: Record<string, string>; query: Record<string, unknown>; body: unknown; ctx: Context; services: AdminServices }): Promise<unknown>;
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
    services: AdminServices;
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

/** Support desks read and fix people, bindings, links and emails; auditors read the audit log. */
const support = ['support'] as const;
const readers = ['support', 'auditor'] as const;

function declareRoutes(): RouteDeclaration[] {
  return [
    // Clients.
    route({ method: 'post', path: '/clients', tag: 'clients', summary: 'Register a client; a confidential client’s secret is returned once', body: clientBody, status: 201,
      handle: async ({ body, services }) => {
        const registered = await services.clients.register(body);
        return { ...clientJson(registered.client), ...(registered.clientSecret ? { client_secret: registered.clientSecret } : {}) };
      } }),
    route({ method: 'get', path: '/clients', tag: 'clients', summary: 'List clients, or those whose id, name, portal or a redirect URI contains `search` (secrets are never shown)',
      query: z.object({ search: z.string().max(200).optional().describe('text to look for, letter case ignored') }),
      handle: async ({ query, services }) => ({ items: (await services.clients.search(query.search ?? '')).map(clientJson) }) }),
    { method: 'get', path: '/clients/:clientId', tag: 'clients', summary: 'Show a client', handle: async ({ params, services }) => clientJson(await services.clients.show(params.clientId!)) },
    route({ method: 'patch', path: '/clients/:clientId', tag: 'clients', summary: 'Change name, portal, redirect and logout URIs, grant types, profile selection or subject type', body: clientChanges,
      handle: async ({ params, body, services }) => clientJson(await services.clients.update(params.clientId!, body)) }),
    { method: 'post', path: '/clients/:clientId/rotate-secret', tag: 'clients', summary: 'Replace the secret; the new one is returned once',
      handle: async ({ params, services }) => {
        const rotated = await services.clients.rotateSecret(params.clientId!);
        return { ...clientJson(rotated.client), client_secret: rotated.clientSecret };
      } },
    { method: 'post', path: '/clients/:clientId/disable', tag: 'clients', summary: 'Disable a client: it can no longer sign anyone in or get tokens',
      handle: async ({ params, services }) => clientJson(await services.clients.setDisabled(params.clientId!, true)) },
    { method: 'post', path: '/clients/:clientId/enable', tag: 'clients', summary: 'Enable a disabled client', handle: async ({ params, services }) => clientJson(await services.clients.setDisabled(params.clientId!, false)) },
    { method: 'delete', path: '/clients/:clientId', tag: 'clients', summary: 'Delete a client', status: 204,
      handle: async ({ params, services }) => {
        await services.clients.remove(params.clientId!);
        return undefined;
      } },

    // APIs (resource servers, RFC 8707); the identifier in a path is URL-encoded.
    route({ method: 'post', path: '/apis', tag: 'apis', summary: 'Register an API as a resource server: its identifier is the `resource` value and the tokens’ `aud`', body: apiBody, status: 201,
      handle: async ({ body, services }) => apiJson(await services.apis.register(body)) }),
    { method: 'get', path: '/apis', tag: 'apis', summary: 'List registered APIs', handle: async ({ services }) => ({ items: (await services.apis.list()).map(apiJson) }) },
    { method: 'get', path: '/apis/:identifier', tag: 'apis', summary: 'Show an API (its identifier URL-encoded)', handle: async ({ params, services }) => apiJson(await services.apis.show(params.identifier!)) },
    route({ method: 'patch', path: '/apis/:identifier', tag: 'apis', summary: 'Change name, scopes, token format, lifetime or allowed clients (lists replace the stored ones)', body: apiChanges,
      handle: async ({ params, body, services }) => apiJson(await services.apis.update(params.identifier!, body)) }),
    { method: 'delete', path: '/apis/:identifier', tag: 'apis', summary: 'Remove an API; tokens issued for it live until they expire', status: 204,
      handle: async ({ params, services }) => {
        await services.apis.remove(params.identifier!);
        return undefined;
      } },

    route({ method: 'post', path: '/initial-access-tokens', tag: 'clients', summary: 'Issue an initial access token for dynamic registration (RFC 7591); clients registered with it belong to its portal. Returned once.',
      body: z.object({ portal: z.enum(['partnersource', 'customersource', 'both']), expiresInSeconds: z.number().int().min(60).max(30 * 24 * 3600).default(86_400) }).strict(), status: 201,
      handle: async ({ body, services }) => {
        const { portal, expiresInSeconds } = body;
        const issued = await services.initialAccessTokens.issue(portal, expiresInSeconds);
        return { initial_access_token: issued.token, portal, expires_at: new Date(issued.expiresAt).toISOString() };
      } }),

    // Profiles.
    { method: 'post', path: '/profiles/import', tag: 'profiles', summary: 'Import profiles from CSV (text/csv) or JSON (an array of profiles)', textBody: true,
      body: z.array(profileBody.extend({ id: z.string() })).describe('or a CSV text with the header id,portal,email,display_name,organization,roles'),
      handle: async ({ ctx, body, services }) => {
        const csv = typeof body === 'string';
        return services.directory.importProfiles(csv ? 'import.csv' : 'import.json', csv ? body : JSON.stringify(body), 'admin-api');
      } },
    { method: 'post', path: '/profiles/import/preview', tag: 'profiles', summary: 'What importing the file would do (created, updated, unchanged, rejected with line numbers), changing nothing', textBody: true,
      body: z.array(z.unknown()).describe('the same CSV or JSON as /profiles/import'),
      handle: async ({ body, services }) => (typeof body === 'string' ? services.directory.previewImport('import.csv', body) : services.directory.previewImport('import.json', JSON.stringify(body))) },
    route({ method: 'put', path: '/profiles/:profileId', tag: 'profiles', summary: 'Create or replace one profile', body: profileBody,
      handle: async ({ params, body, ctx, services }) => {
        const { outcome, profile } = await services.directory.upsertProfile({ ...body, id: params.profileId }, 'admin-api');
        if (outcome === 'created') ctx.status = 201;
        return profile;
      } }),
    route({ method: 'get', path: '/profiles', tag: 'profiles', roles: support, summary: 'List profiles, optionally by email or by organization', query: z.object({ ...paging, email: z.string().optional().describe('normalised email'), organization: z.string().max(200).optional().describe('text the organization contains, letter case ignored') }),
      handle: async ({ query, services }) => pageOf(await services.directory.listProfiles(query), query, (profile) => profile) }),
    { method: 'delete', path: '/profiles/:profileId', tag: 'profiles', summary: 'Delete a profile and its binding', status: 204,
      handle: async ({ params, services }) => {
        await services.directory.removeProfile(params.profileId!, 'admin-api');
        return undefined;
      } },

    // Bindings.
    route({ method: 'get', path: '/bindings', tag: 'bindings', roles: support, summary: 'List bindings by account, profile or email',
      query: z.object({ ...paging, account: z.string().optional(), profile: z.string().optional(), email: z.string().optional() }),
      handle: async ({ query, services }) =>
        pageOf(
          await services.directory.listBindings(query),
          query,
          (binding) => binding,
        ) }),
    { method: 'delete', path: '/bindings/:profileId', tag: 'bindings', roles: support, summary: 'Unbind a profile', status: 204,
      handle: async ({ params, services }) => {
        await services.directory.unbind(params.profileId!, 'admin-api');
        return undefined;
      } },

    // People (the support desk).
    route({ method: 'get', path: '/people', tag: 'people', roles: support, summary: 'Find people by MBS email, profile id or upstream subject (exactly one); profiles of the query bound to nobody are listed apart',
      query: z.object({ email: z.string().max(320).optional(), profile: z.string().max(255).optional(), subject: z.string().max(255).optional() }),
      handle: async ({ query, services }) => peopleFoundJson(await services.people.find(query)) }),
    { method: 'get', path: '/people/:accountId', tag: 'people', roles: support, summary: 'A person: account, upstream identities, bound profiles, last sign-ins and live sessions',
      handle: async ({ params, services }) => personDetailsJson(await services.people.details(params.accountId!)) },
    route({ method: 'post', path: '/people/:accountId/bindings', tag: 'people', roles: support, summary: 'Bind a profile to the person on their behalf; the reason is required and kept in the audit log', status: 201,
      body: z.object({ profileId: z.string(), reason: z.string() }).strict(),
      handle: async ({ params, body, services }) => {
        const bound = await services.people.bindOnBehalf(params.accountId!, body);
        return { profile: profileJson(bound.profile), moved_from: bound.movedFrom ?? null };
      } }),
    { method: 'delete', path: '/people/:accountId/bindings/:profileId', tag: 'people', roles: support, summary: 'Unbind one of the person’s profiles', status: 204,
      handle: async ({ params, services }) => {
        await services.people.unbind(params.accountId!, params.profileId!);
        return undefined;
      } },
    { method: 'post', path: '/people/:accountId/revoke-sessions', tag: 'people', roles: support, summary: 'End the person’s sessions, grants and tokens everywhere (portals are told by back-channel logout)',
      handle: async ({ params, services }) => ({ removed: await services.people.revokeSessions(params.accountId!) }) },

    // Emails and links (the support desk).
    route({ method: 'get', path: '/emails', tag: 'emails', roles: support, summary: 'For one address: its profiles, the emails queued and sent (with the SMTP server’s answer, never the body) and the pending links',
      query: z.object({ address: z.string().min(1).max(320).describe('the MBS email address') }),
      handle: async ({ query, services }) => addressReportJson(await services.emails.forAddress(query.address)) }),

    // Link requests.
    route({ method: 'get', path: '/link-requests', tag: 'link requests', roles: support, summary: 'List pending association links (tokens are never stored, so never shown)', query: z.object({ ...paging }),
      handle: async ({ query, services }) => pageOf(await services.directory.listPendingLinks(query), query, linkJson) }),
    { method: 'post', path: '/link-requests/:linkId/revoke', tag: 'link requests', roles: support, summary: 'Revoke an unused association link', status: 204,
      handle: async ({ params, services }) => {
        await services.directory.revokeLink(params.linkId!, 'admin-api');
        return undefined;
      } },

    route({ method: 'post', path: '/link-requests/:linkId/resend', tag: 'link requests', roles: support, summary: 'Send a pending link again: a new link replaces it (within the link request rate limits) and its email is queued', status: 201,
      body: z.object({ locale: z.enum(locales).default('en').describe('language of the email') }).strict(),
      handle: async ({ params, body, services }) => linkJson(await services.emails.resendLink(params.linkId!, body.locale)) }),

    // Outbox.
    route({ method: 'get', path: '/outbox', tag: 'outbox', roles: support, summary: 'List queued and sent emails (bodies are never shown)', query: z.object({ ...paging, pending: z.enum(['true', 'false']).optional() }),
      handle: async ({ query, services }) => pageOf(await services.outbox.list({ limit: query.limit, offset: query.offset, pending: query.pending === 'true' }), query, outboxJson) }),
    { method: 'post', path: '/outbox/:messageId/retry', tag: 'outbox', roles: support, summary: 'Make an unsent email due now', status: 204,
      handle: async ({ params, services }) => {
        await services.outbox.retry(params.messageId!);
        return undefined;
      } },

    // Keys.
    { method: 'get', path: '/signing-keys', tag: 'keys', summary: 'List token signing keys (public details only; active keys sign, retired keys still verify)',
      handle: async ({ services }) => ({ items: (await services.keys.list()).map(signingKeyJson) }) },
    { method: 'post', path: '/signing-keys/rotate', tag: 'keys', summary: 'Add a new signing key per algorithm: published by every instance within KEY_REFRESH_INTERVAL, signing after twice that; old keys keep verifying',
      handle: async ({ services }) => {
        return { items: (await services.keys.rotateSigningKeys()).map(signingKeyJson) };
      } },
    { method: 'post', path: '/cookie-keys/rotate', tag: 'keys', summary: 'Add a new cookie key: it signs cookies after twice KEY_REFRESH_INTERVAL; older keys keep verifying', status: 204,
      handle: async ({ services }) => {
        await services.keys.rotateCookieKey();
        return undefined;
      } },

    // Audit events.
    route({ method: 'get', path: '/audit-events', tag: 'audit', roles: readers, summary: 'Audit events, newest first, filtered by type, actor, account, profile, client and time range',
      query: z.object({ ...paging, ...auditFilters }),
      handle: async ({ query, services }) => pageOf(await services.directory.listAuditEvents(auditQuery(query)), query, auditJson) }),
    route({ method: 'get', path: '/audit-events.csv', tag: 'audit', roles: readers, summary: 'The filtered audit events as CSV (all of them, newest first, streamed; cells a spreadsheet would run as formulas are prefixed with an apostrophe)',
      query: z.object(auditFilters),
      handle: async ({ query, ctx, services }) => {
        ctx.type = 'text/csv; charset=utf-8';
        ctx.attachment('audit-events.csv');
        return Readable.from(services.directory.exportAuditEvents(auditQuery(query)));
      } }),

    // The dashboard.
    route({ method: 'get', path: '/dashboard', tag: 'dashboard', roles: readers, summary: 'Sign-ins per day, the association funnel, email delivery health and active sessions over the last `days` days',
      query: z.object({ days: z.coerce.number().int().min(1).max(90).default(14).describe('days, today included (1–90)') }),
      handle: async ({ query, services }) => dashboardJson(await services.dashboard.dashboard(query.days)) }),
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
      // The roles whose tokens may call it (ADMIN_TOKEN acts as admin).
      'x-mbs-roles': ['admin', ...(route.roles ?? [])],
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
        '403': { $ref: '#/components/responses/Error' },
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
      securitySchemes: { adminToken: { type: 'http', scheme: 'bearer', description: 'an ADMIN_TOKEN value (role admin), or a token issued with `mbs-broker admins tokens issue --role …` (its role; see x-mbs-roles per operation)' } },
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
  const routes = declareRoutes();
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
  async function caller(ctx: Context): Promise<ApiCaller | undefined> {
    const presented = /^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'))?.[1];
    if (!presented) return undefined;
    // Compare with every configured token, so timing does not tell which matched.
    if (dependencies.tokens.map((token) => constantTimeEqual(presented, token)).includes(true)) return { role: 'admin', tokenId: undefined };
    // A stored token is found by its hash: the lookup reveals nothing of the token.
    const stored = await dependencies.storedToken(presented);
    return stored ? { role: stored.role, tokenId: stored.id } : undefined;
  }

  /** The bearer token, then the role the route admits: 401 without a valid token, 403 for a role the route does not admit. */
  const authenticate = (route: RouteDeclaration) => async (ctx: Context, next: Next): Promise<void> => {
    const found = await caller(ctx);
    if (!found) {
      ctx.set('WWW-Authenticate', 'Bearer realm="mbs-broker-admin"');
      throw adminTokenRequired(dependencies.tokens.length > 0);
    }
    if (!roleAdmits(found.role, route.roles ?? [])) {
      throw new BrokerError('forbidden', 'error.token_role_refused', { detail: `${found.role} token on ${route.method} ${route.path}`, messageValues: { role: found.role } });
    }
    ctx.state.services = dependencies.servicesFor({ surface: 'admin-api', tokenId: found.tokenId });
    await next();
  };

  const json = bodyParser({ enableTypes: ['json', 'text'], extendTypes: { text: ['text/csv'] }, jsonLimit: '5mb', textLimit: '5mb' });
  for (const route of routes) {
    router[route.method](route.path, authenticate(route), json, async (ctx) => {
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
      const result = await route.handle({ params: ctx.params as Record<string, string>, query: query?.data ?? {}, body, ctx, services: ctx.state.services as AdminServices });
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
