// Random secrets and how they are kept: every secret we hand out (client
// secrets, later link tokens) has at least 256 bits from the CSPRNG, so a
// single SHA-256 is enough to store it and compare it in constant time.
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

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

/** Whether `presented` is the secret whose stored hash is `storedHash`. */
export function verifySecret(presented: string, storedHash: string | undefined): boolean {
  if (!storedHash || !storedHash.startsWith(hashPrefix)) return false;
  return constantTimeEqual(secretHash(presented), storedHash);
}
