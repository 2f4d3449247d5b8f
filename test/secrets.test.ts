import { expect } from 'chai';
import Keygrip from 'keygrip';
import { constantTimeEqual, createCookieSigner, generateSecret, secretHash, verifySecret } from '../src/secrets.ts';

describe('secrets', () => {
  it('are 256 bits of URL-safe randomness, never twice the same', () => {
    const secrets = new Set(Array.from({ length: 100 }, () => generateSecret()));
    expect(secrets.size).to.equal(100);
    for (const secret of secrets) expect(Buffer.from(secret, 'base64url')).to.have.length(32);
  });

  it('are stored as a hash that verifies only the same secret', () => {
    const secret = generateSecret();
    const stored = secretHash(secret);
    expect(stored).to.not.contain(secret);
    expect(verifySecret(secret, stored)).to.equal(true);
    expect(verifySecret(`${secret}x`, stored)).to.equal(false);
    expect(verifySecret(secret, undefined)).to.equal(false);
    expect(verifySecret(secret, secret)).to.equal(false);
  });

  it('compare in constant time, including different lengths', () => {
    expect(constantTimeEqual('abc', 'abc')).to.equal(true);
    expect(constantTimeEqual('abc', 'abcd')).to.equal(false);
    expect(constantTimeEqual('', '')).to.equal(true);
  });

  describe('cookie signing', () => {
    const data = '_session=Jq2Z6k8Tzx-Yw0rC1b3mV';

    it('signs and checks as Keygrip does, so cookies signed before an upgrade stay valid', () => {
      const keys = [generateSecret(), generateSecret()];
      const signer = createCookieSigner(keys);
      const keygrip = new Keygrip(keys);
      expect(signer.sign(data)).to.equal(keygrip.sign(data));
      expect(signer.index(data, new Keygrip([keys[1]!]).sign(data))).to.equal(1);
      expect(keygrip.index(data, signer.sign(data))).to.equal(0);
    });

    it('refuses a digest of other data, another key, a truncated or an empty one', () => {
      const signer = createCookieSigner([generateSecret()]);
      const digest = signer.sign(data);
      expect(signer.verify(data, digest)).to.equal(true);
      expect(signer.verify(`${data}x`, digest)).to.equal(false);
      expect(signer.verify(data, createCookieSigner([generateSecret()]).sign(data))).to.equal(false);
      expect(signer.verify(data, digest.slice(0, -1))).to.equal(false);
      expect(signer.index(data, '')).to.equal(-1);
    });

    it('follows keys rotated in place: the new first key signs, the old one still verifies', () => {
      const keys = [generateSecret()];
      const signer = createCookieSigner(keys);
      const before = signer.sign(data);
      keys.unshift(generateSecret());
      expect(signer.sign(data)).to.not.equal(before);
      expect(signer.index(data, before)).to.equal(1);
    });
  });
});
