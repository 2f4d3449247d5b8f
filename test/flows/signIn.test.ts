// The foundation journey end to end, on real parts: an openid-client relying
// party registered with the CLI, the broker on SQLite, the dev upstream's
// sign-in page, a binding made with `bindings add`.
import { expect } from 'chai';
import { compactVerify, createRemoteJWKSet, decodeProtectedHeader } from 'jose';
import * as client from 'openid-client';
import { devSubject } from '../../src/upstream/devUpstream.ts';
import { Browser, formAction, signInContinueLink } from '../support/browser.ts';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { runCli, runCliJson } from '../support/cli.ts';
import { buildProfile, profileCsv } from '../support/factories.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const redirectUri = 'http://127.0.0.1:9/callback';
const postLogoutRedirectUri = 'http://127.0.0.1:9/signed-out';
const scope = 'openid email profile mbs_profiles offline_access';

interface RegisteredClient {
  client_id: string;
  client_secret: string;
}

async function relyingParty(issuer: string, registered: RegisteredClient): Promise<client.Configuration> {
  return client.discovery(
    new URL(issuer),
    registered.client_id,
    { token_endpoint_auth_method: 'client_secret_basic' },
    client.ClientSecretBasic(registered.client_secret),
    { execute: [client.allowInsecureRequests] },
  );
}

/** Starts an authorization at the RP, signs in at the dev upstream when asked, returns the RP's tokens. */
async function signIn(configuration: client.Configuration, browser: Browser, accountName: string, extra: Record<string, string> = {}, upstreamEmail = `${accountName}@hotmail.example`) {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(configuration, {
    redirect_uri: redirectUri,
    scope,
    prompt: 'consent',
    state,
    nonce,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    ...extra,
  });
  const reachedCallback = (location: URL) => location.href.startsWith(redirectUri);
  let { page, location } = await browser.follow(url.href, reachedCallback);
  const landing = !location && page ? signInContinueLink(page.body) : undefined;
  if (landing) ({ page, location } = await browser.follow(new URL(landing, page!.url).href, reachedCallback));
  let upstreamSignInShown = false;
  if (!location && page && page.body.includes('Account name')) {
    upstreamSignInShown = true;
    const submitted = await browser.post(new URL(formAction(page.body), page.url).href, { account: accountName, email: upstreamEmail });
    expect(submitted.status, submitted.body).to.equal(303);
    ({ page, location } = await browser.follow(new URL(submitted.headers.get('location')!, submitted.url).href, reachedCallback));
  }
  return {
    page,
    location,
    upstreamSignInShown,
    async tokens() {
      expect(location, page?.body).to.not.equal(undefined);
      return client.authorizationCodeGrant(configuration, location!, { pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce });
    },
  };
}

describe('sign-in through the upstream for an associated identity', function () {
  this.timeout(60_000);
  let running: RunningBroker;
  let registered: RegisteredClient;
  let configuration: client.Configuration;
  const partnerProfile = buildProfile({ portal: 'partnersource', email: 'jane.doe@contoso.example', displayName: 'Jane Doe', organization: 'Contoso Partners', roles: ['partner-admin'] });
  const customerProfile = buildProfile({ portal: 'customersource', email: 'jane.doe@contoso.example', displayName: 'Jane Doe', organization: 'Contoso Retail' });

  before(async () => {
    running = await startBroker();
    registered = await runCliJson<RegisteredClient>(
      ['clients', 'add', '--id', 'partnersource-portal', '--name', 'PartnerSource', '--portal', 'partnersource', '--first-party', '--redirect-uri', redirectUri, '--post-logout-redirect-uri', postLogoutRedirectUri],
      running.environment,
    );
    const file = join(mkdtempSync(join(tmpdir(), 'mbs-profiles-')), 'profiles.csv');
    writeFileSync(file, profileCsv([partnerProfile, customerProfile]));
    await runCliJson(['profiles', 'import', file], running.environment);
    for (const profile of [partnerProfile, customerProfile]) {
      await runCliJson(['bindings', 'add', '--profile', profile.id, '--issuer', `${running.issuer}/dev/upstream`, '--subject', devSubject('jane')], running.environment);
    }
    configuration = await relyingParty(running.issuer, registered);
  });
  after(() => running.stop());

  it('completes authorization code + PKCE with a signed ID token, userinfo claims and the portal’s profiles only', async () => {
    const browser = new Browser();
    const journey = await signIn(configuration, browser, 'jane');
    expect(journey.upstreamSignInShown).to.equal(true);
    const tokens = await journey.tokens();
    const idToken = tokens.id_token!;
    expect(decodeProtectedHeader(idToken).alg).to.equal('RS256');
    const { payload } = await compactVerify(idToken, createRemoteJWKSet(new URL(`${running.issuer}/jwks`)));
    const claims = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
    expect(claims.iss).to.equal(running.issuer);
    expect(claims.aud).to.equal(registered.client_id);

    const userinfo = await client.fetchUserInfo(configuration, tokens.access_token, String(claims.sub));
    expect(userinfo).to.include({ email: 'jane.doe@contoso.example', email_verified: true, name: 'Jane Doe' });
    expect(userinfo.mbs_profiles).to.deep.equal([
      { id: partnerProfile.id, portal: 'partnersource', organization: 'Contoso Partners', display_name: 'Jane Doe', roles: ['partner-admin'] },
    ]);
    expect(tokens.refresh_token).to.be.a('string');
    const refreshed = await client.refreshTokenGrant(configuration, tokens.refresh_token!);
    expect(refreshed.access_token).to.be.a('string').and.not.equal(tokens.access_token);
  });

  it('lets two portal tabs refresh one confidential refresh token at once without signing the user out', async () => {
    const tokens = await (await signIn(configuration, new Browser(), 'jane')).tokens();
    const [first, second] = await Promise.all([client.refreshTokenGrant(configuration, tokens.refresh_token!), client.refreshTokenGrant(configuration, tokens.refresh_token!)]);
    expect(first.access_token).to.be.a('string');
    expect(second.access_token).to.be.a('string');
    // No rotation for confidential clients: the same refresh token keeps working.
    expect((await client.refreshTokenGrant(configuration, tokens.refresh_token!)).access_token).to.be.a('string');
  });

  it('never lets the dev upstream’s cookies overwrite the broker’s', async () => {
    const browser = new Browser();
    await signIn(configuration, browser, 'jane');
    const names = browser.cookieNames();
    expect(names).to.include('_session');
    expect(names.filter((name) => name.startsWith('mbs_dev_upstream_'))).to.not.be.empty;
  });

  it('signs a returning browser in again without the upstream page, and RP-initiated logout ends the session', async () => {
    const browser = new Browser();
    const first = await signIn(configuration, browser, 'jane');
    const tokens = await first.tokens();
    const again = await signIn(configuration, browser, 'jane');
    expect(again.upstreamSignInShown).to.equal(false);
    expect(again.location).to.not.equal(undefined);

    const logoutUrl = client.buildEndSessionUrl(configuration, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: postLogoutRedirectUri });
    const confirmation = await browser.get(logoutUrl.href);
    expect(confirmation.status).to.equal(200);
    expect(confirmation.body).to.contain('Yes, sign me out');
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(confirmation.body)?.[1];
    const confirmed = await browser.post(new URL(formAction(confirmation.body), running.issuer).href, { xsrf: xsrf!, logout: 'yes' });
    const { location } = await browser.follow(new URL(confirmed.headers.get('location')!, running.issuer).href, (next) => next.href.startsWith(postLogoutRedirectUri));
    expect(location?.href.startsWith(postLogoutRedirectUri)).to.equal(true);
    const logouts = await running.broker.store.auditEvents.list({ type: 'logout' });
    expect(logouts.total, 'the sign-out is an audit event').to.be.greaterThan(0);
    expect(logouts.items[0]).to.include({ outcome: 'success', actor: 'user' });
    expect(logouts.items[0]!.accountId).to.be.a('string');

    // The broker session is gone: the next sign-in goes to the upstream again
    // (which still has its own session, so it answers silently).
    const afterLogout = await signIn(configuration, browser, 'jane');
    expect(afterLogout.location).to.not.equal(undefined);
    expect(browser.cookieNames()).to.include('_session');
  });

  it('issues no code to an identity that is not associated, and asks for its MBS email instead', async () => {
    const journey = await signIn(configuration, new Browser(), 'stranger');
    expect(journey.location).to.equal(undefined);
    expect(journey.page?.status).to.equal(200);
    expect(journey.page?.body).to.contain('Enter your MBS email address');
    const events = await running.broker.store.auditEvents.list({ type: 'sign_in' });
    expect(events.items.some((event) => event.outcome === 'failure' && event.details?.reason === 'not_associated')).to.equal(true);
  });

  it('never matches an account on the upstream email claim (Grafana CVE-2023-3128)', async () => {
    // Another upstream account that claims Jane's addresses, upstream and MBS alike.
    for (const claimedEmail of ['jane@hotmail.example', 'jane.doe@contoso.example']) {
      const journey = await signIn(configuration, new Browser(), `mallory-${claimedEmail}`, {}, claimedEmail);
      expect(journey.location, claimedEmail).to.equal(undefined);
      expect(journey.page?.body).to.contain('Enter your MBS email address');
    }
  });

  it('gives the MBS email the account proved, not the upstream’s email claim', async () => {
    const tokens = await (await signIn(configuration, new Browser(), 'jane', {}, 'someone.else@hotmail.example')).tokens();
    const userinfo = await client.fetchUserInfo(configuration, tokens.access_token, client.skipSubjectCheck);
    expect(userinfo.email).to.equal('jane.doe@contoso.example');
  });

  it('redeems a code exactly once among 20 parallel redemptions', async () => {
    const codeVerifier = client.randomPKCECodeVerifier();
    const journey = await signIn(configuration, new Browser(), 'jane', {
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    });
    const code = journey.location!.searchParams.get('code')!;
    const basic = `Basic ${Buffer.from(`${encodeURIComponent(registered.client_id)}:${encodeURIComponent(registered.client_secret)}`).toString('base64')}`;
    const responses = await Promise.all(
      Array.from({ length: 20 }, () =>
        fetch(`${running.issuer}/token`, {
          method: 'POST',
          headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: codeVerifier }),
        }),
      ),
    );
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status === 200)).to.have.length(1);
    expect(statuses.filter((status) => status === 400)).to.have.length(19);
  });

  it('keeps clients, keys, sessions and refresh tokens across a restart', async () => {
    const browser = new Browser();
    const tokens = await (await signIn(configuration, browser, 'jane')).tokens();
    const keysBefore = (await (await fetch(`${running.issuer}/jwks`)).json()) as { keys: Array<{ kid: string }> };
    await running.restart();
    const keysAfter = (await (await fetch(`${running.issuer}/jwks`)).json()) as { keys: Array<{ kid: string }> };
    expect(keysAfter.keys.map((key) => key.kid)).to.deep.equal(keysBefore.keys.map((key) => key.kid));
    const refreshed = await client.refreshTokenGrant(await relyingParty(running.issuer, registered), tokens.refresh_token!);
    expect(refreshed.access_token).to.be.a('string');
    const again = await signIn(await relyingParty(running.issuer, registered), browser, 'jane');
    expect(again.upstreamSignInShown).to.equal(false);
    expect(again.location).to.not.equal(undefined);
  });

  it('rotates keys without invalidating ID tokens already issued', async () => {
    const before = await (await signIn(configuration, new Browser(), 'jane')).tokens();
    const oldKid = decodeProtectedHeader(before.id_token!).kid;
    await runCliJson(['keys', 'rotate'], running.environment);
    await running.restart();
    const jwks = createRemoteJWKSet(new URL(`${running.issuer}/jwks`));
    await compactVerify(before.id_token!, jwks);
    const after = await (await signIn(await relyingParty(running.issuer, registered), new Browser(), 'jane')).tokens();
    expect(decodeProtectedHeader(after.id_token!).kid).to.not.equal(oldKid);
    await compactVerify(after.id_token!, jwks);
  });

  it('issues client-credentials tokens to a confidential client allowed that grant', async () => {
    const service = await runCliJson<RegisteredClient>(
      ['clients', 'add', '--portal', 'both', '--redirect-uri', redirectUri, '--grant-type', 'client_credentials'],
      running.environment,
    );
    const tokens = await client.clientCredentialsGrant(await relyingParty(running.issuer, service), {});
    expect(tokens.access_token).to.be.a('string');
    let refusal: unknown;
    await client.clientCredentialsGrant(configuration, {}).catch((error: unknown) => (refusal = error));
    // The portal may not use the grant: oidc-provider refuses before issuing anything.
    expect((refusal as { error?: string }).error).to.be.oneOf(['unauthorized_client', 'invalid_request']);
    expect((refusal as { status?: number }).status).to.equal(400);
  });

  it('requires PKCE from public clients', async () => {
    const publicClient = await runCliJson<{ client_id: string }>(['clients', 'add', '--portal', 'partnersource', '--public', '--redirect-uri', redirectUri], running.environment);
    const page = await new Browser().get(
      `${running.issuer}/auth?${new URLSearchParams({ client_id: publicClient.client_id, response_type: 'code', scope: 'openid', redirect_uri: redirectUri }).toString()}`,
    );
    const location = new URL(page.headers.get('location')!);
    expect(location.searchParams.get('error')).to.equal('invalid_request');
    expect(location.searchParams.get('error_description')).to.contain('PKCE');
  });

  it('rejects a wrong client secret and stores client secrets only hashed', async () => {
    const wrong = await relyingParty(running.issuer, { ...registered, client_secret: 'not-the-secret' });
    let failure: unknown;
    await client.clientCredentialsGrant(wrong, {}).catch((error: unknown) => (failure = error));
    // 401 with a WWW-Authenticate challenge carrying error="invalid_client".
    expect((failure as { status?: number }).status).to.equal(401);
    expect(JSON.stringify((failure as { cause?: unknown }).cause)).to.contain('invalid_client');
    const stored = await running.broker.store.clients.find(registered.client_id);
    expect(stored?.secretHash).to.match(/^sha256:/);
    expect(JSON.stringify(stored)).to.not.contain(registered.client_secret);
  });

  it('lets a client introspect and revoke only its own tokens', async () => {
    const tokens = await (await signIn(configuration, new Browser(), 'jane')).tokens();
    const other = await runCliJson<RegisteredClient>(['clients', 'add', '--portal', 'customersource', '--redirect-uri', redirectUri], running.environment);
    const otherConfiguration = await relyingParty(running.issuer, other);
    expect((await client.tokenIntrospection(configuration, tokens.access_token)).active).to.equal(true);
    expect((await client.tokenIntrospection(otherConfiguration, tokens.access_token)).active).to.equal(false);
    let refusal: unknown;
    await client.tokenRevocation(otherConfiguration, tokens.access_token).catch((error: unknown) => (refusal = error));
    expect(refusal).to.not.equal(undefined);
    await client.tokenRevocation(configuration, tokens.access_token);
    expect((await client.tokenIntrospection(configuration, tokens.access_token)).active).to.equal(false);
  });
});

describe('bad input', function () {
  this.timeout(60_000);
  let running: RunningBroker;
  let registered: RegisteredClient;
  before(async () => {
    running = await startBroker();
    registered = await runCliJson<RegisteredClient>(['clients', 'add', '--id', 'portal', '--portal', 'partnersource', '--redirect-uri', redirectUri], running.environment);
  });
  after(() => running.stop());

  const authorize = (parameters: Record<string, string>) => new Browser().get(`${running.issuer}/auth?${new URLSearchParams(parameters).toString()}`);

  it('answers an unknown client with a clear page, not a redirect', async () => {
    const page = await authorize({ client_id: 'nobody', response_type: 'code', scope: 'openid', redirect_uri: redirectUri });
    expect(page.status).to.equal(400);
    expect(page.body).to.contain('not registered');
  });

  it('never redirects to an unregistered redirect URI', async () => {
    const page = await authorize({ client_id: registered.client_id, response_type: 'code', scope: 'openid', redirect_uri: 'https://attacker.example/cb' });
    expect(page.status).to.equal(400);
    expect(page.headers.get('location')).to.equal(null);
    expect(page.body).to.contain('redirect_uri');
  });

  it('returns a malformed request to the client as an OAuth error', async () => {
    const page = await authorize({ client_id: registered.client_id, response_type: 'token', scope: 'openid', redirect_uri: redirectUri });
    expect(page.status).to.be.oneOf([302, 303]);
    expect(page.headers.get('location')).to.contain('error=');
  });

  it('explains an interaction or callback it cannot find instead of failing', async () => {
    for (const path of ['/interaction/unknown', '/interaction/unknown/upstream?state=x&code=y', '/upstream/callback?state=forged&code=y', '/upstream/callback']) {
      const page = await new Browser().get(`${running.issuer}${path}`);
      expect(page.status, path).to.be.within(400, 499);
      expect(page.body, path).to.contain('sign in again');
      expect(page.body, path).to.not.match(/at .*\.ts:\d+/);
    }
  });

  it('answers garbage at the token endpoint with a JSON error', async () => {
    const response = await fetch(`${running.issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=%%%' });
    expect(response.status).to.equal(400);
    expect(((await response.json()) as { error: string }).error).to.be.a('string');
  });

  it('rejects bad CLI input with a message and a failing exit code', async () => {
    const badUri = await runCli(['clients', 'add', '--portal', 'partnersource', '--redirect-uri', 'not a url'], running.environment);
    expect(badUri.exitCode).to.equal(1);
    expect(badUri.stderr).to.contain('not an absolute URL');
    const file = join(mkdtempSync(join(tmpdir(), 'mbs-profiles-')), 'bad.csv');
    writeFileSync(file, 'id,portal,email,display_name,organization,roles\nP-1,partnersource,a@b.example,A,B,\nP-2,nowhere,a@b.example,A,B,\n');
    const imported = await runCli(['--json', 'profiles', 'import', file], running.environment);
    expect(imported.exitCode).to.equal(2);
    expect(JSON.parse(imported.stdout)).to.deep.include({ created: 1, rejected: [{ line: 3, reason: 'portal must be partnersource or customersource' }] });
    const missing = await runCli(['profiles', 'import', '/nonexistent/file.csv'], running.environment);
    expect(missing.exitCode).to.equal(1);
    expect(missing.stderr).to.contain('cannot read');
  });
});
