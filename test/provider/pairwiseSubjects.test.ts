// Pairwise subjects (OpenID Connect Core §8.1) with the portal as the
// sector, on each database: openid-client relying parties registered through
// the CLI, the admin API and dynamic registration; real sign-ins at the dev
// upstream. A person has one `sub` at every pairwise client of PartnerSource,
// another at CustomerSource, the account id at a public-subject client; the
// same after a restart and on a second instance of the database; and the
// same `sub` in the ID token, userinfo, introspection and logout tokens.
import { createHmac, hkdfSync } from 'node:crypto';
import { expect } from 'chai';
import { createRemoteJWKSet, decodeJwt, jwtVerify, type JWTPayload } from 'jose';
import * as client from 'openid-client';
import { hiddenField } from '../support/browser.ts';
import { freePort, startBroker, type RunningBroker } from '../support/broker.ts';
import { runCliJson } from '../support/cli.ts';
import { createPostgresDatabase } from '../support/databases.ts';
import { buildProfile } from '../support/factories.ts';
import { bindDevAccount, confidentialPortal, Person, redirectUri, registerPortal, type Portal } from '../support/journey.ts';
import { LogoutEndpoint } from '../support/logoutEndpoint.ts';

const databases = process.env.TEST_POSTGRES_URL ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);
const adminToken = 'admin-token-for-pairwise-subjects';
const keyEncryptionKey = 'pairwise-subjects-test-key-encryption-key-0123456789';

/**
 * The `sub` the README documents, computed here independently of the
 * broker's code: HMAC-SHA256 under the HKDF-derived secret of
 * KEY_ENCRYPTION_KEY, over the portal and the account id, base64url.
 */
function documentedPairwiseSubject(sector: string, accountId: string): string {
  const secret = Buffer.from(hkdfSync('sha256', keyEncryptionKey, 'mbs-broker key encryption v1', 'mbs-broker pairwise-subject', 32));
  return createHmac('sha256', secret).update(`${sector}\u0000${accountId}`).digest('base64url');
}

for (const kind of databases) {
  describe(`pairwise subjects on ${kind}`, function () {
    this.timeout(120_000);
    let running: RunningBroker;
    let postgres: { url: string; drop(): Promise<void> } | undefined;
    let endpoint: LogoutEndpoint;
    const portals = {} as Record<'partnerSourceA' | 'partnerSourceB' | 'customerSource' | 'publicSubjects', Portal>;

    /** Registers a pairwise PartnerSource portal through the admin API, with redirect URIs on two hosts and no sector_identifier_uri. */
    async function adminApiPortal(): Promise<Portal> {
      const answer = await fetch(`${running.issuer}/admin/api/clients`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ portal: 'partnersource', firstParty: true, subjectType: 'pairwise', redirectUris: [redirectUri, 'https://reports.partnersource.example/callback'] }),
      });
      expect(answer.status, await answer.clone().text()).to.equal(201);
      const registered = (await answer.json()) as { client_id: string; client_secret: string; subject_type: string };
      expect(registered.subject_type).to.equal('pairwise');
      return confidentialPortal(running.issuer, registered.client_id, registered.client_secret);
    }

    before(async () => {
      endpoint = new LogoutEndpoint();
      await endpoint.start();
      if (kind === 'postgres') postgres = await createPostgresDatabase(process.env.TEST_POSTGRES_URL!);
      running = await startBroker({ ADMIN_TOKEN: adminToken, KEY_ENCRYPTION_KEY: keyEncryptionKey, ...(postgres ? { DATABASE_URL: postgres.url } : {}) });
      portals.partnerSourceA = await registerPortal(running, 'partnersource', { subjectType: 'pairwise', backchannelLogoutUri: endpoint.url('/partnersource-a') });
      portals.partnerSourceB = await adminApiPortal();
      portals.customerSource = await registerPortal(running, 'customersource', { subjectType: 'pairwise', backchannelLogoutUri: endpoint.url('/customersource') });
      portals.publicSubjects = await registerPortal(running, 'partnersource');
    });
    after(async () => {
      await running?.stop();
      await postgres?.drop();
      await endpoint?.stop();
    });

    /** A person bound to a PartnerSource and a CustomerSource profile, and their broker account id. */
    async function boundPerson(accountName: string): Promise<{ person: Person; accountId: string }> {
      await bindDevAccount(running, accountName, [buildProfile({ portal: 'partnersource' }), buildProfile({ portal: 'customersource' })], running.broker.store);
      const { issuer, subject } = await runCliJson<{ issuer: string; subject: string }>(['dev-subject', accountName], running.environment);
      const identity = await running.broker.store.identities.findByIssuerAndSubject(issuer, subject);
      return { person: new Person(accountName), accountId: identity!.accountId };
    }

    async function signIn(person: Person, portal: Portal) {
      const reached = await person.startSignIn(portal);
      expect(reached.location, `a code for ${portal.clientId}`).to.not.equal(undefined);
      return reached.tokens(reached.location!);
    }

    const subjectOf = (tokens: { id_token?: string }): string => String(decodeJwt(tokens.id_token!).sub);

    async function verifiedLogoutToken(path: string, audience: string): Promise<JWTPayload> {
      const entry = endpoint.received.find((candidate) => candidate.path === path);
      expect(entry, `a logout token at ${path}`).to.not.equal(undefined);
      const { payload } = await jwtVerify(entry!.logoutToken, createRemoteJWKSet(new URL(`${running.issuer}/jwks`)), { issuer: running.issuer, audience });
      return payload;
    }

    it('advertises both subject types', async () => {
      const metadata = portals.partnerSourceA.configuration.serverMetadata();
      expect(metadata.subject_types_supported).to.have.members(['public', 'pairwise']);
    });

    it('gives one sub at every pairwise client of a portal, another at the other portal, the account id at a public-subject client', async () => {
      const { person, accountId } = await boundPerson('pairwise-portals');
      const atPartnerSourceA = subjectOf(await signIn(person, portals.partnerSourceA));
      const atPartnerSourceB = subjectOf(await signIn(person, portals.partnerSourceB));
      const atCustomerSource = subjectOf(await signIn(person, portals.customerSource));
      const atPublic = subjectOf(await signIn(person, portals.publicSubjects));

      expect(atPartnerSourceA).to.equal(documentedPairwiseSubject('partnersource', accountId));
      expect(atPartnerSourceB, 'the same sector: the portal, not the redirect host').to.equal(atPartnerSourceA);
      expect(atCustomerSource).to.equal(documentedPairwiseSubject('customersource', accountId)).and.not.equal(atPartnerSourceA);
      expect(atPublic).to.equal(accountId);
      expect([atPartnerSourceA, atCustomerSource]).to.not.include(accountId);
    });

    it('carries the pairwise sub in userinfo and in the introspection of the client’s own token', async () => {
      const { person, accountId } = await boundPerson('pairwise-endpoints');
      const tokens = await signIn(person, portals.customerSource);
      const expected = documentedPairwiseSubject('customersource', accountId);
      expect(subjectOf(tokens)).to.equal(expected);
      // fetchUserInfo itself refuses a sub other than the expected one.
      const userinfo = await client.fetchUserInfo(portals.customerSource.configuration, tokens.access_token, expected);
      expect(userinfo.sub).to.equal(expected);
      const introspection = await client.tokenIntrospection(portals.customerSource.configuration, tokens.access_token);
      expect(introspection).to.include({ active: true, sub: expected, client_id: portals.customerSource.clientId });
    });

    it('keeps the sub after a restart and on a second instance of the same database', async () => {
      const { person, accountId } = await boundPerson('pairwise-instances');
      const expected = documentedPairwiseSubject('partnersource', accountId);
      const tokens = await signIn(person, portals.partnerSourceA);
      expect(subjectOf(tokens)).to.equal(expected);

      await running.restart();
      expect((await client.fetchUserInfo(portals.partnerSourceA.configuration, tokens.access_token, expected)).sub, 'userinfo after a restart').to.equal(expected);
      expect(subjectOf(await signIn(new Person(person.accountName), portals.partnerSourceB)), 'a new sign-in after a restart').to.equal(expected);

      // A second instance on the database with the same issuer, reached as
      // behind a load balancer: the relying party talks to the issuer, its
      // requests land on the second instance, which computes the sub itself.
      const port = await freePort();
      const second = await startBroker({ ...running.environment, PORT: String(port) }, { port });
      try {
        const onSecond = await client.discovery(new URL(running.issuer), portals.partnerSourceA.clientId, { token_endpoint_auth_method: 'client_secret_basic' }, client.ClientSecretBasic(portals.partnerSourceA.clientSecret), {
          execute: [client.allowInsecureRequests],
        });
        onSecond[client.customFetch] = (url, options) => fetch(url.replace(running.issuer, second.issuer), options as RequestInit);
        expect((await client.fetchUserInfo(onSecond, tokens.access_token, expected)).sub, 'userinfo of the second instance').to.equal(expected);
        expect((await client.tokenIntrospection(onSecond, tokens.access_token)).sub, 'introspection by the second instance').to.equal(expected);
      } finally {
        await second.stop();
      }
    });

    it('sends the pairwise sub in logout tokens, from an RP-initiated logout and from “sign out everywhere”', async () => {
      endpoint.received.length = 0;
      const first = await boundPerson('pairwise-logout');
      await signIn(first.person, portals.partnerSourceA);
      const customerTokens = await signIn(first.person, portals.customerSource);
      await first.person.signOut(portals.customerSource, customerTokens.id_token!);
      const fromLogout = await verifiedLogoutToken('/partnersource-a', portals.partnerSourceA.clientId);
      expect(fromLogout.sub).to.equal(documentedPairwiseSubject('partnersource', first.accountId));
      expect((await verifiedLogoutToken('/customersource', portals.customerSource.clientId)).sub).to.equal(subjectOf(customerTokens));

      endpoint.received.length = 0;
      const second = await boundPerson('pairwise-everywhere');
      await signIn(second.person, portals.partnerSourceA);
      await signIn(second.person, portals.customerSource);
      const { page } = await second.person.follow(`${running.issuer}/account`);
      await second.person.browser.post(`${running.issuer}/account/sign-out-everywhere`, { csrf: hiddenField(page!.body, 'csrf')! });
      expect((await verifiedLogoutToken('/partnersource-a', portals.partnerSourceA.clientId)).sub).to.equal(documentedPairwiseSubject('partnersource', second.accountId));
      expect((await verifiedLogoutToken('/customersource', portals.customerSource.clientId)).sub).to.equal(documentedPairwiseSubject('customersource', second.accountId));
    });

    const registerDynamically = async (portal: 'partnersource' | 'customersource', metadata: Record<string, unknown>) => {
      const { initial_access_token: token } = await runCliJson<{ initial_access_token: string }>(['clients', 'initial-access-token', '--portal', portal], running.environment);
      return fetch(`${running.issuer}/reg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ redirect_uris: [redirectUri], token_endpoint_auth_method: 'client_secret_basic', ...metadata }),
      });
    };

    it('registers a pairwise client dynamically, redirect URIs on two hosts and no sector_identifier_uri, with the portal’s sub', async () => {
      const answer = await registerDynamically('partnersource', { subject_type: 'pairwise', client_name: 'Contoso Planner', redirect_uris: [redirectUri, 'https://planner.contoso.example/callback'] });
      expect(answer.status, await answer.clone().text()).to.equal(201);
      const registered = (await answer.json()) as { client_id: string; client_secret: string; subject_type: string };
      expect(registered.subject_type).to.equal('pairwise');
      const { person, accountId } = await boundPerson('pairwise-registered');
      // A registered client is third party: the person allows it first.
      const signIn = await person.startSignIn(await confidentialPortal(running.issuer, registered.client_id, registered.client_secret));
      expect(signIn.page?.body).to.contain('Contoso Planner');
      const { location } = await person.allow(signIn.page!);
      expect(subjectOf(await signIn.tokens(location!))).to.equal(documentedPairwiseSubject('partnersource', accountId));
    });

    it('refuses a sector_identifier_uri and an unknown subject type with invalid_client_metadata', async () => {
      const withSector = await registerDynamically('partnersource', { subject_type: 'pairwise', sector_identifier_uri: 'https://sector.contoso.example/uris.json' });
      expect(withSector.status).to.equal(400);
      expect(await withSector.json()).to.include({ error: 'invalid_client_metadata', error_description: 'sector_identifier_uri is not supported: the sector of a pairwise client is its portal' });
      const unknownType = await registerDynamically('customersource', { subject_type: 'anonymous' });
      expect(unknownType.status).to.equal(400);
      expect(((await unknownType.json()) as { error: string }).error).to.equal('invalid_client_metadata');
    });

    it('gives a client of both portals a sector of its own, and lets an admin switch a client to pairwise', async () => {
      const { person, accountId } = await boundPerson('pairwise-both');
      const both = await registerPortal(running, 'both', { subjectType: 'pairwise', profileSelection: 'all' });
      const atBoth = subjectOf(await signIn(person, both));
      expect(atBoth).to.equal(documentedPairwiseSubject('both', accountId));
      expect(atBoth).to.not.be.oneOf([documentedPairwiseSubject('partnersource', accountId), documentedPairwiseSubject('customersource', accountId)]);

      const switched = await registerPortal(running, 'customersource');
      expect(subjectOf(await signIn(person, switched))).to.equal(accountId);
      const patch = (body: unknown) =>
        fetch(`${running.issuer}/admin/api/clients/${switched.clientId}`, { method: 'PATCH', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect((await patch({ subjectType: 'anonymous' })).status).to.equal(400);
      const answer = await patch({ subjectType: 'pairwise' });
      expect(answer.status).to.equal(200);
      expect(await answer.json()).to.include({ subject_type: 'pairwise' });
      expect(subjectOf(await signIn(person, switched)), 'after the switch').to.equal(documentedPairwiseSubject('customersource', accountId));
    });
  });
}
