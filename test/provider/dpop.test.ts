// DPoP (RFC 9449) with two broker instances on one database, behind one
// origin (the shared issuer; the second instance reached with the
// X-Forwarded-Host a load balancer sends): openid-client's DPoP handle as a
// public client (PKCE) and as a confidential client that requires DPoP,
// nonces one instance issues accepted by the other, one proof sent to both
// at once accepted once, and each malformed proof refused with RFC 9449's
// error, never a 5xx.
import { randomBytes, randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import * as client from 'openid-client';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { runCliJson } from '../support/cli.ts';
import { createPostgresDatabase, testDatabases } from '../support/databases.ts';
import { buildProfile } from '../support/factories.ts';
import { bindDevAccount, Person, redirectUri, registerPortal, type Portal } from '../support/journey.ts';

const adminToken = 'dpop-admin-token-for-tests';

type Instance = (path: string, init?: { method?: string; headers?: Record<string, string>; body?: URLSearchParams | string }) => Promise<Response>;

interface ProofKey {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: Awaited<ReturnType<typeof exportJWK>>;
  alg: string;
}

async function proofKey(alg = 'ES256'): Promise<ProofKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, publicKey, publicJwk: await exportJWK(publicKey), alg };
}

interface ProofClaims {
  htm: string;
  htu: string;
  accessToken?: string;
  nonce?: string;
  iat?: number;
  jti?: string;
}

/** A DPoP proof JWT as RFC 9449 §4.2 has it, every claim open to a test's change. */
async function proof(key: ProofKey, claims: ProofClaims): Promise<string> {
  const payload: Record<string, unknown> = { htm: claims.htm, htu: claims.htu, jti: claims.jti ?? randomUUID() };
  if (claims.nonce) payload.nonce = claims.nonce;
  if (claims.accessToken) payload.ath = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(claims.accessToken))).toString('base64url');
  return new SignJWT(payload)
    .setProtectedHeader({ typ: 'dpop+jwt', alg: key.alg, jwk: key.publicJwk })
    .setIssuedAt(claims.iat ?? Math.floor(Date.now() / 1000))
    .sign(key.privateKey);
}

/** The parameters of a WWW-Authenticate challenge (`DPoP error="…", …`). */
function challenge(response: Response): { scheme: string; error?: string } {
  const header = response.headers.get('www-authenticate') ?? '';
  return { scheme: header.split(' ')[0] ?? '', ...(/error="([^"]+)"/.exec(header) ? { error: /error="([^"]+)"/.exec(header)![1] } : {}) };
}

/** Sends requests to one instance as a load balancer in front of the shared origin would. */
function instanceBehind(origin: string, running: RunningBroker): Instance {
  const forwarded = { 'x-forwarded-host': new URL(origin).host, 'x-forwarded-proto': 'http' };
  return (path, init = {}) => fetch(`http://127.0.0.1:${running.environment.PORT}${path}`, { ...init, headers: { ...init.headers, ...forwarded } });
}

/** openid-client's configuration for `portal`, with every request sent to `running` behind the shared origin. */
function throughInstance(portal: Portal, origin: string, running: RunningBroker): client.Configuration {
  const configuration = new client.Configuration(portal.configuration.serverMetadata(), portal.clientId, { token_endpoint_auth_method: 'none' }, client.None());
  client.allowInsecureRequests(configuration);
  const target = `127.0.0.1:${running.environment.PORT}`;
  configuration[client.customFetch] = (url, options) => {
    const address = new URL(url);
    address.host = target;
    return fetch(address, { ...options, headers: { ...(options.headers as Record<string, string>), 'x-forwarded-host': new URL(origin).host, 'x-forwarded-proto': 'http' } });
  };
  return configuration;
}

for (const testDatabase of testDatabases()) {
  describe(`DPoP on two instances on ${testDatabase.name}`, function () {
    this.timeout(120_000);
    let first: RunningBroker;
    let second: RunningBroker;
    let dropDatabase: (() => Promise<void>) | undefined;
    let origin: string;
    let atFirst: Instance;
    let atSecond: Instance;
    let spa: Portal;

    before(async () => {
      const postgres = testDatabase.name === 'postgres' ? await createPostgresDatabase(process.env.TEST_POSTGRES_URL!) : undefined;
      dropDatabase = postgres?.drop;
      const shared = { KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'), TRUST_PROXY: 'true', ADMIN_TOKEN: adminToken, ...(postgres ? { DATABASE_URL: postgres.url } : {}) };
      first = await startBroker(shared);
      origin = first.issuer;
      second = await startBroker({ ...shared, DATABASE_URL: first.environment.DATABASE_URL!, ISSUER: origin });
      atFirst = instanceBehind(origin, first);
      atSecond = instanceBehind(origin, second);
      spa = await registerPortal(first, 'partnersource', { public: true });
      await bindDevAccount(first, 'dpop-holder', [buildProfile({ id: 'PS-DPOP-1', portal: 'partnersource' })], first.broker.store);
    });
    after(async () => {
      await second?.stop();
      await first?.stop();
      await dropDatabase?.();
    });

    /** Signs the dev account in at `portal` and redeems the code with DPoP. */
    async function signInWithDpop(portal: Portal, dpop: client.DPoPHandle) {
      const codeVerifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const url = client.buildAuthorizationUrl(portal.configuration, { redirect_uri: redirectUri, scope: 'openid email mbs_profiles', state, code_challenge: await client.calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256' });
      const { location } = await new Person('dpop-holder').follow(url.href);
      expect(location, 'the sign-in reaches the portal').to.not.equal(undefined);
      return client.authorizationCodeGrant(portal.configuration, location!, { pkceCodeVerifier: codeVerifier, expectedState: state }, undefined, { DPoP: dpop });
    }

    /** A fresh nonce from `instance`: a proof without one is answered use_dpop_nonce with the nonce in a header. */
    async function nonceFrom(instance: Instance, key: ProofKey, accessToken: string): Promise<string> {
      const answer = await instance('/me', { headers: { authorization: `DPoP ${accessToken}`, dpop: await proof(key, { htm: 'GET', htu: `${origin}/me`, accessToken }) } });
      expect(answer.status).to.equal(401);
      expect(challenge(answer)).to.deep.equal({ scheme: 'DPoP', error: 'use_dpop_nonce' });
      const nonce = answer.headers.get('dpop-nonce');
      expect(nonce, 'a DPoP-Nonce header').to.be.a('string');
      return nonce!;
    }

    /** A sign-in's DPoP-bound access token and the key it is bound to, as raw material for hand-made proofs. */
    async function boundToken(): Promise<{ key: ProofKey; accessToken: string }> {
      const key = await proofKey();
      const tokens = await signInWithDpop(spa, client.getDPoPHandle(spa.configuration, key));
      return { key, accessToken: tokens.access_token };
    }

    it('bind a public client’s access and refresh tokens to its DPoP key (openid-client), on either instance', async () => {
      const keyPair = await client.randomDPoPKeyPair('ES256');
      const dpop = client.getDPoPHandle(spa.configuration, keyPair);
      const tokens = await signInWithDpop(spa, dpop);
      expect(tokens.token_type.toLowerCase()).to.equal('dpop');
      const sub = tokens.claims()!.sub;

      const userinfo = await client.fetchUserInfo(spa.configuration, tokens.access_token, sub, { DPoP: dpop });
      expect(userinfo.mbs_profile_ids).to.deep.equal(['PS-DPOP-1']);
      const atSecondInstance = throughInstance(spa, origin, second);
      const secondDpop = client.getDPoPHandle(atSecondInstance, keyPair);
      expect((await client.fetchUserInfo(atSecondInstance, tokens.access_token, sub, { DPoP: secondDpop })).sub, 'the second instance').to.equal(sub);

      const introspected = await client.tokenIntrospection(spa.configuration, tokens.access_token);
      const thumbprint = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey));
      expect(introspected.active).to.equal(true);
      expect(introspected.token_type).to.equal('DPoP');
      expect(introspected.cnf).to.deep.equal({ jkt: thumbprint });

      const otherKey = client.getDPoPHandle(spa.configuration, await client.randomDPoPKeyPair('ES256'));
      const withOtherKey = await client.refreshTokenGrant(spa.configuration, tokens.refresh_token!, undefined, { DPoP: otherKey }).then(() => undefined, (error: unknown) => error);
      expect(withOtherKey, 'a refresh with another key').to.have.property('error', 'invalid_grant');
      const withoutProof = await client.refreshTokenGrant(spa.configuration, tokens.refresh_token!).then(() => undefined, (error: unknown) => error);
      expect(withoutProof, 'a refresh without a proof').to.have.property('error', 'invalid_grant');

      const renewed = await client.refreshTokenGrant(atSecondInstance, tokens.refresh_token!, undefined, { DPoP: secondDpop });
      expect(renewed.token_type.toLowerCase()).to.equal('dpop');
      expect((await client.fetchUserInfo(spa.configuration, renewed.access_token, sub, { DPoP: dpop })).sub).to.equal(sub);
    });

    it('require a nonce, and a nonce one instance issued is good at the other', async () => {
      const { key, accessToken } = await boundToken();
      const nonce = await nonceFrom(atFirst, key, accessToken);
      const answer = await atSecond('/me', { headers: { authorization: `DPoP ${accessToken}`, dpop: await proof(key, { htm: 'GET', htu: `${origin}/me`, accessToken, nonce }) } });
      expect(answer.status, await answer.clone().text()).to.equal(200);

      const token = await atSecond('/token', { method: 'POST', headers: { dpop: await proof(key, { htm: 'POST', htu: `${origin}/token` }) }, body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'unknown', client_id: spa.clientId }) });
      expect(token.status).to.equal(400);
      expect(await token.json()).to.have.property('error', 'use_dpop_nonce');
      expect(token.headers.get('dpop-nonce')).to.be.a('string');
    });

    it('accept one proof sent to both instances at once exactly once; the other answer is invalid_dpop_proof', async () => {
      const { key, accessToken } = await boundToken();
      const nonce = await nonceFrom(atFirst, key, accessToken);
      for (let round = 0; round < 5; round += 1) {
        const replayed = await proof(key, { htm: 'GET', htu: `${origin}/me`, accessToken, nonce });
        const answers = await Promise.all([atFirst, atSecond].map((instance) => instance('/me', { headers: { authorization: `DPoP ${accessToken}`, dpop: replayed } })));
        expect(answers.map((answer) => answer.status).sort(), `round ${round}`).to.deep.equal([200, 401]);
        expect(challenge(answers.find((answer) => answer.status === 401)!)).to.deep.equal({ scheme: 'DPoP', error: 'invalid_dpop_proof' });
      }
    });

    /** A confidential client_credentials client (its secret) as openid-client sees it. */
    const serviceClient = (clientId: string, clientSecret: string) =>
      client.discovery(new URL(origin), clientId, { token_endpoint_auth_method: 'client_secret_basic' }, client.ClientSecretBasic(clientSecret), { execute: [client.allowInsecureRequests] });

    /** A token request without a proof is refused; with one it gets a DPoP-bound token. */
    async function expectDpopRequired(configuration: client.Configuration, label: string): Promise<void> {
      const refused = await client.clientCredentialsGrant(configuration).then(() => undefined, (error: unknown) => error);
      expect(refused, `${label}: without a proof`).to.have.property('error', 'invalid_dpop_proof');
      expect(refused).to.have.nested.property('response.status', 400);
      const granted = await client.clientCredentialsGrant(configuration, undefined, { DPoP: client.getDPoPHandle(configuration, await client.randomDPoPKeyPair('ES256')) });
      expect(granted.token_type.toLowerCase(), label).to.equal('dpop');
    }

    it('refuse a token request without a proof from a client registered as requiring DPoP: by the CLI, the admin API or dynamic registration', async () => {
      const common = ['clients', 'add', '--portal', 'customersource', '--grant-type', 'client_credentials', '--redirect-uri', redirectUri];
      const byCli = await runCliJson<{ client_id: string; client_secret: string; dpop_bound_access_tokens?: boolean }>([...common, '--dpop-bound-access-tokens'], first.environment);
      expect(byCli.dpop_bound_access_tokens).to.equal(true);
      await expectDpopRequired(await serviceClient(byCli.client_id, byCli.client_secret), 'CLI');
      const plain = await runCliJson<{ client_id: string; client_secret: string }>(common, first.environment);
      const bearer = await client.clientCredentialsGrant(await serviceClient(plain.client_id, plain.client_secret));
      expect(bearer.token_type.toLowerCase(), 'a client not requiring DPoP').to.equal('bearer');

      const admin = (method: string, path: string, body: unknown) =>
        fetch(`${origin}/admin/api${path}`, { method, headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const updated = await admin('PATCH', `/clients/${plain.client_id}`, { dpopBoundAccessTokens: true });
      expect(updated.status).to.equal(200);
      expect(await updated.json()).to.have.property('dpop_bound_access_tokens', true);
      await expectDpopRequired(await serviceClient(plain.client_id, plain.client_secret), 'admin API update');
      const created = await admin('POST', '/clients', { portal: 'customersource', redirectUris: [redirectUri], grantTypes: ['client_credentials'], dpopBoundAccessTokens: true });
      expect(created.status).to.equal(201);
      const createdClient = (await created.json()) as { client_id: string; client_secret: string };
      await expectDpopRequired(await serviceClient(createdClient.client_id, createdClient.client_secret), 'admin API');

      const { initial_access_token: initialAccessToken } = await runCliJson<{ initial_access_token: string }>(['clients', 'initial-access-token', '--portal', 'customersource'], first.environment);
      const registration = await atSecond('/reg', {
        method: 'POST',
        headers: { authorization: `Bearer ${initialAccessToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ redirect_uris: [redirectUri], grant_types: ['client_credentials'], response_types: [], token_endpoint_auth_method: 'client_secret_basic', dpop_bound_access_tokens: true }),
      });
      expect(registration.status, await registration.clone().text()).to.equal(201);
      const registered = (await registration.json()) as { client_id: string; client_secret: string; dpop_bound_access_tokens: boolean };
      expect(registered.dpop_bound_access_tokens).to.equal(true);
      await expectDpopRequired(await serviceClient(registered.client_id, registered.client_secret), 'dynamic registration');
    });

    it('answer each malformed proof with RFC 9449’s error, never a 5xx', async () => {
      const { key, accessToken } = await boundToken();
      const nonce = await nonceFrom(atFirst, key, accessToken);
      const userinfo = async (dpop: string | undefined, scheme = 'DPoP') =>
        atSecond('/me', { headers: { authorization: `${scheme} ${accessToken}`, ...(dpop === undefined ? {} : { dpop }) } });
      const valid: ProofClaims = { htm: 'GET', htu: `${origin}/me`, accessToken, nonce };
      const reused = await proof(key, valid);
      expect((await userinfo(reused)).status, 'the proof first used').to.equal(200);
      const rsaKey = await proofKey('RS256');
      const cases: Array<[string, Promise<Response>, string]> = [
        ['wrong htu', userinfo(await proof(key, { ...valid, htu: `${origin}/token` })), 'invalid_dpop_proof'],
        ['wrong htm', userinfo(await proof(key, { ...valid, htm: 'POST' })), 'invalid_dpop_proof'],
        ['reused jti', userinfo(reused), 'invalid_dpop_proof'],
        ['an algorithm not allowed (RS256)', userinfo(await proof(rsaKey, valid)), 'invalid_dpop_proof'],
        ['another key than the token’s', userinfo(await proof(await proofKey(), valid)), 'invalid_token'],
        ['not a JWT', userinfo('not-a-jwt'), 'invalid_dpop_proof'],
        ['a nonce the broker never issued', userinfo(await proof(key, { ...valid, nonce: 'made-up' })), 'use_dpop_nonce'],
        ['no nonce', userinfo(await proof(key, { ...valid, nonce: undefined })), 'use_dpop_nonce'],
        ['a stale iat and no nonce', userinfo(await proof(key, { ...valid, nonce: undefined, iat: Math.floor(Date.now() / 1000) - 3600 })), 'use_dpop_nonce'],
        ['the bound token as a Bearer token', userinfo(undefined, 'Bearer'), 'invalid_token'],
      ];
      for (const [label, answering, error] of cases) {
        const answer = await answering;
        expect(answer.status, label).to.equal(401);
        expect(challenge(answer), label).to.deep.equal({ scheme: 'DPoP', error });
        if (error === 'use_dpop_nonce') expect(answer.headers.get('dpop-nonce'), label).to.be.a('string');
      }

      const tokenRequest = async (dpop: string) =>
        atSecond('/token', { method: 'POST', headers: { dpop }, body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'unknown', client_id: spa.clientId }) });
      const atToken: ProofClaims = { htm: 'POST', htu: `${origin}/token`, nonce };
      for (const [label, dpop] of [
        ['wrong htu', await proof(key, { ...atToken, htu: `${origin}/me` })],
        ['wrong htm', await proof(key, { ...atToken, htm: 'GET' })],
        ['an algorithm not allowed (RS256)', await proof(rsaKey, atToken)],
      ] as const) {
        const answer = await tokenRequest(dpop);
        expect(answer.status, `token endpoint: ${label}`).to.equal(400);
        expect(await answer.json(), `token endpoint: ${label}`).to.have.property('error', 'invalid_dpop_proof');
      }
    });
  });
}
