// The FAPI 2.0 Security Profile per client, end to end on each database:
// openid-client as a FAPI 2.0 relying party (private_key_jwt, PAR, PKCE,
// DPoP) registered through dynamic registration, the CLI and the admin API,
// signs a person in through the dev upstream, gets DPoP-bound tokens with
// the profile's lifetimes and calls userinfo with DPoP; a FAPI client
// without PAR, without PKCE, without DPoP or with a client secret gets the
// RFC's error. Other clients keep their own rules.
import { expect } from 'chai';
import { exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as client from 'openid-client';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { runCli, runCliJson } from '../support/cli.ts';
import { createPostgresDatabase } from '../support/databases.ts';
import { buildProfile } from '../support/factories.ts';
import { bindDevAccount, Person, redirectUri, registerPortal } from '../support/journey.ts';
import { authorizationRefusal, signInWithPushedRequest } from '../support/pushedAuthorization.ts';
import { fapiAccessTokenLifetimeSeconds } from '../../src/provider/fapi.ts';

const adminToken = 'admin-token-for-the-fapi-tests';
const databases = process.env.TEST_POSTGRES_URL ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);
const pkceChallenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

interface ClientKeys {
  privateKey: CryptoKey;
  /** The public JWK Set registered for the client. */
  jwks: { keys: JWK[] };
}

async function clientKeys(): Promise<ClientKeys> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { privateKey, jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'fapi-client-key', alg: 'ES256', use: 'sig' }] } };
}

/** openid-client configured as a FAPI 2.0 relying party: private_key_jwt, ES256 ID tokens. */
function fapiRelyingParty(running: RunningBroker, clientId: string, keys: ClientKeys): Promise<client.Configuration> {
  return client.discovery(new URL(running.issuer), clientId, { token_endpoint_auth_method: 'private_key_jwt', id_token_signed_response_alg: 'ES256' }, client.PrivateKeyJwt({ key: keys.privateKey, kid: 'fapi-client-key' }), {
    execute: [client.allowInsecureRequests],
  });
}

/** Registers a FAPI 2.0 client through dynamic registration (RFC 7591). */
async function registerDynamically(running: RunningBroker, metadata: Record<string, unknown>): Promise<Response> {
  const { initial_access_token: token } = await runCliJson<{ initial_access_token: string }>(['clients', 'initial-access-token', '--portal', 'partnersource'], running.environment);
  return fetch(`${running.issuer}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ redirect_uris: [redirectUri], fapi_profile: '2.0', ...metadata }),
  });
}

for (const kind of databases) {
  describe(`FAPI 2.0 clients on ${kind}`, function () {
    this.timeout(60_000);
    let running: RunningBroker;
    let postgres: { url: string; drop(): Promise<void> } | undefined;
    let keys: ClientKeys;
    let clientId: string;
    let fapi: client.Configuration;
    const profile = buildProfile({ portal: 'partnersource' });

    before(async () => {
      if (kind === 'postgres') postgres = await createPostgresDatabase(process.env.TEST_POSTGRES_URL!);
      running = await startBroker({ ADMIN_TOKEN: adminToken, ...(postgres ? { DATABASE_URL: postgres.url } : {}) });
      await bindDevAccount(running, 'fapi-user', [profile], running.broker.store);
      keys = await clientKeys();
      const registered = await registerDynamically(running, { token_endpoint_auth_method: 'private_key_jwt', jwks: keys.jwks, client_name: 'Fabrikam Treasury' });
      expect(registered.status).to.equal(201);
      clientId = ((await registered.json()) as { client_id: string }).client_id;
      fapi = await fapiRelyingParty(running, clientId, keys);
    });
    after(async () => {
      await running?.stop();
      await postgres?.drop();
    });

    it('registers a FAPI 2.0 client with PAR and DPoP-bound tokens required and ES256 ID tokens, and no secret', async () => {
      const stored = await running.broker.store.clients.find(clientId);
      expect(stored!.metadata).to.include({ fapi_profile: '2.0', token_endpoint_auth_method: 'private_key_jwt', require_pushed_authorization_requests: true, dpop_bound_access_tokens: true, id_token_signed_response_alg: 'ES256' });
      expect(stored!.secretHash).to.equal(undefined);
    });

    it('signs a person in with PAR, PKCE and private_key_jwt, issues DPoP-bound tokens with short lifetimes, and answers userinfo with DPoP', async () => {
      const DPoP = client.getDPoPHandle(fapi, await client.randomDPoPKeyPair());
      const signIn = await signInWithPushedRequest(new Person('fapi-user'), fapi, { DPoP });
      // RFC 9207: the authorization response names its issuer.
      expect(signIn.location?.searchParams.get('iss')).to.equal(running.issuer);
      const tokens = await signIn.tokens();
      expect(tokens.token_type.toLowerCase()).to.equal('dpop');
      expect(tokens.expires_in).to.equal(Math.min(fapiAccessTokenLifetimeSeconds, running.config.accessTokenTtl));
      expect(tokens.claims()!.aud).to.equal(clientId);
      const userinfo = await client.fetchUserInfo(fapi, tokens.access_token, tokens.claims()!.sub, { DPoP });
      expect((userinfo.mbs_profiles as Array<{ id: string }>).map((entry) => entry.id)).to.deep.equal([profile.id]);

      // The token is bound to the key: as a bearer token, userinfo refuses it.
      const bearer = await fetch(`${running.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      expect(bearer.status).to.equal(401);
    });

    it('refuses a plain authorization request from a FAPI client: PAR is required', async () => {
      const plain = client.buildAuthorizationUrl(fapi, { redirect_uri: redirectUri, scope: 'openid', code_challenge: pkceChallenge, code_challenge_method: 'S256' });
      const refusal = await authorizationRefusal(new Person('fapi-user'), plain.href);
      expect(refusal).to.include({ error: 'invalid_request', delivery: 'redirect', issuer: running.issuer });
    });

    it('refuses a pushed request without PKCE, or without its redirect_uri, with invalid_request', async () => {
      const withoutPkce = await client.buildAuthorizationUrlWithPAR(fapi, { redirect_uri: redirectUri, scope: 'openid' }).catch((error: unknown) => error);
      expect(withoutPkce).to.be.instanceOf(client.ResponseBodyError);
      expect(withoutPkce).to.include({ error: 'invalid_request', status: 400 });
      // One registered redirect URI may be left out for other clients, never for a FAPI 2.0 one.
      const withoutRedirect = await client.buildAuthorizationUrlWithPAR(fapi, { scope: 'openid', code_challenge: pkceChallenge, code_challenge_method: 'S256' }).catch((error: unknown) => error);
      expect(withoutRedirect).to.be.instanceOf(client.ResponseBodyError);
      expect(withoutRedirect).to.include({ error: 'invalid_request', status: 400 });
    });

    it('refuses the code without a DPoP proof (invalid_dpop_proof), or with a proof of another key than the pushed one (invalid_grant)', async () => {
      const DPoP = client.getDPoPHandle(fapi, await client.randomDPoPKeyPair());
      const withoutProof = await signInWithPushedRequest(new Person('fapi-user'), fapi, { DPoP });
      const refused = await withoutProof.tokens({}).catch((error: unknown) => error);
      expect(refused).to.be.instanceOf(client.ResponseBodyError);
      expect(refused).to.include({ error: 'invalid_dpop_proof', status: 400 });

      const otherKey = await signInWithPushedRequest(new Person('fapi-user'), fapi, { DPoP });
      const mismatch = await otherKey.tokens({ DPoP: client.getDPoPHandle(fapi, await client.randomDPoPKeyPair()) }).catch((error: unknown) => error);
      expect(mismatch).to.be.instanceOf(client.ResponseBodyError);
      expect(mismatch).to.include({ error: 'invalid_grant', status: 400 });
    });

    it('refuses a FAPI client that authenticates with a client secret', async () => {
      const withSecret = await client.discovery(new URL(running.issuer), clientId, { token_endpoint_auth_method: 'client_secret_basic' }, client.ClientSecretBasic('guessed-secret'), { execute: [client.allowInsecureRequests] });
      const refused = await client.buildAuthorizationUrlWithPAR(withSecret, { redirect_uri: redirectUri, scope: 'openid', code_challenge: pkceChallenge, code_challenge_method: 'S256' }).catch((error: unknown) => error);
      expect(refused).to.be.instanceOf(client.WWWAuthenticateChallengeError);
      expect((refused as client.WWWAuthenticateChallengeError).cause[0]!.parameters.error).to.equal('invalid_client');
      expect(refused).to.include({ status: 401 });
    });

    it('refuses a client assertion whose audience is not the issuer alone (FAPI 2.0 §5.3.2.1), with invalid_client', async () => {
      const elsewhere = await client.discovery(new URL(running.issuer), clientId, { token_endpoint_auth_method: 'private_key_jwt' }, client.PrivateKeyJwt({ key: keys.privateKey, kid: 'fapi-client-key' }, {
        [client.modifyAssertion]: (_header, payload) => {
          payload.aud = [running.issuer, `${running.issuer}/request`];
        },
      }), { execute: [client.allowInsecureRequests] });
      const refused = await client.buildAuthorizationUrlWithPAR(elsewhere, { redirect_uri: redirectUri, scope: 'openid', code_challenge: pkceChallenge, code_challenge_method: 'S256' }).catch((error: unknown) => error);
      expect(refused).to.be.instanceOf(client.ResponseBodyError);
      expect(refused).to.include({ error: 'invalid_client', status: 401 });
    });

    it('refuses to register a FAPI client with any authentication but private_key_jwt, with invalid_client_metadata', async () => {
      for (const method of ['client_secret_basic', 'client_secret_post', 'none']) {
        const refused = await registerDynamically(running, { token_endpoint_auth_method: method });
        expect(refused.status, method).to.equal(400);
        expect(((await refused.json()) as { error: string }).error, method).to.equal('invalid_client_metadata');
      }
      const unknownProfile = await registerDynamically(running, { token_endpoint_auth_method: 'private_key_jwt', jwks: keys.jwks, fapi_profile: '1.0' });
      expect(((await unknownProfile.json()) as { error: string }).error).to.equal('invalid_client_metadata');
    });

    it('registers FAPI 2.0 clients through the CLI and the admin API, which refuse one without keys', async () => {
      const cliKeys = await clientKeys();
      const file = join(mkdtempSync(join(tmpdir(), 'mbs-fapi-')), 'jwks.json');
      writeFileSync(file, JSON.stringify(cliKeys.jwks));
      const fromCli = await runCliJson<{ client_id: string; client_secret?: string; fapi_profile: string; public: boolean }>(
        ['clients', 'add', '--portal', 'partnersource', '--first-party', '--fapi-profile', '2.0', '--jwks', file, '--redirect-uri', redirectUri],
        running.environment,
      );
      expect(fromCli).to.include({ fapi_profile: '2.0', public: false });
      expect(fromCli.client_secret).to.equal(undefined);
      const viaCli = await fapiRelyingParty(running, fromCli.client_id, cliKeys);
      const DPoP = client.getDPoPHandle(viaCli, await client.randomDPoPKeyPair());
      const tokens = await (await signInWithPushedRequest(new Person('fapi-user'), viaCli, { DPoP })).tokens();
      expect(tokens.token_type.toLowerCase()).to.equal('dpop');
      expect((await runCli(['clients', 'add', '--portal', 'partnersource', '--fapi-profile', '2.0', '--redirect-uri', redirectUri], running.environment)).exitCode).to.not.equal(0);

      const call = (body: unknown) => fetch(`${running.issuer}/admin/api/clients`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const fromApi = await call({ portal: 'partnersource', redirectUris: [redirectUri], fapiProfile: '2.0', jwks: (await clientKeys()).jwks });
      expect(fromApi.status).to.equal(201);
      expect(await fromApi.json()).to.include({ fapi_profile: '2.0', token_endpoint_auth_method: 'private_key_jwt', require_pushed_authorization_requests: true });
      expect((await call({ portal: 'partnersource', redirectUris: [redirectUri], fapiProfile: '2.0' })).status).to.equal(400);
      const privateParts = { ...cliKeys.jwks.keys[0], d: 'not-for-the-broker' };
      expect((await call({ portal: 'partnersource', redirectUris: [redirectUri], fapiProfile: '2.0', jwks: { keys: [privateParts] } })).status).to.equal(400);
    });

    it('leaves other clients as they were: no DPoP required, the configured access-token lifetime', async () => {
      const portal = await registerPortal(running, 'partnersource');
      const tokens = await (await signInWithPushedRequest(new Person('fapi-user'), portal.configuration)).tokens();
      expect(tokens.token_type.toLowerCase()).to.equal('bearer');
      expect(tokens.expires_in).to.equal(running.config.accessTokenTtl);
    });
  });
}
