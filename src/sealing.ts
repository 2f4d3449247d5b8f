// Encryption at rest of what the database must keep readable for the broker
// but not for someone holding a copy of it: outbox bodies (they carry
// association links), private signing keys, cookie keys. AES-256-GCM under a
// key derived with HKDF-SHA256 from KEY_ENCRYPTION_KEY, one key per purpose,
// each value bound to the row it belongs to (associated data), so a value
// copied into another row, or opened with another key, fails instead of
// decrypting to garbage.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { invalidConfiguration, serverError, type ErrorMessageKey } from './errors.ts';

const sealedPrefix = 'sealed:v1:';
const hkdfSalt = 'mbs-broker key encryption v1';

/** What a sealed value is for: each purpose has a key of its own. */
export type SealingPurpose = 'outbox-message' | 'signing-key' | 'cookie-key' | 'upstream-transaction' | 'dev-upstream-payload';

/** What the operator is told when KEY_ENCRYPTION_KEY does not open a purpose's values ("… the queued emails"). */
const wrongKeyMessages: Record<SealingPurpose, ErrorMessageKey> = {
  'outbox-message': 'error.sealed.outbox_message',
  'signing-key': 'error.sealed.signing_key',
  'cookie-key': 'error.sealed.cookie_key',
  'upstream-transaction': 'error.sealed.upstream_transaction',
  'dev-upstream-payload': 'error.sealed.dev_upstream_payload',
};

export interface Sealer {
  /** Encrypts `plain` for the row named by `rowContext` (its id). */
  seal(plain: string, rowContext: string): string;
  /** Decrypts what `seal` made for that row; a clear BrokerError when the key or the row does not match. */
  open(sealed: string, rowContext: string): string;
}

export const isSealed = (value: string): boolean => value.startsWith(sealedPrefix);

/** The 32-byte key of `purpose` under `secret`: each purpose its own (sealing, and the DPoP nonces). */
export function derivedKey(secret: string | Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, hkdfSalt, `mbs-broker ${purpose}`, 32));
}

/**
 * A secret of its own for a purpose other than sealing, derived from
 * KEY_ENCRYPTION_KEY as the sealing keys are: every instance holds the same
 * key-encryption key, so every instance derives the same secret, and none is
 * ever stored or logged. `pairwise-subject`: the HMAC key of pairwise subjects;
 * `dpop-nonce`: the DPoP nonce secret.
 */
export const derivedSecret = (keyEncryptionKey: string, purpose: 'pairwise-subject' | 'dpop-nonce'): Buffer => derivedKey(keyEncryptionKey, purpose);

/**
 * A sealer for `purpose` under `secret` (KEY_ENCRYPTION_KEY, or for an
 * upstream transaction the state only its browser holds).
 */
export function createSealer(secret: string | Buffer, purpose: SealingPurpose): Sealer {
  const key = derivedKey(secret, purpose);
  const associatedData = (rowContext: string) => Buffer.from(`${purpose}\u0000${rowContext}`, 'utf8');
  return {
    seal(plain, rowContext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(associatedData(rowContext));
      const sealed = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return sealedPrefix + [iv, cipher.getAuthTag(), sealed].map((part) => part.toString('base64url')).join('.');
    },
    open(stored, rowContext) {
      const parts = isSealed(stored) ? stored.slice(sealedPrefix.length).split('.') : [];
      if (parts.length !== 3) {
        throw serverError(`${purpose}: not a sealed value (row ${rowContext})`, 'error.stored_data_unreadable');
      }
      const [iv, tag, sealed] = parts.map((part) => Buffer.from(part, 'base64url')) as [Buffer, Buffer, Buffer];
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv);
        decipher.setAAD(associatedData(rowContext));
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(sealed), decipher.final()]).toString('utf8');
      } catch (cause) {
        throw invalidConfiguration(wrongKeyMessages[purpose], {}, { detail: `${purpose} row ${rowContext}`, cause });
      }
    },
  };
}
