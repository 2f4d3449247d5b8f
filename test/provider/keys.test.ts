import { expect } from 'chai';
import { compactVerify, createLocalJWKSet, importJWK, CompactSign } from 'jose';
import { ManualClock, systemClock, type Clock } from '../../src/clock.ts';
import { KeyManager, signingAlgorithms } from '../../src/provider/keys.ts';
import { openDatabase, type Database } from '../../src/store/database.ts';
import { createStore } from '../../src/store/knexStore.ts';
import { migrateToLatest } from '../../src/store/migrations.ts';
import type { Store } from '../../src/store/store.ts';

describe('signing and cookie keys', () => {
  let database: Database;
  let store: Store;

  beforeEach(async () => {
    database = openDatabase({ url: 'sqlite::memory:' });
    await migrateToLatest(database);
    store = createStore(database, systemClock);
  });
  afterEach(() => database.destroy());

  const developmentKey = 'k'.repeat(40);
  const manager = (keyEncryptionKey = developmentKey) =>
    new KeyManager({ signingKeys: store.signingKeys, cookieKeys: store.cookieKeys, keyEncryptionKey });

  it('are generated on first start, one active key per algorithm, and reused afterwards', async () => {
    await manager().ensureKeys();
    const first = await manager().list();
    expect(first.map((key) => key.alg).sort()).to.deep.equal([...signingAlgorithms].sort());
    expect(first.every((key) => key.status === 'active')).to.equal(true);
    await manager().ensureKeys();
    expect((await manager().list()).map((key) => key.kid)).to.deep.equal(first.map((key) => key.kid));
    expect(await manager().cookieKeys()).to.have.length(1);
  });

  it('keep private parts and cookie keys sealed at rest under the key-encryption key', async () => {
    const keyEncryptionKey = 'a'.repeat(40);
    await manager(keyEncryptionKey).ensureKeys();
    const stored = await store.signingKeys.list();
    for (const key of stored) {
      expect(key.privateJwk.startsWith('sealed:v1:')).to.equal(true);
      expect(key.privateJwk).to.not.contain('"d"');
    }
    const [cookieKey] = await store.cookieKeys.list();
    expect(cookieKey!.secret.startsWith('sealed:v1:')).to.equal(true);
    const [openedCookieKey] = await manager(keyEncryptionKey).cookieKeys();
    expect(openedCookieKey).to.have.length(43);
    expect(JSON.stringify(await database('cookie_keys'))).to.not.contain(openedCookieKey);
    const { keys } = await manager(keyEncryptionKey).privateJwks();
    expect(keys.every((key) => typeof key.d === 'string')).to.equal(true);
    for (const key of keys) expect(JSON.stringify(await database('signing_keys'))).to.not.contain(key.d);
    let refusal: unknown;
    await manager('b'.repeat(40)).privateJwks().catch((error: unknown) => (refusal = error));
    expect(String(refusal)).to.contain('KEY_ENCRYPTION_KEY does not open the stored signing keys');
    refusal = undefined;
    await manager('b'.repeat(40)).cookieKeys().catch((error: unknown) => (refusal = error));
    expect(String(refusal)).to.contain('KEY_ENCRYPTION_KEY does not open the stored cookie keys');
  });

  it('seal the keys an earlier version kept in clear, and still open its enc:v1 keys', async () => {
    await manager().ensureKeys();
    const [sealedKey] = await store.signingKeys.list();
    const { keys } = await manager().privateJwks();
    const clearJwk = JSON.stringify(keys.find((key) => key.kid === sealedKey!.kid));
    await store.signingKeys.replacePrivateJwk(sealedKey!.kid, clearJwk);
    await database('cookie_keys').update({ secret: 'a-cookie-key-kept-in-clear-by-an-earlier-version' });
    expect(await manager().cookieKeys()).to.deep.equal(['a-cookie-key-kept-in-clear-by-an-earlier-version']);
    await manager().ensureKeys();
    expect((await store.signingKeys.list()).every((key) => key.privateJwk.startsWith('sealed:v1:'))).to.equal(true);
    expect(JSON.stringify(await database('cookie_keys'))).to.not.contain('a-cookie-key-kept-in-clear');
    expect(await manager().cookieKeys()).to.deep.equal(['a-cookie-key-kept-in-clear-by-an-earlier-version']);
    expect((await manager().privateJwks()).keys.map((key) => key.d)).to.deep.equal(keys.map((key) => key.d));
  });

  it('rotate by adding new active keys first while the old ones keep verifying what they signed', async () => {
    await manager().ensureKeys();
    const { keys: before } = await manager().privateJwks();
    const oldRsa = before.find((key) => key.alg === 'RS256')!;
    const token = await new CompactSign(new TextEncoder().encode('issued before rotation'))
      .setProtectedHeader({ alg: 'RS256', kid: oldRsa.kid! })
      .sign(await importJWK(oldRsa, 'RS256'));

    const rotated = await manager().rotate();
    expect(rotated.filter((key) => key.status === 'active')).to.have.length(signingAlgorithms.length);
    expect(rotated.filter((key) => key.status === 'retired')).to.have.length(signingAlgorithms.length);

    const { keys: after } = await manager().privateJwks();
    const firstRsa = after.find((key) => key.alg === 'RS256')!;
    expect(firstRsa.kid).to.not.equal(oldRsa.kid);
    const publicKeys = createLocalJWKSet({ keys: after.map(({ d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicPart }) => publicPart) });
    const { payload } = await compactVerify(token, publicKeys);
    expect(new TextDecoder().decode(payload)).to.equal('issued before rotation');
  });

  describe('with an activation delay (several instances)', () => {
    const delay = 60_000;
    let clock: ManualClock;
    const delayed = (at: Clock) => new KeyManager({ signingKeys: store.signingKeys, cookieKeys: store.cookieKeys, keyEncryptionKey: developmentKey, clock: at, activationDelay: delay });

    beforeEach(async () => {
      clock = new ManualClock(Date.now());
      store = createStore(database, clock);
      await delayed(clock).ensureKeys();
    });

    const signers = async () => {
      const { keys } = await delayed(clock).privateJwks();
      return Object.fromEntries(signingAlgorithms.map((alg) => [alg, keys.find((key) => key.alg === alg)!.kid]));
    };

    it('sign with a fresh install’s keys at once: there is nothing older', async () => {
      const { keys } = await delayed(clock).privateJwks();
      expect(keys).to.have.length(signingAlgorithms.length);
      expect(await delayed(clock).cookieKeys()).to.have.length(1);
    });

    it('publish rotated signing keys at once and sign with them only once the delay has passed', async () => {
      clock.advance(delay);
      const before = await signers();
      await delayed(clock).rotate();
      const published = (await delayed(clock).privateJwks()).keys.map((key) => key.kid);
      expect(published).to.have.length(2 * signingAlgorithms.length);
      expect(await signers(), 'still the previous keys').to.deep.equal(before);
      clock.advance(delay - 1);
      expect(await signers()).to.deep.equal(before);
      clock.advance(1);
      const after = await signers();
      for (const alg of signingAlgorithms) expect(after[alg], alg).to.not.equal(before[alg]);
      const active = (await store.signingKeys.list()).filter((key) => key.status === 'active').map((key) => key.kid);
      expect(Object.values(after)).to.have.members(active);
    });

    it('sign cookies with a new cookie key only once the delay has passed, verifying with both meanwhile', async () => {
      clock.advance(delay);
      const [first] = await delayed(clock).cookieKeys();
      await delayed(clock).rotateCookieKey();
      const meanwhile = await delayed(clock).cookieKeys();
      expect(meanwhile).to.have.length(2);
      expect(meanwhile[0]).to.equal(first);
      clock.advance(delay);
      const later = await delayed(clock).cookieKeys();
      expect(later[0]).to.not.equal(first);
      expect(later).to.include(first);
    });
  });
});
