// Pushed authorization requests (RFC 9126) end to end, on each database:
// openid-client pushes the parameters and signs a person in through the dev
// upstream; a client registered as requiring PAR (CLI, admin API, dynamic
// registration) is refused a plain request; a request_uri is single use,
// expires, belongs to the client that pushed it, and works at another
// broker instance on the same database. Every refusal is the RFC's error.
import { expect } from 'chai';
import * as client from 'openid-client';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { runCliJson } from '../support/cli.ts';
import { createPostgresDatabase } from '../support/databases.ts';
import { buildProfile } from '../support/factories.ts';
import { bindDevAccount, Person, redirectUri, registerPortal, type Portal } from '../support/journey.ts';
import { authorizationRefusal, pushedRequestUriPrefix, signInWithPushedRequest } from '../support/pushedAuthorization.ts';
import { pushedAuthorizationRequestLifetimeSeconds } from '../../src/provider/pushedAuthorization.ts';

const adminToken = 'admin-token-for-the-par-tests';
const databases = process.env.TEST_POSTGRES_URL ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);

/** Pushes an authorization request by hand (client_secret_basic), for the answers openid-client hides. */
async function push(running: RunningBroker, portal: Portal, parameters: Record<string, string>): Promise<Response> {
  return fetch(`${running.issuer}/request`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${portal.clientId}:${portal.clientSecret}`).toString('base64')}` },
    body: new URLSearchParams({ client_id: portal.clientId, response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', ...parameters }),
  });
}

for (const kind of databases) {
  describe(`pushed authorization requests (RFC 9126) on ${kind}`, function () {
    this.timeout(60_000);
    let running: RunningBroker;
    let postgres: { url: string; drop(): Promise<void> } | undefined;
    let portal: Portal;
    const partnerProfile = buildProfile({ portal: 'partnersource' });

    before(async () => {
      if (kind === 'postgres') postgres = await createPostgresDatabase(process.env.TEST_POSTGRES_URL!);
      running = await startBroker({ ADMIN_TOKEN: adminToken, ...(postgres ? { DATABASE_URL: postgres.url } : {}) });
      portal = await registerPortal(running, 'partnersource');
      await bindDevAccount(running, 'par-user', [partnerProfile], running.broker.store);
    });
    after(async () => {
      await running?.stop();
      await postgres?.drop();
    });

    it('signs a person in through a pushed request: the browser carries only client_id and request_uri', async () => {
      const signIn = await signInWithPushedRequest(new Person('par-user'), portal.configuration);
      expect([...signIn.url.searchParams.keys()].sort()).to.deep.equal(['client_id', 'request_uri']);
      expect(signIn.url.searchParams.get('request_uri')).to.match(new RegExp(`^${pushedRequestUriPrefix}`));
      const tokens = await signIn.tokens();
      const userinfo = await client.fetchUserInfo(portal.configuration, tokens.access_token, tokens.claims()!.sub);
      expect((userinfo.mbs_profiles as Array<{ id: string }>).map((profile) => profile.id)).to.deep.equal([partnerProfile.id]);
    });

    it('answers a push with a request_uri that lives 60 seconds, stored so that every instance finds it', async () => {
      const pushedAt = Date.now();
      const response = await push(running, portal, { state: 'lifetime' });
      expect(response.status).to.equal(201);
      const body = (await response.json()) as { request_uri: string; expires_in: number };
      expect(body.expires_in).to.equal(pushedAuthorizationRequestLifetimeSeconds).and.equal(60);
      const row = await running.broker.database('oidc_payloads').where({ type: 'PushedAuthorizationRequest', id: body.request_uri.slice(pushedRequestUriPrefix.length) }).first();
      expect(Number(row.expires_at)).to.be.within(pushedAt + 59_000, Date.now() + 60_000);
    });

    it('refuses a push without client authentication or with an unregistered redirect_uri, as JSON', async () => {
      const unauthenticated = await fetch(`${running.issuer}/request`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ client_id: portal.clientId, response_type: 'code', scope: 'openid', redirect_uri: redirectUri }) });
      expect(unauthenticated.status).to.equal(401);
      expect(((await unauthenticated.json()) as { error: string }).error).to.equal('invalid_client');
      const elsewhere = await push(running, portal, { redirect_uri: 'https://attacker.example/callback' });
      expect(elsewhere.status).to.equal(400);
      expect(((await elsewhere.json()) as { error: string }).error).to.equal('invalid_request');
    });

    it('refuses a request_uri used a second time with invalid_request_uri', async () => {
      const person = new Person('par-user');
      const signIn = await signInWithPushedRequest(person, portal.configuration);
      await signIn.tokens();
      const again = await authorizationRefusal(person, signIn.url.href);
      // The client's one registered redirect URI gets the error, with the issuer (RFC 9207).
      expect(again).to.deep.equal({ error: 'invalid_request_uri', delivery: 'redirect', issuer: running.issuer });
    });

    it('refuses an expired request_uri with invalid_request_uri', async () => {
      const pushed = (await (await push(running, portal, { state: 'expiring' })).json()) as { request_uri: string };
      // The store's notion of the request_uri's end, moved to the past as 60 seconds would.
      await running.broker.database('oidc_payloads').where({ type: 'PushedAuthorizationRequest', id: pushed.request_uri.slice(pushedRequestUriPrefix.length) }).update({ expires_at: Date.now() - 1000 });
      const refusal = await authorizationRefusal(new Person('par-user'), `${running.issuer}/auth?${new URLSearchParams({ client_id: portal.clientId, request_uri: pushed.request_uri })}`);
      expect(refusal).to.deep.equal({ error: 'invalid_request_uri', delivery: 'redirect', issuer: running.issuer });
    });

    it('refuses a request_uri pushed by another client, and one that was never pushed, with invalid_request_uri', async () => {
      const other = await registerPortal(running, 'partnersource');
      const pushed = (await (await push(running, other, { state: 'not-yours' })).json()) as { request_uri: string };
      const person = new Person('par-user');
      const stolen = await authorizationRefusal(person, `${running.issuer}/auth?${new URLSearchParams({ client_id: portal.clientId, request_uri: pushed.request_uri })}`);
      expect(stolen.error).to.equal('invalid_request_uri');
      const invented = await authorizationRefusal(person, `${running.issuer}/auth?${new URLSearchParams({ client_id: portal.clientId, request_uri: `${pushedRequestUriPrefix}made-up` })}`);
      expect(invented.error).to.equal('invalid_request_uri');
      for (const refusal of [stolen, invented]) expect(refusal).to.include({ delivery: 'redirect', issuer: running.issuer });
    });

    it('shows its error page (400) for a bad request_uri when the client has several redirect URIs to choose from', async () => {
      const registered = await runCliJson<{ client_id: string }>(['clients', 'add', '--portal', 'partnersource', '--redirect-uri', redirectUri, '--redirect-uri', `${redirectUri}/other`], running.environment);
      const refusal = await authorizationRefusal(new Person('par-user'), `${running.issuer}/auth?${new URLSearchParams({ client_id: registered.client_id, request_uri: `${pushedRequestUriPrefix}made-up` })}`);
      expect(refusal).to.deep.equal({ error: 'invalid_request_uri', delivery: 'page', status: 400 });
    });

    it('refuses a plain authorization request from a client registered with the CLI as requiring PAR, and accepts its pushed one', async () => {
      const registered = await runCliJson<{ client_id: string; client_secret: string; require_pushed_authorization_requests: boolean }>(
        ['clients', 'add', '--portal', 'partnersource', '--first-party', '--require-pushed-authorization-requests', '--redirect-uri', redirectUri],
        running.environment,
      );
      expect(registered.require_pushed_authorization_requests).to.equal(true);
      const configuration = await client.discovery(new URL(running.issuer), registered.client_id, { token_endpoint_auth_method: 'client_secret_basic' }, client.ClientSecretBasic(registered.client_secret), { execute: [client.allowInsecureRequests] });
      const person = new Person('par-user');
      const plain = client.buildAuthorizationUrl(configuration, { redirect_uri: redirectUri, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' });
      const refusal = await authorizationRefusal(person, plain.href);
      expect(refusal).to.include({ error: 'invalid_request', delivery: 'redirect', issuer: running.issuer });
      const tokens = await (await signInWithPushedRequest(person, configuration)).tokens();
      expect(tokens.access_token).to.be.a('string');
    });

    it('sets require_pushed_authorization_requests through the admin API and dynamic registration', async () => {
      const call = (method: string, path: string, body: unknown) =>
        fetch(`${running.issuer}/admin/api${path}`, { method, headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const created = await call('POST', '/clients', { portal: 'customersource', redirectUris: [redirectUri], requirePushedAuthorizationRequests: true });
      expect(created.status).to.equal(201);
      const { client_id: clientId, require_pushed_authorization_requests: required } = (await created.json()) as { client_id: string; require_pushed_authorization_requests: boolean };
      expect(required).to.equal(true);
      const relaxed = await call('PATCH', `/clients/${clientId}`, { requirePushedAuthorizationRequests: false });
      expect(((await relaxed.json()) as { require_pushed_authorization_requests: boolean }).require_pushed_authorization_requests).to.equal(false);

      const issued = await runCliJson<{ initial_access_token: string }>(['clients', 'initial-access-token', '--portal', 'customersource'], running.environment);
      const dynamic = await client.dynamicClientRegistration(
        new URL(running.issuer),
        { redirect_uris: [redirectUri], token_endpoint_auth_method: 'client_secret_basic', require_pushed_authorization_requests: true },
        undefined,
        { initialAccessToken: issued.initial_access_token, execute: [client.allowInsecureRequests] },
      );
      expect(dynamic.clientMetadata().require_pushed_authorization_requests).to.equal(true);
      const plain = client.buildAuthorizationUrl(dynamic, { redirect_uri: redirectUri, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' });
      expect((await authorizationRefusal(new Person('par-user'), plain.href)).error).to.equal('invalid_request');
    });

    it('uses at one broker instance a request pushed at another on the same database', async () => {
      const second = await startBroker({ ISSUER: running.issuer, DATABASE_URL: running.environment.DATABASE_URL! });
      try {
        // openid-client talks to the second instance (push, code exchange); the browser goes to the first.
        const atSecond: string[] = [];
        const throughSecond = await client.discovery(new URL(running.issuer), portal.clientId, { token_endpoint_auth_method: 'client_secret_basic' }, client.ClientSecretBasic(portal.clientSecret), { execute: [client.allowInsecureRequests] });
        throughSecond[client.customFetch] = (url, options) => {
          const target = new URL(url);
          target.port = second.environment.PORT!;
          atSecond.push(target.pathname);
          return fetch(target, options);
        };
        const signIn = await signInWithPushedRequest(new Person('par-user'), throughSecond);
        expect(signIn.url.origin).to.equal(running.issuer);
        expect((await signIn.tokens()).access_token).to.be.a('string');
        expect(atSecond).to.include.members(['/request', '/token']);
      } finally {
        await second.stop();
      }
    });
  });
}
