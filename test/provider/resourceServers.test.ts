// APIs as resource servers (RFC 8707) with JWT access tokens (RFC 9068), on
// each database: a portal (openid-client as the relying party) signs a person
// in through the dev upstream asking for a registered API and gets a JWT for
// it, verified with jose against the broker's JWKS and accepted by the
// example resource server (examples/resourceServer.ts); refresh and client
// credentials too; introspection answers for the JWTs; an unregistered
// `resource` is invalid_target, never a 5xx.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { expect } from 'chai';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { createResourceServer } from '../../examples/resourceServer.ts';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { runCli, runCliJson } from '../support/cli.ts';
import { createPostgresDatabase } from '../support/databases.ts';
import { buildProfile } from '../support/factories.ts';
import { bindDevAccount, Person, registerPortal, type Portal } from '../support/journey.ts';
import { registerTokenClient, tokenEndpoint } from '../support/tokenClients.ts';

const databases = process.env.TEST_POSTGRES_URL ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);
const ordersApi = 'https://orders.partnersource.example/api';
const reportsApi = 'https://reports.partnersource.example/';

/** A confidential client for machine-to-machine calls (client credentials). */
const registerService = async (running: RunningBroker, id: string) => (await registerTokenClient(running, id, 'partnersource', 'client_credentials')).configuration;

for (const kind of databases) {
  describe(`APIs as resource servers on ${kind}`, function () {
    this.timeout(90_000);
    let running: RunningBroker;
    let portal: Portal;
    let keys: ReturnType<typeof createRemoteJWKSet>;
    let postgres: { url: string; drop(): Promise<void> } | undefined;
    let example: Server;
    let exampleUrl: string;
    let ordersBatch: client.Configuration;
    const profile = buildProfile({ id: `PS-API-${kind}`, portal: 'partnersource', roles: ['orders-admin'] });

    const verify = (token: string, audience = ordersApi) => jwtVerify(token, keys, { issuer: running.issuer, audience, typ: 'at+jwt' });
    /** A sign-in at the portal; the token request names the API again when the authorization did. */
    const signIn = async (extra: Record<string, string>) => {
      const started = await new Person('api-caller').startSignIn(portal, extra);
      expect(started.location, started.page?.body).to.not.equal(undefined);
      return started.tokens(started.location!, extra.resource ? { resource: extra.resource } : undefined);
    };

    before(async () => {
      if (kind === 'postgres') postgres = await createPostgresDatabase(process.env.TEST_POSTGRES_URL!);
      running = await startBroker(postgres ? { DATABASE_URL: postgres.url } : {});
      portal = await registerPortal(running, 'partnersource', { profileSelection: 'all' });
      ordersBatch = await registerService(running, 'orders-batch');
      await runCliJson(['apis', 'add', ordersApi, '--name', 'Orders', '--scope', 'orders:read', '--scope', 'orders:write', '--access-token-ttl', '120', '--client', 'orders-batch'], running.environment);
      await runCliJson(['apis', 'add', reportsApi, '--name', 'Reports', '--scope', 'reports:read', '--token-format', 'opaque'], running.environment);
      await bindDevAccount(running, 'api-caller', [profile], running.broker.store);
      keys = createRemoteJWKSet(new URL(`${running.issuer}/jwks`));
      example = createResourceServer({ issuer: running.issuer, audience: ordersApi, requiredScope: 'orders:read' });
      await new Promise<void>((resolve) => example.listen(0, '127.0.0.1', resolve));
      exampleUrl = `http://127.0.0.1:${(example.address() as AddressInfo).port}/orders`;
    });
    after(async () => {
      await new Promise((resolve) => example?.close(resolve));
      await running?.stop();
      await postgres?.drop();
    });

    it('gives a portal that asked for a registered API a JWT access token for it alone (RFC 9068), with the person’s profiles', async () => {
      const tokens = await signIn({ resource: ordersApi, scope: 'openid email mbs_profiles orders:read' });
      expect(decodeProtectedHeader(tokens.access_token)).to.include({ typ: 'at+jwt', alg: 'RS256' });
      const { payload } = await verify(tokens.access_token);
      expect(payload).to.include({ iss: running.issuer, aud: ordersApi, client_id: portal.clientId, scope: 'orders:read', sub: tokens.claims()!.sub });
      expect(payload.jti).to.be.a('string');
      expect(payload.exp! - payload.iat!).to.equal(120);
      expect(payload.mbs_profile_ids).to.deep.equal([profile.id]);
      expect(payload.mbs_roles).to.deep.equal([`${profile.id}:orders-admin`]);
      // The ID token still carries the OpenID claims.
      expect(tokens.claims()!.email).to.be.a('string');
    });

    it('is accepted by the example resource server, which refuses a token meant for another audience or none', async () => {
      const tokens = await signIn({ resource: ordersApi, scope: 'openid mbs_profiles orders:read' });
      const accepted = await fetch(exampleUrl, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      expect(accepted.status).to.equal(200);
      expect(await accepted.json()).to.deep.include({ client_id: portal.clientId, scope: 'orders:read', mbs_profile_ids: [profile.id] });
      // A sign-in without `resource` gets the userinfo token, opaque: not for the API.
      const plain = await signIn({ scope: 'openid email' });
      expect(plain.access_token.split('.')).to.have.length(1);
      for (const bearer of [plain.access_token, plain.id_token!]) {
        const refused = await fetch(exampleUrl, { headers: { authorization: `Bearer ${bearer}` } });
        expect(refused.status).to.equal(401);
        expect(refused.headers.get('www-authenticate')).to.contain('invalid_token');
      }
    });

    it('gives the userinfo token when the token request does not name the API again, and the API’s token on refresh with it', async () => {
      const started = await new Person('api-caller').startSignIn(portal, { resource: ordersApi, scope: 'openid email offline_access orders:read', prompt: 'consent' });
      const tokens = await started.tokens(started.location!);
      expect(tokens.access_token.split('.')).to.have.length(1);
      expect((await client.fetchUserInfo(portal.configuration, tokens.access_token, client.skipSubjectCheck)).email).to.be.a('string');
      const forApi = await client.refreshTokenGrant(portal.configuration, tokens.refresh_token!, { resource: ordersApi });
      expect((await verify(forApi.access_token)).payload).to.include({ aud: ordersApi, scope: 'orders:read' });
      // The userinfo endpoint refuses a token meant for an API (it carries the API's scopes only, never openid).
      const refused = await fetch(`${running.issuer}/me`, { headers: { authorization: `Bearer ${forApi.access_token}` } });
      expect(refused.status).to.equal(403);
      expect(refused.headers.get('www-authenticate')).to.contain('insufficient_scope');
    });

    it('answers introspection for its JWTs (active, aud, scope, sub) until they are revoked', async () => {
      const tokens = await signIn({ resource: ordersApi, scope: 'openid orders:read' });
      const active = await client.tokenIntrospection(portal.configuration, tokens.access_token);
      expect(active).to.include({ active: true, aud: ordersApi, client_id: portal.clientId, scope: 'orders:read', sub: tokens.claims()!.sub, iss: running.issuer });
      await client.tokenRevocation(portal.configuration, tokens.access_token);
      expect((await client.tokenIntrospection(portal.configuration, tokens.access_token)).active).to.equal(false);
    });

    it('gives the API’s token again on refresh, and opaque tokens with their audience for an opaque API', async () => {
      const tokens = await signIn({ resource: ordersApi, scope: 'openid offline_access orders:read orders:write', prompt: 'consent' });
      const refreshed = await client.refreshTokenGrant(portal.configuration, tokens.refresh_token!, { resource: ordersApi });
      const { payload } = await verify(refreshed.access_token);
      expect(payload).to.include({ aud: ordersApi, scope: 'orders:read orders:write' });
      expect(payload.jti).to.not.equal((await verify(tokens.access_token)).payload.jti);

      const reports = await signIn({ resource: reportsApi, scope: 'openid reports:read' });
      expect(reports.access_token.split('.')).to.have.length(1);
      expect(await client.tokenIntrospection(portal.configuration, reports.access_token)).to.include({ active: true, aud: reportsApi, scope: 'reports:read' });
    });

    it('gives an allowed client a JWT for the API by client credentials, and refuses the others', async () => {
      const granted = await client.clientCredentialsGrant(ordersBatch, { scope: 'orders:read', resource: ordersApi });
      const { payload } = await verify(granted.access_token);
      expect(payload).to.include({ aud: ordersApi, client_id: 'orders-batch', sub: 'orders-batch', scope: 'orders:read' });
      expect(payload).to.not.have.any.keys('mbs_profile_ids', 'act');

      const other = await registerService(running, 'orders-stranger');
      const refusal = await client.clientCredentialsGrant(other, { scope: 'orders:read', resource: ordersApi }).catch((error: unknown) => error);
      expect(refusal).to.be.instanceOf(client.ResponseBodyError);
      expect((refusal as client.ResponseBodyError).error).to.equal('unauthorized_client');
    });

    it('refuses a resource that is not a registered API as invalid_target at both endpoints, never a 5xx', async () => {
      const service = await registerTokenClient(running, 'targets-unknown', 'partnersource', 'client_credentials');
      for (const resource of ['https://unknown.example/api', 'not a uri', 'https://orders.partnersource.example/api#fragment']) {
        const answer = await tokenEndpoint(running, service, { grant_type: 'client_credentials', resource });
        expect(answer.status, resource).to.equal(400);
        expect(answer.body.error, resource).to.equal('invalid_target');
      }
      const started = await new Person('api-caller').startSignIn(portal, { resource: 'https://unknown.example/api', scope: 'openid orders:read' });
      expect(started.location?.href, started.page?.body).to.contain('error=invalid_target');
    });

    it('are registered, changed and removed by the CLI, and a removed API is invalid_target', async () => {
      const identifier = `https://scratch-${kind}.example/api`;
      const added = await runCliJson<{ identifier: string; token_format: string; access_token_ttl: number }>(['apis', 'add', identifier, '--name', 'Scratch', '--scope', 'scratch:read'], running.environment);
      expect(added).to.include({ identifier, token_format: 'jwt', access_token_ttl: 300 });
      const updated = await runCliJson<{ scopes: string[]; allowed_clients: string[] }>(['apis', 'update', identifier, '--scope', 'scratch:write', '--client', 'orders-batch'], running.environment);
      expect(updated).to.deep.include({ scopes: ['scratch:write'], allowed_clients: ['orders-batch'] });
      const listed = await runCliJson<Array<{ identifier: string }>>(['apis', 'list'], running.environment);
      expect(listed.map((api) => api.identifier)).to.include.members([ordersApi, reportsApi, identifier]);
      const refused = await runCli(['apis', 'add', 'http://api.example/', '--name', 'Plain', '--scope', 'x'], running.environment);
      expect(refused.exitCode).to.not.equal(0);
      expect(refused.stderr).to.contain('must use https');
      await runCliJson(['apis', 'remove', identifier], running.environment);
      const started = await new Person('api-caller').startSignIn(portal, { resource: identifier, scope: 'openid scratch:write' });
      expect(started.location?.href).to.contain('error=invalid_target');
      const events = await running.broker.store.auditEvents.list({ type: 'resource_server.removed' });
      expect(events.items.map((event) => event.details?.identifier)).to.include(identifier);
    });
  });
}
