// Random secrets and how they are kept: every secret we hand out (client
// secrets, later link tokens) has at least 256 bits from the CSPRNG, so a
// single SHA-256 is enough to store it and compare it in constant time.
// Also the signing of cookies with the cookie keys.
import { createHmac, hash, randomBytes, timingSafeEqual } from 'node:crypto';

const hashPrefix = 'sha256:';

/** A URL-safe random secret of `bytes` bytes (default 32 = 256 bits). */
export function generateSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** The stored form of a high-entropy secret. */
export function secretHash(secret: string): string {
  // One-shot hashing: no Hash object per call (this runs for every token).
  return hashPrefix + hash('sha256', secret, 'base64url');
}

/** Whether a stored value is already a hash made by secretHash (never hash a hash). */
export const isSecretHash = (value: string): boolean => /^sha256:[A-Za-z0-9_-]{43}$/.test(value);

export function constantTimeEqual(left: string, right: string): boolean {
  // Compare digests so the comparison takes the same time whatever the lengths.
  const leftDigest = hash('sha256', left, 'buffer');
  const rightDigest = hash('sha256', right, 'buffer');
  return timingSafeEqual(leftDigest, rightDigest) && Buffer.byteLength(left, 'utf8') === Buffer.byteLength(right, 'utf8');
}

/**
 * Whether `presented` is the secret whose stored hash is `storedHash`. Runs
 * on every client authentication: one SHA-256 of the presented secret, its
 * digest compared in constant time with the stored one (both 32 bytes, so
 * there is no length to hide), where hashing both sides again for
 * constantTimeEqual took three.
 */
export function verifySecret(presented: string, storedHash: string | undefined): boolean {
  if (!storedHash || !isSecretHash(storedHash)) return false;
  const storedDigest = Buffer.from(storedHash.slice(hashPrefix.length), 'base64url');
  return timingSafeEqual(hash('sha256', presented, 'buffer'), storedDigest);
}

/** What Koa's cookies need to sign and check signed cookies (Keygrip's interface). */
export interface CookieSigner {
  sign(data: string): string;
  verify(data: string, digest: string): boolean;
  /** The position of the key that made `digest`, or -1. */
  index(data: string, digest: string): number;
}

/**
 * Signs cookies as Keygrip does (HMAC-SHA1, base64url, first key signs, any
 * key verifies), so cookies signed before stay valid, but checks a signature
 * with one HMAC per key and a constant-time comparison of the digests, where
 * Keygrip with tsscmp computes three HMACs per key and draws random bytes:
 * cookie checks were 9 % of the broker's CPU in a sign-in. `keys` is read at
 * each call, so keys rotated in place apply at once.
 */
export function createCookieSigner(keys: readonly string[]): CookieSigner {
  const signWith = (key: string, data: string) => createHmac('sha1', key).update(data).digest('base64url');
  const index = (data: string, digest: string): number => {
    const presented = Buffer.from(digest);
    for (let position = 0; position < keys.length; position += 1) {
      const expected = Buffer.from(signWith(keys[position]!, data));
      if (expected.length === presented.length && timingSafeEqual(expected, presented)) return position;
    }
    return -1;
  };
  return {
    sign(data) {
      if (keys.length === 0) throw new Error('no cookie keys');
      return signWith(keys[0]!, data);
    },
    verify: (data, digest) => index(data, digest) > -1,
    index,
  };
}
