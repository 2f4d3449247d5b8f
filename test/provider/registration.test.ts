// Dynamic client registration (RFC 7591) behind initial access tokens that
// an admin issues for one portal, and its management (RFC 7592): a client so
// registered belongs to that portal, is third party, keeps only a hashed
// secret, and completes a sign-in.
import { expect } from 'chai';
import * as client from 'openid-client';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { runCliJson } from '../support/cli.ts';
import { buildProfile } from '../support/factories.ts';
import { Person, redirectUri } from '../support/journey.ts';

const adminToken = 'admin-token-for-registration-tests';

describe('dynamic client registration', function () {
  this.timeout(60_000);
  let running: RunningBroker;

  before(async () => {
    running = await startBroker({ ADMIN_TOKEN: adminToken });
  });
  after(() => running.stop());

  const register = (initialAccessToken: string | undefined, metadata: Record<string, unknown> = {}) =>
    fetch(`${running.issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(initialAccessToken ? { authorization: `Bearer ${initialAccessToken}` } : {}) },
      body: JSON.stringify({ redirect_uris: [redirectUri], ...metadata }),
    });

  it('refuses a registration without a valid initial access token', async () => {
    const anonymous = await register(undefined);
    expect(anonymous.status).to.be.oneOf([400, 401]);
    expect(((await anonymous.json()) as { error: string }).error).to.be.oneOf(['invalid_token', 'invalid_request']);
    expect((await register('made-up-initial-access-token')).status).to.equal(401);
  });

  it('registers a CustomerSource client with a CLI-issued token, hashed and third party, that completes a sign-in', async () => {
    const issued = await runCliJson<{ initial_access_token: string; portal: string }>(['clients', 'initial-access-token', '--portal', 'customersource'], running.environment);
    expect(issued.portal).to.equal('customersource');
    const configuration = await client.dynamicClientRegistration(
      new URL(running.issuer),
      { redirect_uris: [redirectUri], token_endpoint_auth_method: 'client_secret_basic', client_name: 'Fabrikam Reports', first_party: true, portal: 'both' } as Partial<client.ClientMetadata>,
      undefined,
      { initialAccessToken: issued.initial_access_token, execute: [client.allowInsecureRequests] },
    );
    const { client_id: clientId, client_secret: clientSecret, registration_access_token: registrationToken } = configuration.clientMetadata() as Record<string, string>;
    expect(clientSecret).to.have.length.greaterThan(30);

    // The portal comes from the token, never from the registrant; so does first party.
    const stored = await running.broker.store.clients.find(clientId!);
    expect(stored).to.deep.include({ portal: 'customersource', firstParty: false });
    expect(stored!.secretHash).to.match(/^sha256:/).and.not.equal(clientSecret);
    expect(JSON.stringify(await running.broker.database('clients').where({ id: clientId }))).to.not.contain(clientSecret);
    expect(JSON.stringify(await running.broker.database('oidc_payloads'))).to.not.contain(issued.initial_access_token);

    // RFC 7592 read: the registration, without the stored hash posing as a secret.
    const read = await fetch(`${running.issuer}/reg/${clientId}`, { headers: { authorization: `Bearer ${registrationToken}` } });
    expect(read.status).to.equal(200);
    const registration = (await read.json()) as Record<string, unknown>;
    expect(registration.client_id).to.equal(clientId);
    expect(registration).to.not.have.property('client_secret');

    // A person with a CustomerSource profile signs in through it (consent: third party).
    const profile = buildProfile({ portal: 'customersource' });
    await running.broker.store.profiles.upsert(profile);
    const { issuer, subject } = await runCliJson<{ issuer: string; subject: string }>(['dev-subject', 'registered-user'], running.environment);
    await runCliJson(['bindings', 'add', '--profile', profile.id, '--issuer', issuer, '--subject', subject], running.environment);
    const portal = { configuration, clientId: clientId!, clientSecret: clientSecret! };
    const person = new Person('registered-user');
    const signIn = await person.startSignIn(portal);
    expect(signIn.page?.body).to.contain('Fabrikam Reports').and.to.contain('Allow');
    const { location } = await person.allow(signIn.page!);
    const tokens = await signIn.tokens(location!);
    const userinfo = await client.fetchUserInfo(configuration, tokens.access_token, client.skipSubjectCheck);
    expect((userinfo.mbs_profiles as Array<{ id: string }>).map((entry) => entry.id)).to.deep.equal([profile.id]);
  });

  it('lets a registrant choose profile_selection ask or all, and refuses any other value', async () => {
    const { initial_access_token: token } = await runCliJson<{ initial_access_token: string }>(['clients', 'initial-access-token', '--portal', 'partnersource'], running.environment);
    const refused = await register(token, { profile_selection: 'first' });
    expect(refused.status).to.equal(400);
    expect(((await refused.json()) as { error: string; error_description: string })).to.include({ error: 'invalid_client_metadata', error_description: 'profile_selection must be ask or all' });
    const { initial_access_token: another } = await runCliJson<{ initial_access_token: string }>(['clients', 'initial-access-token', '--portal', 'partnersource'], running.environment);
    const registered = await register(another, { profile_selection: 'all' });
    expect(registered.status).to.equal(201);
    const { client_id: clientId, profile_selection: selection } = (await registered.json()) as { client_id: string; profile_selection: string };
    expect(selection).to.equal('all');
    expect((await running.broker.store.clients.find(clientId))!.metadata).to.include({ profile_selection: 'all' });
  });

  it('lets an admin issue initial access tokens through the API', async () => {
    const refused = await fetch(`${running.issuer}/admin/api/initial-access-tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"portal":"partnersource"}' });
    expect(refused.status).to.equal(401);
    const bad = await fetch(`${running.issuer}/admin/api/initial-access-tokens`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` }, body: '{"portal":"everywhere"}' });
    expect(bad.status).to.equal(400);
    const issued = await fetch(`${running.issuer}/admin/api/initial-access-tokens`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` }, body: '{"portal":"partnersource","expiresInSeconds":600}' });
    expect(issued.status).to.equal(201);
    const { initial_access_token: token } = (await issued.json()) as { initial_access_token: string };
    const registered = await register(token, { client_name: 'Partner tool' });
    expect(registered.status).to.equal(201);
    const { client_id: clientId } = (await registered.json()) as { client_id: string };
    expect((await running.broker.store.clients.find(clientId))?.portal).to.equal('partnersource');
  });
});
