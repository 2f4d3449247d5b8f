import { expect } from 'chai';
import { constantTimeEqual, generateSecret, secretHash, verifySecret } from '../src/secrets.ts';

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
});
