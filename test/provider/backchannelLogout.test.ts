// Single logout: signing out of PartnerSource ends the broker session, and
// the broker posts a valid logout token (OpenID Connect Back-Channel Logout)
// to every portal of that session — here, CustomerSource's endpoint. "Sign
// out everywhere" on the account page does the same for every session.
import { expect } from 'chai';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { formAction, hiddenField } from '../support/browser.ts';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { LogoutEndpoint } from '../support/logoutEndpoint.ts';
import { runCliJson } from '../support/cli.ts';
import { buildProfile } from '../support/factories.ts';
import { confidentialPortal, Person, redirectUri, type Portal } from '../support/journey.ts';

describe('back-channel logout', function () {
  this.timeout(60_000);
  let running: RunningBroker;
  let endpoint: LogoutEndpoint;
  let partnerSource: Portal;
  let customerSource: Portal;
  const postLogoutRedirectUri = 'http://127.0.0.1:9/signed-out';

  async function portal(kind: 'partnersource' | 'customersource'): Promise<Portal> {
    const registered = await runCliJson<{ client_id: string; client_secret: string }>(
      ['clients', 'add', '--portal', kind, '--first-party', '--redirect-uri', redirectUri, '--post-logout-redirect-uri', postLogoutRedirectUri, '--backchannel-logout-uri', endpoint.url(`/${kind}`)],
      running.environment,
    );
    return confidentialPortal(running.issuer, registered.client_id, registered.client_secret);
  }

  before(async () => {
    endpoint = new LogoutEndpoint();
    await endpoint.start();
    running = await startBroker();
    partnerSource = await portal('partnersource');
    customerSource = await portal('customersource');
  });
  after(async () => {
    await running.stop();
    await endpoint.stop();
  });

  async function signedInToBoth(accountName: string) {
    const profiles = [buildProfile({ portal: 'partnersource' }), buildProfile({ portal: 'customersource' })];
    for (const profile of profiles) await running.broker.store.profiles.upsert(profile);
    const { issuer, subject } = await runCliJson<{ issuer: string; subject: string }>(['dev-subject', accountName], running.environment);
    for (const profile of profiles) await runCliJson(['bindings', 'add', '--profile', profile.id, '--issuer', issuer, '--subject', subject], running.environment);
    const person = new Person(accountName);
    const atPartner = await person.startSignIn(partnerSource);
    const partnerTokens = await atPartner.tokens(atPartner.location!);
    const atCustomer = await person.startSignIn(customerSource);
    expect(atCustomer.location, 'SSO to CustomerSource').to.not.equal(undefined);
    const customerTokens = await atCustomer.tokens(atCustomer.location!);
    return { person, partnerTokens, customerTokens };
  }

  async function verifiedLogoutToken(path: string, audience: string) {
    const entry = endpoint.received.find((candidate) => candidate.path === path);
    expect(entry, `a logout token at ${path}`).to.not.equal(undefined);
    const jwks = createRemoteJWKSet(new URL(`${running.issuer}/jwks`));
    const { payload } = await jwtVerify(entry!.logoutToken, jwks, { issuer: running.issuer, audience });
    return payload;
  }

  it('delivers a valid logout token to CustomerSource when the person signs out of PartnerSource', async () => {
    endpoint.received.length = 0;
    const { person, partnerTokens, customerTokens } = await signedInToBoth('single-logout');
    const logout = client.buildEndSessionUrl(partnerSource.configuration, { id_token_hint: partnerTokens.id_token!, post_logout_redirect_uri: postLogoutRedirectUri });
    const confirmation = await person.browser.get(logout.href);
    const confirmed = await person.browser.post(new URL(formAction(confirmation.body), running.issuer).href, { xsrf: hiddenField(confirmation.body, 'xsrf')!, logout: 'yes' });
    await person.browser.follow(new URL(confirmed.headers.get('location')!, running.issuer).href, (next) => next.href.startsWith(postLogoutRedirectUri));

    const payload = await verifiedLogoutToken('/customersource', customerSource.clientId);
    const customerIdToken = decodeJwt(customerTokens.id_token!);
    expect(payload.sid).to.equal(customerIdToken.sid);
    expect(payload.sub).to.equal(customerIdToken.sub);
    expect(payload.events).to.deep.equal({ 'http://schemas.openid.net/event/backchannel-logout': {} });
    expect(payload).to.not.have.property('nonce');
    expect(payload.jti).to.be.a('string');
    await verifiedLogoutToken('/partnersource', partnerSource.clientId);
  });

  it('notifies every portal when the person signs out everywhere from the account page', async () => {
    endpoint.received.length = 0;
    const { person, customerTokens } = await signedInToBoth('everywhere-logout');
    const { page } = await person.follow(`${running.issuer}/account`);
    await person.browser.post(`${running.issuer}/account/sign-out-everywhere`, { csrf: hiddenField(page!.body, 'csrf')! });
    const payload = await verifiedLogoutToken('/customersource', customerSource.clientId);
    expect(payload.sid).to.equal(decodeJwt(customerTokens.id_token!).sid);
  });
});
