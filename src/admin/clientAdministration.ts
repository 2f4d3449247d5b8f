// Registering relying parties (the portals and other apps): the service the
// CLI and the admin API share. Secrets are generated here, shown once to the
// caller, and only their hash is stored.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { clientExists, clientNotFound, errorMessage, invalidInput, invalidRequest, type BrokerError } from '../errors.ts';
import { generateSecret, secretHash } from '../secrets.ts';
import { clientPortals, fapiProfiles, profileSelections, subjectTypes, type ClientPortal, type ClientRecord } from '../domain/records.ts';
import type { AuditEventRepository, ClientRepository } from '../store/store.ts';
import { isLoopbackHost } from '../loopback.ts';


const redirectUri = z.string().superRefine((value, context) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    context.addIssue({ code: 'custom', message: `"${value}" is not an absolute URL` });
    return;
  }
  if (url.hash) context.addIssue({ code: 'custom', message: `"${value}" must not have a fragment` });
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    context.addIssue({ code: 'custom', message: `"${value}" must use https (http only on localhost)` });
  }
});

/** JWK parameters of private or symmetric keys, which a client's public key set never carries. */
const privateKeyParameters = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

/** A client's public keys (RFC 7517 JWK Set), for private_key_jwt client authentication. */
const publicKeySet = z.object({
  keys: z
    .array(z.looseObject({ kty: z.string() }))
    .min(1, 'a key set needs at least one key')
    .refine((keys) => keys.every((key) => privateKeyParameters.every((parameter) => !(parameter in key))), 'a client key set must hold public keys only'),
});

/** The last one is token exchange (RFC 8693): a portal's backend trades a person's token for one to an API. */
export const grantTypes = ['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange'] as const;
export type GrantType = (typeof grantTypes)[number];

const newClientSchema = z.object({
  id: z.string().trim().regex(/^[A-Za-z0-9._~-]{3,128}$/, 'client id: 3–128 letters, digits or . _ ~ -').optional(),
  name: z.string().trim().min(1).max(200).optional(),
  portal: z.enum(clientPortals as ['partnersource', 'customersource', 'both'], { message: 'portal must be partnersource, customersource or both' }),
  redirectUris: z.array(redirectUri).min(1, 'at least one redirect URI is required'),
  postLogoutRedirectUris: z.array(redirectUri).default([]),
  public: z.boolean().default(false),
  firstParty: z.boolean().default(false),
  /** `ask` (the default): a person with several profiles of the portal picks one; `all`: the list alone. */
  profileSelection: z.enum(profileSelections as ['ask', 'all'], { message: 'profile selection must be ask or all' }).optional(),
  /** `pairwise`: the client sees one `sub` per portal instead of the account id (README, "Pairwise subjects"). */
  subjectType: z.enum(subjectTypes as ['public', 'pairwise'], { message: 'subject type must be public or pairwise' }).optional(),
  grantTypes: z.array(z.enum(grantTypes)).default(['authorization_code', 'refresh_token']),
  /** Every token request must carry a DPoP proof, and the tokens are bound to its key (RFC 9449 §5.2, `dpop_bound_access_tokens`). */
  dpopBoundAccessTokens: z.boolean().optional(),
  /** Where the portal hears of sign-outs (OpenID Connect Back-Channel Logout). */
  backchannelLogoutUri: redirectUri.optional(),
  /** Refuse plain authorization requests: only pushed ones (RFC 9126). */
  requirePushedAuthorizationRequests: z.boolean().optional(),
  /** Hold the client to the FAPI 2.0 Security Profile (README, "FAPI 2.0 clients"); needs a key set. */
  fapiProfile: z.enum(fapiProfiles as ['2.0'], { message: 'FAPI profile must be 2.0' }).optional(),
  /** The client's public keys, inline or at a URL: it then authenticates with private_key_jwt and gets no secret. */
  jwks: publicKeySet.optional(),
  jwksUri: redirectUri.optional(),
}).superRefine((request, context) => {
  // Registrations that contradict themselves: two key sets, a public client with keys, a FAPI client without keys.
  const withKeys = Boolean(request.jwks || request.jwksUri);
  if (request.jwks && request.jwksUri) context.addIssue({ code: 'custom', path: ['jwks'], message: 'give jwks or jwksUri, not both' });
  if (request.public && withKeys) context.addIssue({ code: 'custom', path: ['jwks'], message: 'a public client has no keys' });
  if (request.fapiProfile && !withKeys) context.addIssue({ code: 'custom', path: ['fapiProfile'], message: 'a FAPI 2.0 client authenticates with private_key_jwt: give jwks or jwksUri' });
});

/** How a client authenticates at the token endpoint, from what it registered. */
function tokenEndpointAuthMethod(request: Pick<z.output<typeof newClientSchema>, 'public' | 'jwks' | 'jwksUri'>): string {
  if (request.public) return 'none';
  return request.jwks || request.jwksUri ? 'private_key_jwt' : 'client_secret_basic';
}

/** A secret, shown once, for a client that authenticates with one. */
const newSecretFor = (request: z.output<typeof newClientSchema>): string | undefined => (tokenEndpointAuthMethod(request) === 'client_secret_basic' ? generateSecret(32) : undefined);

/** A public client (no secret, no keys): it proves nothing at the token endpoint. */
export const isPublicClient = (client: ClientRecord): boolean => !client.secretHash && client.metadata.token_endpoint_auth_method !== 'private_key_jwt';

export type NewClient = z.input<typeof newClientSchema>;

export interface RegisteredClient {
  client: ClientRecord;
  /** Shown once; only its hash is stored. Undefined for public clients. */
  clientSecret: string | undefined;
}

const validationError = (error: z.ZodError): BrokerError => invalidInput('client', error.issues);

/** The oidc-provider metadata of a validated registration request. */
function clientMetadataOf(request: z.output<typeof newClientSchema>): Record<string, unknown> {
  return {
    ...(request.name ? { client_name: request.name } : {}),
    redirect_uris: request.redirectUris,
    post_logout_redirect_uris: request.postLogoutRedirectUris,
    grant_types: request.grantTypes,
    response_types: request.grantTypes.includes('authorization_code') ? ['code'] : [],
    token_endpoint_auth_method: tokenEndpointAuthMethod(request),
    ...(request.jwks ? { jwks: request.jwks } : {}),
    ...(request.jwksUri ? { jwks_uri: request.jwksUri } : {}),
    ...(request.requirePushedAuthorizationRequests !== undefined ? { require_pushed_authorization_requests: request.requirePushedAuthorizationRequests } : {}),
    ...(request.fapiProfile ? { fapi_profile: request.fapiProfile, require_pushed_authorization_requests: true, dpop_bound_access_tokens: true, id_token_signed_response_alg: 'ES256' } : {}),
    ...(request.backchannelLogoutUri ? { backchannel_logout_uri: request.backchannelLogoutUri, backchannel_logout_session_required: true } : {}),
    ...(request.profileSelection ? { profile_selection: request.profileSelection } : {}),
    ...(request.subjectType ? { subject_type: request.subjectType } : {}),
    ...(request.dpopBoundAccessTokens ? { dpop_bound_access_tokens: true } : {}),
  };
}

const clientChangesSchema = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    portal: newClientSchema.shape.portal.optional(),
    redirectUris: z.array(redirectUri).min(1, 'at least one redirect URI is required').optional(),
    postLogoutRedirectUris: z.array(redirectUri).optional(),
    backchannelLogoutUri: redirectUri.optional(),
    grantTypes: z.array(z.enum(grantTypes)).min(1, 'at least one grant type is required').optional(),
    profileSelection: newClientSchema.shape.profileSelection,
    subjectType: newClientSchema.shape.subjectType,
    requirePushedAuthorizationRequests: z.boolean().optional(),
    dpopBoundAccessTokens: newClientSchema.shape.dpopBoundAccessTokens,
  })
  .strict();

export type ClientChanges = z.input<typeof clientChangesSchema>;

export class ClientAdministration {
  readonly #clients: ClientRepository;
  readonly #audit: AuditEventRepository | undefined;
  readonly #actor: string;

  /** Admin changes become audit events with `actor` when an audit repository is given. */
  constructor(clients: ClientRepository, audit?: AuditEventRepository, actor = 'cli') {
    this.#clients = clients;
    this.#audit = audit;
    this.#actor = actor;
  }

  async #record(type: string, clientId: string, details?: Record<string, unknown>): Promise<void> {
    await this.#audit?.record({ type, outcome: 'success', actor: this.#actor, clientId, ...(details ? { details } : {}) });
  }

  /** Changes a client's name, portal, redirect and logout URIs or grant types. */
  async update(id: string, input: ClientChanges): Promise<ClientRecord> {
    const parsed = clientChangesSchema.safeParse(input);
    if (!parsed.success) throw validationError(parsed.error);
    const changes = parsed.data;
    const client = await this.show(id);
    const metadata: Record<string, unknown> = { ...client.metadata };
    if (changes.name !== undefined) metadata.client_name = changes.name;
    if (changes.redirectUris) metadata.redirect_uris = changes.redirectUris;
    if (changes.postLogoutRedirectUris) metadata.post_logout_redirect_uris = changes.postLogoutRedirectUris;
    if (changes.profileSelection) metadata.profile_selection = changes.profileSelection;
    if (changes.subjectType) metadata.subject_type = changes.subjectType;
    // A FAPI client keeps PAR required: the provider re-imposes it on every load.
    if (changes.requirePushedAuthorizationRequests !== undefined) metadata.require_pushed_authorization_requests = changes.requirePushedAuthorizationRequests || metadata.fapi_profile !== undefined;
    if (changes.dpopBoundAccessTokens !== undefined) metadata.dpop_bound_access_tokens = changes.dpopBoundAccessTokens;
    if (changes.backchannelLogoutUri) {
      metadata.backchannel_logout_uri = changes.backchannelLogoutUri;
      metadata.backchannel_logout_session_required = true;
    }
    if (changes.grantTypes) {
      if (isPublicClient(client) && changes.grantTypes.includes('client_credentials')) {
        throw invalidRequest('error.client_credentials_public', { fields: { grantTypes: 'client_credentials needs a confidential client' } });
      }
      metadata.grant_types = changes.grantTypes;
      metadata.response_types = changes.grantTypes.includes('authorization_code') ? ['code'] : [];
    }
    const updated = await this.#clients.update(id, { metadata, ...(changes.portal ? { portal: changes.portal } : {}) });
    if (!updated) throw clientNotFound(id);
    await this.#record('client.updated', id, { fields: Object.keys(changes) });
    return updated;
  }

  /** A disabled client keeps its registration but cannot sign anyone in or get tokens. */
  async setDisabled(id: string, disabled: boolean): Promise<ClientRecord> {
    await this.show(id);
    const updated = await this.#clients.update(id, { disabledAt: disabled ? Date.now() : undefined });
    if (!updated) throw clientNotFound(id);
    await this.#record(disabled ? 'client.disabled' : 'client.enabled', id);
    return updated;
  }

  async register(input: NewClient): Promise<RegisteredClient> {
    const parsed = newClientSchema.safeParse(input);
    if (!parsed.success) throw validationError(parsed.error);
    const request = parsed.data;
    if (request.public && request.grantTypes.includes('client_credentials')) {
      throw invalidRequest('error.client_public_credentials', { fields: { grantTypes: errorMessage('error.field.client_credentials_confidential') } });
    }
    const id = request.id ?? randomUUID();
    if (await this.#clients.find(id)) throw clientExists(id);
    const clientSecret = newSecretFor(request);
    const metadata = clientMetadataOf(request);
    const client = await this.#clients.create({
      id,
      metadata,
      portal: request.portal,
      firstParty: request.firstParty,
      secretHash: clientSecret ? secretHash(clientSecret) : undefined,
    });
    await this.#record('client.created', id, { portal: request.portal, firstParty: request.firstParty });
    return { client, clientSecret };
  }

  /**
   * Registers the client, or when its id exists replaces its registration
   * and gives it a fresh secret (for clients the broker registers itself,
   * like the development demo portals, whose secret lives only in memory).
   */
  async registerOrReplace(input: NewClient & { id: string }): Promise<RegisteredClient> {
    if (!(await this.#clients.find(input.id))) return this.register(input);
    const parsed = newClientSchema.safeParse(input);
    if (!parsed.success) throw validationError(parsed.error);
    const request = parsed.data;
    const clientSecret = newSecretFor(request);
    const client = await this.#clients.update(input.id, {
      metadata: clientMetadataOf(request),
      portal: request.portal,
      firstParty: request.firstParty,
      secretHash: clientSecret ? secretHash(clientSecret) : undefined,
    });
    if (!client) throw clientNotFound(input.id);
    return { client, clientSecret };
  }

  list(): Promise<ClientRecord[]> {
    return this.#clients.list();
  }

  /**
   * Clients whose id, name, portal or a redirect URI contains `text`
   * (letter case ignored); all of them for an empty text. Clients are a
   * handful of portals and apps, so they are filtered here, not in SQL.
   */
  async search(text: string): Promise<ClientRecord[]> {
    const wanted = text.trim().toLowerCase();
    const clients = await this.#clients.list();
    if (!wanted) return clients;
    return clients.filter((client) => {
      const redirectUris = Array.isArray(client.metadata.redirect_uris) ? client.metadata.redirect_uris.map(String) : [];
      const name = typeof client.metadata.client_name === 'string' ? client.metadata.client_name : '';
      return [client.id, name, client.portal, ...redirectUris].some((field) => field.toLowerCase().includes(wanted));
    });
  }

  async show(id: string): Promise<ClientRecord> {
    const client = await this.#clients.find(id);
    if (!client) throw clientNotFound(id);
    return client;
  }

  async remove(id: string): Promise<void> {
    if (!(await this.#clients.remove(id))) throw clientNotFound(id);
    await this.#record('client.removed', id);
  }

  /** Replaces the secret; the old one stops working at once. */
  async rotateSecret(id: string): Promise<RegisteredClient> {
    const client = await this.show(id);
    if (!client.secretHash) throw invalidRequest('error.client_public_no_secret', { messageValues: { id } });
    const clientSecret = generateSecret(32);
    const updated = await this.#clients.update(id, { secretHash: secretHash(clientSecret) });
    if (!updated) throw clientNotFound(id);
    await this.#record('client.secret_rotated', id);
    return { client: updated, clientSecret };
  }

  /** Changes the portal a client belongs to. */
  async setPortal(id: string, portal: ClientPortal): Promise<ClientRecord> {
    const updated = await this.#clients.update(id, { portal });
    if (!updated) throw clientNotFound(id);
    await this.#record('client.updated', id, { fields: ['portal'] });
    return updated;
  }
}
