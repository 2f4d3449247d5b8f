// Token exchange (RFC 8693), on each database: a person signs in to a portal
// through the dev upstream (openid-client as the relying party); the portal's
// backend, a confidential client the API allows, exchanges the person's
// access token for a JWT meant for one registered API, with the backend as
// the actor (`act`), verified with jose against the broker's JWKS. Every
// refusal is the RFC's error as JSON, never a 5xx.
import { expect } from 'chai';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { runCliJson } from '../support/cli.ts';
import { createPostgresDatabase } from '../support/databases.ts';
import { buildProfile } from '../support/factories.ts';
import { bindDevAccount, Person, registerPortal, type Portal } from '../support/journey.ts';
import { registerTokenClient, tokenEndpoint, type TokenClient } from '../support/tokenClients.ts';

const databases = process.env.TEST_POSTGRES_URL ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);
const exchangeGrant = 'urn:ietf:params:oauth:grant-type:token-exchange';
const accessTokenType = 'urn:ietf:params:oauth:token-type:access_token';
const ordersApi = 'https://orders.partnersource.example/api';

/** The token endpoint's answer to a token-exchange form from `backend`. */
const exchange = (running: RunningBroker, backend: Pick<TokenClient, 'clientId' | 'secret'>, form: Record<string, string>) => tokenEndpoint(running, backend, { grant_type: exchangeGrant, ...form });

/** A portal's backend: a confidential client of `portal` with the token-exchange grant. */
const registerBackend = (running: RunningBroker, id: string, portal: 'partnersource' | 'customersource') => registerTokenClient(running, id, portal, exchangeGrant);

/** A broker on `kind`'s database; `overrides` add to its environment. */
async function brokerOn(kind: 'sqlite' | 'postgres', overrides: Record<string, string> = {}): Promise<{ running: RunningBroker; stop(): Promise<void> }> {
  const postgres = kind === 'postgres' ? await createPostgresDatabase(process.env.TEST_POSTGRES_URL!) : undefined;
  const running = await startBroker({ ...(postgres ? { DATABASE_URL: postgres.url } : {}), ...overrides });
  return { running, stop: async () => (await running.stop(), await postgres?.drop()) };
}

for (const kind of databases) {
  describe(`token exchange (RFC 8693) on ${kind}`, function () {
    this.timeout(90_000);
    let broker: { running: RunningBroker; stop(): Promise<void> };
    let running: RunningBroker;
    let portal: Portal;
    let backend: TokenClient;
    let keys: ReturnType<typeof createRemoteJWKSet>;
    const profile = buildProfile({ id: `PS-EXCHANGE-${kind}`, portal: 'partnersource', roles: ['buyer'] });

    /** The person's access token at the portal: the userinfo token of a sign-in that asked for the API's scope. */
    const personToken = async (scope = 'openid mbs_profiles orders:read') => {
      const started = await new Person('exchanger').startSignIn(portal, { resource: ordersApi, scope });
      expect(started.location, started.page?.body).to.not.equal(undefined);
      return started.tokens(started.location!);
    };

    /** A sign-in that keeps a refresh token, for a JWT subject token (the API's own token, by refresh). */
    const personTokenWithRefresh = async () => {
      const started = await new Person('exchanger').startSignIn(portal, { resource: ordersApi, scope: 'openid offline_access orders:read orders:write', prompt: 'consent' });
      return started.tokens(started.location!);
    };

    /** A client's fresh secret (the CLI shows a secret once). */
    const rotatedSecret = async (clientId: string): Promise<string> => (await runCliJson<{ client_secret: string }>(['clients', 'rotate-secret', clientId], running.environment)).client_secret;

    before(async () => {
      broker = await brokerOn(kind);
      running = broker.running;
      portal = await registerPortal(running, 'partnersource', { profileSelection: 'all' });
      backend = await registerBackend(running, 'ps-backend', 'partnersource');
      await registerBackend(running, 'cs-backend', 'customersource');
      await runCliJson(['apis', 'add', ordersApi, '--name', 'Orders', '--scope', 'orders:read', '--scope', 'orders:write', '--client', 'ps-backend', '--client', 'cs-backend'], running.environment);
      await bindDevAccount(running, 'exchanger', [profile], running.broker.store);
      keys = createRemoteJWKSet(new URL(`${running.issuer}/jwks`));
    });
    after(() => broker?.stop());

    it('is advertised in discovery', async () => {
      const discovery = await client.discovery(new URL(running.issuer), 'anyone', undefined, undefined, { execute: [client.allowInsecureRequests] });
      expect(discovery.serverMetadata().grant_types_supported).to.include(exchangeGrant);
    });

    it('gives the portal’s backend a JWT for the API with the person as subject and itself as actor', async () => {
      const person = await personToken();
      const exchanged = await client.genericGrantRequest(backend.configuration, exchangeGrant, { subject_token: person.access_token, subject_token_type: accessTokenType, resource: ordersApi });
      expect(exchanged).to.include({ issued_token_type: accessTokenType, token_type: 'bearer', scope: 'orders:read' });
      const { payload, protectedHeader } = await jwtVerify(exchanged.access_token, keys, { issuer: running.issuer, audience: ordersApi, typ: 'at+jwt' });
      expect(protectedHeader.alg).to.equal('RS256');
      expect(payload).to.deep.include({ sub: person.claims()!.sub, client_id: 'ps-backend', act: { sub: 'ps-backend' }, scope: 'orders:read', mbs_profile_ids: [profile.id], mbs_roles: [`${profile.id}:buyer`] });
      expect(payload.jti).to.be.a('string');
      // The backend can introspect what it holds.
      const introspection = await client.tokenIntrospection(backend.configuration, exchanged.access_token);
      expect(introspection).to.deep.include({ active: true, aud: ordersApi, client_id: 'ps-backend', act: { sub: 'ps-backend' } });
    });

    it('takes `audience` for `resource`, a JWT subject token, and a narrower scope', async () => {
      const person = await personToken('openid orders:read orders:write');
      const jwtForApi = await client.refreshTokenGrant(portal.configuration, (await personTokenWithRefresh()).refresh_token!, { resource: ordersApi });
      for (const subject of [person.access_token, jwtForApi.access_token]) {
        const exchanged = await exchange(running, backend, { subject_token: subject, subject_token_type: accessTokenType, audience: ordersApi, scope: 'orders:write' });
        expect(exchanged.status, JSON.stringify(exchanged.body)).to.equal(200);
        expect(exchanged.body.scope).to.equal('orders:write');
      }
    });

    it('refuses a client the API does not allow (unauthorized_client) and a subject token of another portal (invalid_grant)', async () => {
      const person = await personToken();
      const stranger = await registerBackend(running, `ps-stranger-${kind}`, 'partnersource');
      const refused = await exchange(running, stranger, { subject_token: person.access_token, subject_token_type: accessTokenType, resource: ordersApi });
      expect(refused).to.deep.include({ status: 400 });
      expect(refused.body.error).to.equal('unauthorized_client');
      const otherPortal = await exchange(running, { ...backend, clientId: 'cs-backend', secret: await rotatedSecret('cs-backend') }, { subject_token: person.access_token, subject_token_type: accessTokenType, resource: ordersApi });
      expect(otherPortal.status).to.equal(400);
      expect(otherPortal.body.error).to.equal('invalid_grant');
    });

    it('refuses a resource that is not a registered API (invalid_target) and a scope the person did not give (invalid_scope)', async () => {
      const person = await personToken();
      const unknown = await exchange(running, backend, { subject_token: person.access_token, subject_token_type: accessTokenType, resource: 'https://unknown.example/api' });
      expect([unknown.status, unknown.body.error]).to.deep.equal([400, 'invalid_target']);
      const differing = await exchange(running, backend, { subject_token: person.access_token, subject_token_type: accessTokenType, resource: ordersApi, audience: 'https://unknown.example/api' });
      expect([differing.status, differing.body.error]).to.deep.equal([400, 'invalid_target']);
      const wider = await exchange(running, backend, { subject_token: person.access_token, subject_token_type: accessTokenType, resource: ordersApi, scope: 'orders:write' });
      expect([wider.status, wider.body.error]).to.deep.equal([400, 'invalid_scope']);
    });

    it('refuses an unknown or revoked subject token as invalid_grant', async () => {
      const person = await personToken();
      await client.tokenRevocation(portal.configuration, person.access_token);
      for (const subject of [person.access_token, 'not-a-token', `${person.id_token}`]) {
        const refused = await exchange(running, backend, { subject_token: subject, subject_token_type: accessTokenType, resource: ordersApi });
        expect([refused.status, refused.body.error], subject).to.deep.equal([400, 'invalid_grant']);
      }
    });

    it('answers missing or unsupported parameters with invalid_request', async () => {
      const person = await personToken();
      const subject = { subject_token: person.access_token, subject_token_type: accessTokenType, resource: ordersApi };
      const cases: Array<Record<string, string>> = [
        { subject_token_type: accessTokenType, resource: ordersApi },
        { subject_token: person.access_token, resource: ordersApi },
        { subject_token: person.access_token, subject_token_type: accessTokenType },
        { ...subject, subject_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' },
        { ...subject, subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' },
        { ...subject, requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' },
        { ...subject, actor_token: person.access_token, actor_token_type: accessTokenType },
      ];
      for (const form of cases) {
        const refused = await exchange(running, backend, form);
        expect([refused.status, refused.body.error], JSON.stringify(form)).to.deep.equal([400, 'invalid_request']);
      }
      // The portal itself was not registered with the grant: oidc-provider refuses it before the exchange.
      const portalItself = await exchange(running, { ...backend, clientId: portal.clientId, secret: portal.clientSecret }, subject);
      expect(portalItself.status).to.equal(400);
      expect(portalItself.body.error).to.be.a('string');
    });

    it('refuses an expired subject token as invalid_grant', async () => {
      // A broker whose access tokens live one second: the person's token has expired when exchanged.
      const shortLived = await brokerOn(kind, { ACCESS_TOKEN_TTL: '1' });
      try {
        const other = shortLived.running;
        const shortPortal = await registerPortal(other, 'partnersource', { profileSelection: 'all' });
        const shortBackend = await registerBackend(other, 'ps-backend', 'partnersource');
        await runCliJson(['apis', 'add', ordersApi, '--name', 'Orders', '--scope', 'orders:read', '--client', 'ps-backend'], other.environment);
        await bindDevAccount(other, 'exchanger', [profile], other.broker.store);
        const started = await new Person('exchanger').startSignIn(shortPortal, { resource: ordersApi, scope: 'openid orders:read' });
        const person = await started.tokens(started.location!);
        await new Promise((resolve) => setTimeout(resolve, 2100));
        const refused = await exchange(other, shortBackend, { subject_token: person.access_token, subject_token_type: accessTokenType, resource: ordersApi });
        expect([refused.status, refused.body.error]).to.deep.equal([400, 'invalid_grant']);
      } finally {
        await shortLived.stop();
      }
    });
  });
}
