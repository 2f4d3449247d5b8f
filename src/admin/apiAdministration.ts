// Registering the portals' APIs as resource servers (RFC 8707): the service
// the CLI (`mbs-broker apis …`) and the admin API share. Each change is one
// audit event naming the API's identifier.
import { z } from 'zod';
import { invalidInput, resourceServerExists, resourceServerNotFound } from '../errors.ts';
import { isLoopbackHost } from '../loopback.ts';
import { accessTokenFormats, type AccessTokenFormat, type ResourceServerRecord } from '../domain/records.ts';
import type { AuditEventRepository, ClientRepository, ResourceServerChanges, ResourceServerRepository } from '../store/store.ts';

/** The identifier is the `resource` value: an absolute https URI (http only on loopback), no fragment (RFC 8707 §2). */
const identifierSchema = z.string().trim().superRefine((value, context) => {
  const url = URL.parse(value);
  if (!url) return void context.addIssue({ code: 'custom', message: `"${value}" is not an absolute URI` });
  if (url.hash || value.includes('#')) context.addIssue({ code: 'custom', message: `"${value}" must not have a fragment` });
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    context.addIssue({ code: 'custom', message: `"${value}" must use https (http only on localhost)` });
  }
});

/**
 * Scope tokens (RFC 6749 §3.3). `openid` and `offline_access` steer the
 * provider itself (an ID token, a refresh token) and cannot belong to an API.
 */
const scopeSchema = z
  .string()
  .regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'a scope is printable ASCII without spaces, quotes or backslashes')
  .refine((scope) => scope !== 'openid' && scope !== 'offline_access', 'openid and offline_access cannot be scopes of an API');

const fields = {
  name: z.string().trim().min(1).max(200),
  scopes: z.array(scopeSchema).min(1, 'at least one scope is required').max(100),
  tokenFormat: z.enum(accessTokenFormats as [AccessTokenFormat, ...AccessTokenFormat[]], { message: 'token format must be jwt or opaque' }),
  accessTokenTtl: z.number().int().min(30, 'the access token lifetime is 30 to 86400 seconds').max(86_400, 'the access token lifetime is 30 to 86400 seconds'),
  allowedClients: z.array(z.string().min(1)).max(100),
};

const newApiSchema = z
  .object({
    identifier: identifierSchema,
    name: fields.name,
    scopes: fields.scopes,
    tokenFormat: fields.tokenFormat.default('jwt'),
    accessTokenTtl: fields.accessTokenTtl.default(300),
    allowedClients: fields.allowedClients.default([]),
  })
  .strict();

const apiChangesSchema = z
  .object({
    name: fields.name.optional(),
    scopes: fields.scopes.optional(),
    tokenFormat: fields.tokenFormat.optional(),
    accessTokenTtl: fields.accessTokenTtl.optional(),
    allowedClients: fields.allowedClients.optional(),
  })
  .strict();

export type NewApi = z.input<typeof newApiSchema>;
export type ApiChanges = z.input<typeof apiChangesSchema>;

export class ApiAdministration {
  readonly #apis: ResourceServerRepository;
  readonly #clients: ClientRepository;
  readonly #audit: AuditEventRepository;
  readonly #actor: string;

  constructor(parts: { apis: ResourceServerRepository; clients: ClientRepository; audit: AuditEventRepository }, actor: string) {
    this.#apis = parts.apis;
    this.#clients = parts.clients;
    this.#audit = parts.audit;
    this.#actor = actor;
  }

  async register(input: NewApi): Promise<ResourceServerRecord> {
    const parsed = newApiSchema.safeParse(input);
    if (!parsed.success) throw invalidInput('api', parsed.error.issues);
    const api = parsed.data;
    await this.#checkClients(api.allowedClients);
    if (await this.#apis.find(api.identifier)) throw resourceServerExists(api.identifier);
    const created = await this.#apis.create({ ...api, scopes: unique(api.scopes), allowedClients: unique(api.allowedClients) });
    await this.#record('resource_server.created', api.identifier, { scopes: created.scopes, tokenFormat: created.tokenFormat, allowedClients: created.allowedClients });
    return created;
  }

  /** Changes name, scopes, token format, lifetime or allowed clients; a token already issued keeps what it was issued with. */
  async update(identifier: string, input: ApiChanges): Promise<ResourceServerRecord> {
    const parsed = apiChangesSchema.safeParse(input);
    if (!parsed.success) throw invalidInput('api', parsed.error.issues);
    const changes: ResourceServerChanges = { ...parsed.data };
    if (changes.scopes) changes.scopes = unique(changes.scopes);
    if (changes.allowedClients) {
      await this.#checkClients(changes.allowedClients);
      changes.allowedClients = unique(changes.allowedClients);
    }
    const updated = await this.#apis.update(identifier, changes);
    if (!updated) throw resourceServerNotFound(identifier);
    await this.#record('resource_server.updated', identifier, { fields: Object.keys(parsed.data) });
    return updated;
  }

  list(): Promise<ResourceServerRecord[]> {
    return this.#apis.list();
  }

  async show(identifier: string): Promise<ResourceServerRecord> {
    const api = await this.#apis.find(identifier);
    if (!api) throw resourceServerNotFound(identifier);
    return api;
  }

  /** Tokens already issued for the API stay valid until they expire; no new ones are issued. */
  async remove(identifier: string): Promise<void> {
    if (!(await this.#apis.remove(identifier))) throw resourceServerNotFound(identifier);
    await this.#record('resource_server.removed', identifier);
  }

  /** Every allowed client must be registered: a typo would otherwise silently allow nobody. */
  async #checkClients(clientIds: readonly string[]): Promise<void> {
    const unknown: string[] = [];
    for (const clientId of clientIds) if (!(await this.#clients.find(clientId))) unknown.push(clientId);
    if (unknown.length > 0) throw invalidInput('api', [{ path: ['allowedClients'], message: `no client with id ${unknown.join(', ')}` }]);
  }

  async #record(type: string, identifier: string, details: Record<string, unknown> = {}): Promise<void> {
    await this.#audit.record({ type, outcome: 'success', actor: this.#actor, details: { identifier, ...details } });
  }
}

const unique = (values: readonly string[]): string[] => [...new Set(values)];
