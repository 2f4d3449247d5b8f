// The oidc-provider adapter contract, on every database.
import { expect } from 'chai';
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import { systemClock } from '../../src/clock.ts';
import { clientMetadata } from '../../src/provider/provider.ts';
import type { Database } from '../../src/store/database.ts';
import { createStore } from '../../src/store/knexStore.ts';
import { createOidcAdapter } from '../../src/store/oidcAdapter.ts';
import { createSealer } from '../../src/sealing.ts';
import { secretHash } from '../../src/secrets.ts';
import { testDatabases } from '../support/databases.ts';
import { buildClient } from '../support/factories.ts';

// Every model oidc-provider 9 persists through an adapter (Client aside).
const models = [
  'Session',
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'ClientCredentials',
  'InitialAccessToken',
  'RegistrationAccessToken',
  'Interaction',
  'ReplayDetection',
  'PushedAuthorizationRequest',
  'Grant',
  'BackchannelAuthenticationRequest',
];

const bearerModels = ['AccessToken', 'AuthorizationCode', 'RefreshToken', 'ClientCredentials', 'InitialAccessToken', 'RegistrationAccessToken'];
/** Models whose id acts as someone: bearer values, and a session's id (its cookie's value). */
const hashedIdModels = [...bearerModels, 'Session'];

for (const testDatabase of testDatabases()) {
  describe(`oidc-provider adapter on ${testDatabase.name}`, () => {
    let database: Database;
    let adapterFor: (model: string) => Adapter;

    before(async () => {
      database = await testDatabase.open();
      const store = createStore(database, systemClock);
      const Adapter = createOidcAdapter(database, { clients: store.clients, clientMetadata });
      adapterFor = (model) => new Adapter(model);
    });
    after(() => testDatabase.close(database));
    beforeEach(() => database('oidc_payloads').delete());

    for (const model of models) {
      it(`round-trips a ${model}, finds it by uid and user code, and destroys it`, async () => {
        const adapter = adapterFor(model);
        const payload: AdapterPayload = { jti: 'id-1', kind: model, grantId: 'grant-1', uid: `uid-${model}`, userCode: `code-${model}`, scope: 'openid', exp: 1 };
        await adapter.upsert('id-1', payload, 3600);
        expect(await adapter.find('id-1')).to.deep.equal(payload);
        // A bearer value is known only to whoever holds it: looked up by uid
        // (which oidc-provider never does for these models) it comes without its jti.
        const { jti: _jti, ...withoutValue } = payload;
        const byOtherKey = hashedIdModels.includes(model) ? withoutValue : payload;
        expect(await adapter.findByUid(`uid-${model}`)).to.deep.equal(byOtherKey);
        expect(await adapter.findByUserCode(`code-${model}`)).to.deep.equal(byOtherKey);
        await adapter.upsert('id-1', { ...payload, scope: 'openid email' }, 3600);
        expect((await adapter.find('id-1'))?.scope).to.equal('openid email');
        await adapter.destroy('id-1');
        expect(await adapter.find('id-1')).to.equal(undefined);
      });
    }

    for (const model of hashedIdModels) {
      it(`keeps no usable ${model} value in the table, only its hash`, async () => {
        const value = 'bearer-value-that-works-as-a-token-0123456789';
        await adapterFor(model).upsert(value, { jti: value, kind: model, exp: 1 }, 3600);
        const rows = (await database('oidc_payloads').where({ type: model })) as Array<Record<string, unknown>>;
        expect(rows).to.have.length(1);
        expect(JSON.stringify(rows)).to.not.contain(value);
        expect((await adapterFor(model).find(value))?.jti).to.equal(value);
        await adapterFor(model).consume(value);
        expect((await adapterFor(model).find(value))?.consumed).to.be.a('number');
      });
    }

    it('keeps no copy of the session cookie value in an Interaction, and the rest of it as it was', async () => {
      const session = { accountId: 'account-1', uid: 'session-uid', cookie: 'session-cookie-value-0123456789', acr: 'urn:mbs:upstream' };
      await adapterFor('Interaction').upsert('interaction-1', { jti: 'interaction-1', kind: 'Interaction', session, returnTo: '/auth/x' }, 60);
      expect(JSON.stringify(await database('oidc_payloads'))).to.not.contain('session-cookie-value');
      const { cookie: _cookie, ...kept } = session;
      expect(await adapterFor('Interaction').find('interaction-1')).to.deep.equal({ jti: 'interaction-1', kind: 'Interaction', session: kept, returnTo: '/auth/x' });
    });

    it('seals whole payloads when given a sealer (the dev upstream), bound to their row', async () => {
      const Sealed = createOidcAdapter(database, { namespace: 'DevUpstream', payloadSealer: createSealer('k'.repeat(40), 'dev-upstream-payload') });
      const payload = { jti: 'interaction-2', kind: 'Interaction', uid: 'interaction-2', params: { state: 'the-brokers-upstream-state-0123456789' } };
      await new Sealed('Interaction').upsert('interaction-2', payload, 60);
      const rows = (await database('oidc_payloads').where({ type: 'DevUpstream:Interaction' })) as Array<{ payload: string }>;
      expect(rows[0]!.payload).to.match(/^sealed:v1:/);
      expect(await new Sealed('Interaction').find('interaction-2')).to.deep.equal(payload);
      expect(await new Sealed('Interaction').findByUid('interaction-2')).to.deep.equal(payload);
      await database('oidc_payloads').insert({ type: 'DevUpstream:Interaction', id: 'moved', payload: rows[0]!.payload, expires_at: Date.now() + 60_000 });
      let refusal: unknown;
      await new Sealed('Interaction').find('moved').catch((error: unknown) => (refusal = error));
      expect(String(refusal)).to.contain('does not open the dev upstream’s records');
    });

    it('keeps models apart: the same id in two models is two records', async () => {
      await adapterFor('AccessToken').upsert('same', { kind: 'AccessToken' }, 60);
      await adapterFor('RefreshToken').upsert('same', { kind: 'RefreshToken' }, 60);
      expect((await adapterFor('AccessToken').find('same'))?.kind).to.equal('AccessToken');
      expect((await adapterFor('RefreshToken').find('same'))?.kind).to.equal('RefreshToken');
    });

    it('stores records without expiry when expiresIn is undefined', async () => {
      await adapterFor('Grant').upsert('forever', { kind: 'Grant' });
      expect(await adapterFor('Grant').find('forever')).to.deep.equal({ kind: 'Grant' });
    });

    it('keeps consumed records findable, with the time they were consumed', async () => {
      const adapter = adapterFor('AuthorizationCode');
      await adapter.upsert('code-1', { kind: 'AuthorizationCode', grantId: 'g' }, 60);
      await adapter.consume('code-1');
      const found = await adapter.find('code-1');
      expect(found?.consumed).to.be.a('number').within(Math.floor(Date.now() / 1000) - 5, Math.floor(Date.now() / 1000) + 5);
    });

    it('consumes atomically: of 50 parallel consumers exactly one succeeds, the others get invalid_grant', async () => {
      const adapter = adapterFor('AuthorizationCode');
      await adapter.upsert('code-2', { kind: 'AuthorizationCode' }, 60);
      const results = await Promise.allSettled(Array.from({ length: 50 }, () => adapter.consume('code-2')));
      expect(results.filter((result) => result.status === 'fulfilled')).to.have.length(1);
      const rejected = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
      expect(rejected).to.have.length(49);
      for (const result of rejected) expect(result.reason).to.be.instanceOf(errors.InvalidGrant);
    });

    it('sweeps thousands of expired records, in as many rounds as it takes, and only those', async () => {
      const expired = Array.from({ length: 2500 }, (_, index) => ({ type: 'Session', id: `old-${index}`, payload: '{}', expires_at: Date.now() - 1000 }));
      await database.batchInsert('oidc_payloads', expired, 500);
      await adapterFor('Session').upsert('fresh', { kind: 'Session' }, 60);
      expect(await createStore(database, systemClock).sweepExpired()).to.equal(2500);
      expect(await database('oidc_payloads').pluck('id')).to.deep.equal([secretHash('fresh')]);
    });

    it('does not find expired records, and the sweeper removes them', async () => {
      const adapter = adapterFor('Session');
      await database('oidc_payloads').insert({ type: 'Session', id: 'old', payload: '{}', expires_at: Date.now() - 1000 });
      await adapter.upsert('fresh', { kind: 'Session' }, 60);
      expect(await adapter.find('old')).to.equal(undefined);
      expect(await createStore(database, systemClock).sweepExpired()).to.equal(1);
      const remaining = (await database('oidc_payloads').select('id')) as Array<{ id: string }>;
      expect(remaining.map((row) => row.id)).to.deep.equal([secretHash('fresh')]);
    });

    it('revokes by grant id per model, leaving other grants and other models alone', async () => {
      for (const model of ['AccessToken', 'RefreshToken']) {
        await adapterFor(model).upsert(`${model}-a`, { grantId: 'grant-a' }, 60);
        await adapterFor(model).upsert(`${model}-b`, { grantId: 'grant-b' }, 60);
      }
      await adapterFor('AccessToken').upsert('AccessToken-a2', { grantId: 'grant-a' }, 60);
      await adapterFor('AccessToken').revokeByGrantId('grant-a');
      expect(await adapterFor('AccessToken').find('AccessToken-a')).to.equal(undefined);
      expect(await adapterFor('AccessToken').find('AccessToken-a2')).to.equal(undefined);
      expect(await adapterFor('AccessToken').find('AccessToken-b')).to.not.equal(undefined);
      expect(await adapterFor('RefreshToken').find('RefreshToken-a')).to.not.equal(undefined);
    });

    it('reads clients from the clients table, with the secret hash and portal', async () => {
      const store = createStore(database, systemClock);
      const client = buildClient({ portal: 'customersource', secretHash: 'sha256:abc' });
      await store.clients.create(client);
      expect(await adapterFor('Client').find(client.id)).to.deep.equal({
        ...client.metadata,
        client_id: client.id,
        client_secret: 'sha256:abc',
        portal: 'customersource',
        first_party: false,
      });
      expect(await adapterFor('Client').find('nobody')).to.equal(undefined);
      await store.clients.remove(client.id);
    });
  });
}
