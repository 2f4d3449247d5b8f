// Public clients (single-page apps such as oidc-client-ts): a refresh token
// without offline_access, bound to the broker session and rotated at each
// use; the token, userinfo and revocation endpoints answering a browser
// (CORS) only from the client's own registered origin; and a revocation
// answer browser libraries accept.
import { expect } from 'chai';
import * as client from 'openid-client';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { buildProfile } from '../support/factories.ts';
import { bindDevAccount, Person, redirectUri, registerPortal, type Portal } from '../support/journey.ts';

describe('public clients (single-page apps)', function () {
  this.timeout(60_000);
  let running: RunningBroker;
  let spa: Portal;
  let confidential: Portal;
  const registeredOrigin = new URL(redirectUri).origin;
  const otherOrigin = 'http://127.0.0.1:10';

  before(async () => {
    running = await startBroker();
    spa = await registerPortal(running, 'partnersource', { public: true });
    confidential = await registerPortal(running, 'partnersource');
    await bindDevAccount(running, 'spa-holder', [buildProfile({ id: 'PS-SPA-1', portal: 'partnersource' })], running.broker.store);
  });
  after(() => running.stop());

  async function signedIn(portal: Portal, person = new Person('spa-holder')) {
    const signIn = await person.startSignIn(portal);
    expect(signIn.location, signIn.page?.body).to.not.equal(undefined);
    return { person, tokens: await signIn.tokens(signIn.location!) };
  }

  /** A request from a page of `origin`, as a browser sends it (a public client's id in the form, no secret). */
  const fromPage = (origin: string, path: string, init: { form?: Record<string, string>; bearer?: string }) =>
    fetch(`${running.issuer}${path}`, {
      method: init.form ? 'POST' : 'GET',
      headers: { origin, ...(init.bearer ? { authorization: `Bearer ${init.bearer}` } : {}) },
      ...(init.form ? { body: new URLSearchParams(init.form) } : {}),
    });

  it('get a refresh token without offline_access, rotated at each use, and dead once the broker session ends', async () => {
    const { person, tokens } = await signedIn(spa);
    expect(tokens.scope?.split(' ')).to.not.include('offline_access');
    expect(tokens.refresh_token, 'a refresh token for the public client').to.be.a('string');

    const renewed = await client.refreshTokenGrant(spa.configuration, tokens.refresh_token!);
    expect(renewed.refresh_token, 'rotated').to.be.a('string').and.not.equal(tokens.refresh_token);
    expect(renewed.id_token).to.be.a('string');
    const reused = await client.refreshTokenGrant(spa.configuration, tokens.refresh_token!).then(() => undefined, (error: unknown) => error);
    expect(reused, 'the rotated-out token is refused').to.have.property('error', 'invalid_grant');

    await person.signOut(spa, renewed.id_token!);
    const afterSignOut = await client.refreshTokenGrant(spa.configuration, renewed.refresh_token!).then(() => undefined, (error: unknown) => error);
    expect(afterSignOut, 'bound to the broker session').to.have.property('error', 'invalid_grant');
  });

  it('leave a confidential portal without a refresh token unless it asks for offline_access', async () => {
    const { tokens } = await signedIn(confidential);
    expect(tokens.refresh_token).to.equal(undefined);
  });

  it('are answered over CORS from the origin of their redirect URI, and refused from another', async () => {
    const { tokens } = await signedIn(spa);
    const preflight = await fetch(`${running.issuer}/token`, { method: 'OPTIONS', headers: { origin: registeredOrigin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
    expect(preflight.status).to.equal(204);
    expect(preflight.headers.get('access-control-allow-methods')).to.equal('POST');

    const refused = await fromPage(otherOrigin, '/token', { form: { grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: spa.clientId } });
    expect(refused.status).to.equal(400);
    expect(refused.headers.get('access-control-allow-origin')).to.equal(null);
    expect(await refused.json()).to.include({ error: 'invalid_request', error_description: `origin ${otherOrigin} not allowed for client: ${spa.clientId}` });

    const renewed = await fromPage(registeredOrigin, '/token', { form: { grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: spa.clientId } });
    expect(renewed.status).to.equal(200);
    expect(renewed.headers.get('access-control-allow-origin')).to.equal(registeredOrigin);
    const { access_token: accessToken, refresh_token: refreshToken } = (await renewed.json()) as { access_token: string; refresh_token: string };

    const userinfo = await fromPage(registeredOrigin, '/me', { bearer: accessToken });
    expect(userinfo.status).to.equal(200);
    expect(userinfo.headers.get('access-control-allow-origin')).to.equal(registeredOrigin);
    expect(((await userinfo.json()) as { mbs_profile_ids: string[] }).mbs_profile_ids).to.deep.equal(['PS-SPA-1']);
    const foreignUserinfo = await fromPage(otherOrigin, '/me', { bearer: accessToken });
    expect(foreignUserinfo.status).to.equal(400);
    expect(foreignUserinfo.headers.get('access-control-allow-origin')).to.equal(null);

    expect((await fromPage(otherOrigin, '/token/revocation', { form: { token: refreshToken, client_id: spa.clientId } })).status).to.equal(400);
    // RFC 7009: 200 and nothing else; without a text/plain type, which oidc-client-ts refuses.
    const revoked = await fromPage(registeredOrigin, '/token/revocation', { form: { token: refreshToken, client_id: spa.clientId } });
    expect(revoked.status).to.equal(200);
    expect(revoked.headers.get('access-control-allow-origin')).to.equal(registeredOrigin);
    expect(revoked.headers.get('content-type')).to.equal(null);
    expect(await revoked.text()).to.equal('');
    const afterRevocation = await fromPage(registeredOrigin, '/token', { form: { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: spa.clientId } });
    expect(afterRevocation.status).to.equal(400);
  });

  it('refuse a confidential client at the token endpoint from a browser, even from its own origin', async () => {
    const { tokens } = await signedIn(confidential);
    const basic = `Basic ${Buffer.from(`${confidential.clientId}:${confidential.clientSecret}`).toString('base64')}`;
    const answer = await fetch(`${running.issuer}/token`, {
      method: 'POST',
      headers: { origin: registeredOrigin, authorization: basic },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: 'any', redirect_uri: redirectUri }),
    });
    expect(answer.status).to.equal(400);
    expect(answer.headers.get('access-control-allow-origin')).to.equal(null);
    expect(await answer.json()).to.include({ error: 'invalid_request', error_description: `origin ${registeredOrigin} not allowed for client: ${confidential.clientId}` });
    // Its pages may still read userinfo with the access token the server handed them.
    const userinfo = await fromPage(registeredOrigin, '/me', { bearer: tokens.access_token });
    expect(userinfo.status).to.equal(200);
    expect(userinfo.headers.get('access-control-allow-origin')).to.equal(registeredOrigin);
  });
});
