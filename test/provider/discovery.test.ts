// The discovery audit: /.well-known/openid-configuration advertises exactly
// what is pinned below, member by member, and each capability it advertises
// is proven end to end by a test (README, "Protocol capabilities", names the
// file). The capabilities no other file proves are proven here, on each
// database, with openid-client as the relying party: the `iss` authorization
// response parameter, the form_post and fragment response modes, PKCE S256
// only, client authentication by client_secret_post and private_key_jwt
// (each advertised algorithm), and ID tokens in each advertised algorithm;
// and what is not advertised (request objects, other response types, the
// plain code challenge) is refused with the RFC's error.
import { expect } from 'chai';
import { decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import * as client from 'openid-client';
import { hiddenField } from '../support/browser.ts';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { runCliJson } from '../support/cli.ts';
import { createPostgresDatabase } from '../support/databases.ts';
import { buildProfile } from '../support/factories.ts';
import { authorizationRequest, bindDevAccount, Person, redirectUri, registerPortal, type Portal } from '../support/journey.ts';

const databases = process.env.TEST_POSTGRES_URL ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);

/** The endpoints, as paths under the issuer. */
const endpoints: Record<string, string> = {
  authorization_endpoint: '/auth',
  token_endpoint: '/token',
  userinfo_endpoint: '/me',
  jwks_uri: '/jwks',
  registration_endpoint: '/reg',
  end_session_endpoint: '/session/end',
  introspection_endpoint: '/token/introspection',
  revocation_endpoint: '/token/revocation',
  pushed_authorization_request_endpoint: '/request',
};

/**
 * Every other member and its value; lists are compared as sets. Advertising
 * one more value is one line here and one row in the README's table.
 */
const capabilities: Record<string, unknown> = {
  scopes_supported: ['openid', 'offline_access', 'email', 'profile', 'mbs_profiles'],
  claims_supported: ['sub', 'email', 'email_verified', 'name', 'mbs_profiles', 'mbs_profile_ids', 'mbs_roles', 'mbs_profile', 'mbs_profile_id', 'mbs_profile_roles', 'sid', 'auth_time', 'iss'],
  claim_types_supported: ['normal'],
  claims_parameter_supported: false,
  grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange'],
  response_types_supported: ['code'],
  response_modes_supported: ['query', 'fragment', 'form_post'],
  authorization_response_iss_parameter_supported: true,
  code_challenge_methods_supported: ['S256'],
  subject_types_supported: ['public', 'pairwise'],
  id_token_signing_alg_values_supported: ['RS256', 'ES256', 'EdDSA'],
  token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
  token_endpoint_auth_signing_alg_values_supported: ['RS256', 'PS256', 'ES256', 'Ed25519', 'EdDSA'],
  request_uri_parameter_supported: false,
  dpop_signing_alg_values_supported: ['ES256', 'EdDSA'],
  backchannel_logout_supported: true,
  backchannel_logout_session_supported: true,
  ui_locales_supported: ['en', 'de', 'fr'],
};

/** The key types of the private_key_jwt algorithms, and the `alg` each assertion says. */
const assertionAlgorithms = [
  { alg: 'RS256', key: 'RS256' },
  { alg: 'PS256', key: 'PS256' },
  { alg: 'ES256', key: 'ES256' },
  { alg: 'Ed25519', key: 'Ed25519' },
  { alg: 'EdDSA', key: 'Ed25519' },
] as const;

const refusal = (promise: Promise<unknown>): Promise<unknown> => promise.then(() => undefined, (error: unknown) => error);

for (const kind of databases) {
  describe(`discovery and the advertised capabilities on ${kind}`, function () {
    this.timeout(120_000);
    let running: RunningBroker;
    let postgres: { url: string; drop(): Promise<void> } | undefined;
    let portal: Portal;

    before(async () => {
      if (kind === 'postgres') postgres = await createPostgresDatabase(process.env.TEST_POSTGRES_URL!);
      running = await startBroker(postgres ? { DATABASE_URL: postgres.url } : {});
      portal = await registerPortal(running, 'partnersource');
      await bindDevAccount(running, 'capabilities', [buildProfile({ portal: 'partnersource' })], running.broker.store);
    });
    after(async () => {
      await running?.stop();
      await postgres?.drop();
    });

    /** Registers a client dynamically (RFC 7591) for PartnerSource with `metadata`; its configuration for openid-client. */
    async function registered(metadata: Record<string, unknown>, authentication: (secret: string) => client.ClientAuth): Promise<Portal> {
      const { initial_access_token: token } = await runCliJson<{ initial_access_token: string }>(['clients', 'initial-access-token', '--portal', 'partnersource'], running.environment);
      const answer = await fetch(`${running.issuer}/reg`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(metadata) });
      expect(answer.status, await answer.clone().text()).to.equal(201);
      const { client_id: clientId, client_secret: clientSecret = '' } = (await answer.json()) as { client_id: string; client_secret?: string };
      const configuration = await client.discovery(new URL(running.issuer), clientId, metadata as Partial<client.ClientMetadata>, authentication(clientSecret), { execute: [client.allowInsecureRequests] });
      return { configuration, clientId, clientSecret };
    }

    it('advertises exactly the pinned members and values', async () => {
      const answer = await fetch(`${running.issuer}/.well-known/openid-configuration`);
      expect(answer.status).to.equal(200);
      const document = (await answer.json()) as Record<string, unknown>;
      expect(Object.keys(document)).to.have.members(['issuer', ...Object.keys(endpoints), ...Object.keys(capabilities)]);
      expect(document.issuer).to.equal(running.issuer);
      for (const [member, path] of Object.entries(endpoints)) expect(document[member], member).to.equal(`${running.issuer}${path}`);
      for (const [member, value] of Object.entries(capabilities)) {
        if (Array.isArray(value)) expect(document[member], member).to.have.members(value);
        else expect(document[member], member).to.equal(value);
      }
    });

    describe('authorization responses', () => {
      it('carry iss, which openid-client checks (RFC 9207)', async () => {
        const person = new Person('capabilities');
        const signIn = await person.startSignIn(portal);
        expect(signIn.location!.searchParams.get('iss')).to.equal(running.issuer);
        const forged = new URL(signIn.location!);
        forged.searchParams.set('iss', 'https://mix-up.example');
        expect(await refusal(signIn.tokens(forged))).to.have.nested.property('cause.message').that.matches(/"iss"/);
        const tokens = await signIn.tokens(signIn.location!);
        expect(tokens.id_token).to.be.a('string');
      });

      it('come as a self-posting form with response_mode=form_post', async () => {
        const person = new Person('capabilities');
        await person.startSignIn(portal);
        // Signed in, the authorization endpoint answers at once: with the form
        // the browser would post to the portal (test/support/browser.ts posts
        // such forms itself, so the page is read here before it would).
        const request = await authorizationRequest(portal, { scope: 'openid', response_mode: 'form_post' });
        const page = await person.browser.get(request.url.href);
        expect(page.status).to.equal(200);
        expect(page.body).to.contain(`action="${redirectUri}"`).and.contain('method="post"');
        const fields = Object.fromEntries(['code', 'state', 'iss'].map((name) => [name, hiddenField(page.body, name) ?? '']));
        expect(fields.iss).to.equal(running.issuer);
        const callback = new Request(redirectUri, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields) });
        const tokens = await request.tokens(callback);
        expect(tokens.id_token).to.be.a('string');
      });

      it('come in the fragment with response_mode=fragment', async () => {
        const person = new Person('capabilities');
        const signIn = await person.startSignIn(portal, { response_mode: 'fragment' });
        expect(signIn.location!.search).to.equal('');
        const parameters = new URLSearchParams(signIn.location!.hash.slice(1));
        expect(parameters.get('iss')).to.equal(running.issuer);
        // A page reads the fragment and hands its parameters on (openid-client reads a query).
        const tokens = await signIn.tokens(new URL(`${redirectUri}?${parameters}`));
        expect(tokens.id_token).to.be.a('string');
      });

      it('refuse what is not advertised: other response types, the plain code challenge, request objects', async () => {
        const person = new Person('capabilities');
        const error = async (extra: Record<string, string>) => {
          const { location, page } = await person.startSignIn(portal, extra);
          return location ? location.searchParams.get('error') ?? new URLSearchParams(location.hash.slice(1)).get('error') : page?.body;
        };
        expect(await error({ response_type: 'token' })).to.equal('unsupported_response_type');
        expect(await error({ response_type: 'code id_token', nonce: 'n-0S6_WzA2Mj' })).to.equal('unsupported_response_type');
        expect(await error({ code_challenge: 'plain-verifier-of-forty-three-characters-xx', code_challenge_method: 'plain' })).to.equal('invalid_request');
        expect(await error({ request: 'eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9.' })).to.equal('request_not_supported');
      });
    });

    describe('client authentication at the token endpoint', () => {
      it('accepts client_secret_post from a client registered for it, and refuses a wrong secret and a secret from a private_key_jwt client', async () => {
        const postClient = await registered({ token_endpoint_auth_method: 'client_secret_post', grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }, client.ClientSecretPost);
        expect((await client.clientCredentialsGrant(postClient.configuration)).access_token).to.be.a('string');
        const wrongSecret = await client.discovery(new URL(running.issuer), postClient.clientId, {}, client.ClientSecretPost(`${postClient.clientSecret}x`), { execute: [client.allowInsecureRequests] });
        expect(await refusal(client.clientCredentialsGrant(wrongSecret))).to.have.property('error', 'invalid_client');
        const { publicKey } = await generateKeyPair('ES256', { extractable: true });
        const keyClient = await registered({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [await exportJWK(publicKey)] }, grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }, () => client.None());
        // oidc-provider takes client_secret_basic and client_secret_post for one another, never a secret for a key.
        const withSecret = await client.discovery(new URL(running.issuer), keyClient.clientId, {}, client.ClientSecretPost('a-guessed-secret'), { execute: [client.allowInsecureRequests] });
        expect(await refusal(client.clientCredentialsGrant(withSecret))).to.have.property('error', 'invalid_client');
      });

      for (const { alg, key } of assertionAlgorithms) {
        it(`accepts private_key_jwt assertions signed with ${alg}, and refuses one signed by another key`, async () => {
          const { privateKey, publicKey } = await generateKeyPair(key, { extractable: true });
          const stranger = await generateKeyPair(key);
          const saysAlg: client.ModifyAssertionOptions = { [client.modifyAssertion]: (header) => void (header.alg = alg) };
          const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'portal-key', alg }] };
          const keyClient = await registered({ token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: alg, jwks, grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }, () => client.PrivateKeyJwt(privateKey, saysAlg));
          expect((await client.clientCredentialsGrant(keyClient.configuration)).access_token).to.be.a('string');
          const impostor = await client.discovery(new URL(running.issuer), keyClient.clientId, {}, client.PrivateKeyJwt(stranger.privateKey, saysAlg), { execute: [client.allowInsecureRequests] });
          expect(await refusal(client.clientCredentialsGrant(impostor))).to.have.property('error', 'invalid_client');
        });
      }
    });

    for (const alg of capabilities.id_token_signing_alg_values_supported as string[]) {
      it(`signs ID tokens with ${alg} for a client registered for it, verified by openid-client, with iss and auth_time`, async () => {
        const algClient = await registered({ redirect_uris: [redirectUri], token_endpoint_auth_method: 'client_secret_basic', id_token_signed_response_alg: alg }, client.ClientSecretBasic);
        const person = new Person('capabilities');
        const signIn = await person.startSignIn(algClient, { max_age: '600' });
        const { location } = await person.allow(signIn.page!);
        const tokens = await signIn.tokens(location!);
        expect(decodeProtectedHeader(tokens.id_token!).alg).to.equal(alg);
        const claims = tokens.claims()!;
        expect(claims).to.include({ iss: running.issuer });
        expect(claims.auth_time).to.be.a('number');
      });
    }
  });
}
