// The yardstick: a bare oidc-provider with an in-memory adapter, the same
// client, keys (algorithms), TTLs and token features as the broker, so the
// benchmark can say what the broker's own work costs. It mints the tokens the
// benchmark replays (a refresh token and an access token per connection) and
// prints them, with its port, as one JSON line on standard output.
import { generateKeyPair, exportJWK } from 'jose';
import Provider, { type Adapter, type AdapterPayload, type Configuration } from 'oidc-provider';

// oidc-provider's own memory adapter, but without its 1,000-entry LRU: under
// load that would evict the very tokens the benchmark replays.
const store = new Map<string, { payload: AdapterPayload; expiresAt: number | undefined }>();
class MemoryAdapter implements Adapter {
  readonly #model: string;
  constructor(model: string) {
    this.#model = model;
  }
  #key(id: string) {
    return `${this.#model}:${id}`;
  }
  async upsert(id: string, payload: AdapterPayload, expiresIn?: number) {
    store.set(this.#key(id), { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : undefined });
    if (payload.grantId) store.set(`grant:${payload.grantId}:${this.#key(id)}`, { payload: { jti: id }, expiresAt: undefined });
  }
  async find(id: string) {
    const entry = store.get(this.#key(id));
    if (!entry || (entry.expiresAt !== undefined && entry.expiresAt <= Date.now())) return undefined;
    return entry.payload;
  }
  async findByUid(uid: string) {
    for (const [key, entry] of store) if (key.startsWith(`${this.#model}:`) && entry.payload.uid === uid) return entry.payload;
    return undefined;
  }
  async findByUserCode(userCode: string) {
    for (const [key, entry] of store) if (key.startsWith(`${this.#model}:`) && entry.payload.userCode === userCode) return entry.payload;
    return undefined;
  }
  async consume(id: string) {
    const entry = store.get(this.#key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id: string) {
    store.delete(this.#key(id));
  }
  async revokeByGrantId(grantId: string) {
    for (const key of [...store.keys()]) {
      if (key.startsWith(`grant:${grantId}:`)) {
        store.delete(key.slice(`grant:${grantId}:`.length));
        store.delete(key);
      }
    }
  }
}

const port = Number(process.env.PORT ?? 0);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32);
const issuer = `http://127.0.0.1:${port}`;
const clientId = 'bench-portal';
const clientSecret = process.env.BENCH_CLIENT_SECRET ?? 'bench-secret-0123456789-0123456789-0123';
const accountId = 'bench-account';

const keys = await Promise.all(
  (['RS256', 'ES256', 'EdDSA'] as const).map(async (alg) => {
    const { privateKey } = await generateKeyPair(alg, { extractable: true });
    return { ...(await exportJWK(privateKey)), alg, use: 'sig', kid: `bare-${alg}` };
  }),
);

const configuration: Configuration = {
  adapter: MemoryAdapter,
  jwks: { keys } as Configuration['jwks'],
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: ['http://127.0.0.1:9/callback'],
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
  ],
  // The broker's defaults (config/settings.ts): one hour for access and ID tokens, 14 days for refresh tokens.
  ttl: { AccessToken: 3600, ClientCredentials: 3600, IdToken: 3600, RefreshToken: 14 * 86400, Grant: 14 * 86400, Session: 14 * 86400, Interaction: 3600, AuthorizationCode: 60 },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
    userinfo: { enabled: true },
  },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'mbs_profiles'],
  async findAccount(_ctx, sub) {
    return { accountId: sub, claims: async () => ({ sub }) };
  },
};

const provider = new Provider(issuer, configuration);
const server = provider.listen(port, '127.0.0.1');
await new Promise<void>((resolve) => server.once('listening', () => resolve()));

const client = await provider.Client.find(clientId);
if (!client) throw new Error('the bench client is missing');
const refreshTokens: string[] = [];
const accessTokens: string[] = [];
for (let index = 0; index < connections; index += 1) {
  const grant = new provider.Grant({ accountId, clientId });
  grant.addOIDCScope('openid offline_access');
  const grantId = await grant.save();
  const now = Math.floor(Date.now() / 1000);
  const refresh = new provider.RefreshToken({ accountId, client, grantId, scope: 'openid offline_access', gty: 'authorization_code', authTime: now, iat: now });
  refreshTokens.push(await refresh.save());
  const access = new provider.AccessToken({ accountId, client, grantId, scope: 'openid', gty: 'authorization_code' });
  accessTokens.push(await access.save());
}

process.stdout.write(`${JSON.stringify({ ready: true, issuer, clientId, clientSecret, refreshTokens, accessTokens })}\n`);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
