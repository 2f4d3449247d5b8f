// Signing keys and cookie keys: generated on first start, kept in the
// database (private parts encrypted when a key-encryption key is set), and
// rotated by adding a new active set while older keys stay published so that
// tokens already issued keep verifying.
//
// With several instances a new key is published at once but put in use only
// after the activation delay, by which time every instance has read it: no
// instance signs a token or a cookie that another cannot yet verify.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { BrokerError } from '../errors.ts';
import { generateSecret } from '../secrets.ts';
import { systemClock, type Clock } from '../clock.ts';
import type { CookieKeyRecord, SigningKeyRecord } from '../store/records.ts';
import type { CookieKeyRepository, SigningKeyRepository } from '../store/store.ts';

/** RS256 for relying parties that know nothing else; ES256 and EdDSA for those that do. */
export const signingAlgorithms = ['RS256', 'ES256', 'EdDSA'] as const;

const encryptedPrefix = 'enc:v1:';

function encryptionKey(keyEncryptionKey: string): Buffer {
  return createHash('sha256').update(keyEncryptionKey, 'utf8').digest();
}

function sealPrivateJwk(jwk: JWK, keyEncryptionKey: string | undefined): string {
  const plain = JSON.stringify(jwk);
  if (!keyEncryptionKey) return plain;
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', encryptionKey(keyEncryptionKey), iv);
  const sealed = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return encryptedPrefix + [iv, cipher.getAuthTag(), sealed].map((part) => part.toString('base64url')).join('.');
}

function openPrivateJwk(stored: string, keyEncryptionKey: string | undefined, kid: string): JWK {
  if (!stored.startsWith(encryptedPrefix)) return JSON.parse(stored) as JWK;
  if (!keyEncryptionKey) {
    throw new BrokerError('invalid_configuration', 'Signing keys are encrypted: set KEY_ENCRYPTION_KEY', { detail: `kid ${kid}` });
  }
  const [iv, tag, sealed] = stored.slice(encryptedPrefix.length).split('.').map((part) => Buffer.from(part, 'base64url'));
  try {
    const decipher = createDecipheriv('aes-256-gcm', encryptionKey(keyEncryptionKey), iv!);
    decipher.setAuthTag(tag!);
    return JSON.parse(Buffer.concat([decipher.update(sealed!), decipher.final()]).toString('utf8')) as JWK;
  } catch (cause) {
    throw new BrokerError('invalid_configuration', 'KEY_ENCRYPTION_KEY does not open the stored signing keys', { detail: `kid ${kid}`, cause });
  }
}

async function generateSigningKey(alg: (typeof signingAlgorithms)[number], keyEncryptionKey: string | undefined) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
  return {
    kid,
    alg,
    status: 'active' as const,
    publicJwk: { ...publicJwk, kid, alg, use: 'sig' },
    privateJwk: sealPrivateJwk(privateJwk, keyEncryptionKey),
  };
}

export interface KeyManagerOptions {
  signingKeys: SigningKeyRepository;
  cookieKeys: CookieKeyRepository;
  keyEncryptionKey: string | undefined;
  clock?: Clock;
  /**
   * How long a new key is only published before it signs (milliseconds): at
   * least the time every instance takes to read it. 0 for one instance.
   */
  activationDelay?: number;
}

/**
 * Puts the key that signs first: the newest one created at least
 * `activationDelay` ago, or the newest of all when none is that old (a fresh
 * install). The others follow, newest first, and only verify.
 */
function signerFirst<Key extends { createdAt: number }>(newestFirst: Key[], now: number, activationDelay: number): Key[] {
  const signer = newestFirst.find((key) => key.createdAt <= now - activationDelay) ?? newestFirst[0];
  return signer ? [signer, ...newestFirst.filter((key) => key !== signer)] : [];
}

export class KeyManager {
  readonly #signingKeys: SigningKeyRepository;
  readonly #cookieKeys: CookieKeyRepository;
  readonly #keyEncryptionKey: string | undefined;
  readonly #clock: Clock;
  readonly #activationDelay: number;

  constructor(options: KeyManagerOptions) {
    this.#signingKeys = options.signingKeys;
    this.#cookieKeys = options.cookieKeys;
    this.#keyEncryptionKey = options.keyEncryptionKey;
    this.#clock = options.clock ?? systemClock;
    this.#activationDelay = options.activationDelay ?? 0;
  }

  /** Generates what is missing: one active key per algorithm, and a cookie key. */
  async ensureKeys(): Promise<void> {
    const existing = await this.#signingKeys.list();
    for (const alg of signingAlgorithms) {
      if (!existing.some((key) => key.alg === alg && key.status === 'active')) {
        await this.#signingKeys.insert(await generateSigningKey(alg, this.#keyEncryptionKey));
      }
    }
    if ((await this.#cookieKeys.list()).length === 0) {
      await this.#cookieKeys.insert(generateSecret(32));
    }
  }

  /** Adds a cookie key; it signs cookies once the activation delay has passed, older keys keep verifying. */
  async rotateCookieKey(): Promise<void> {
    await this.#cookieKeys.insert(generateSecret(32));
  }

  /**
   * Adds a new active key per algorithm and retires the previous ones.
   * Retired keys stay in the JWKS so tokens they signed keep verifying.
   */
  async rotate(): Promise<SigningKeyRecord[]> {
    const previous = (await this.#signingKeys.list()).filter((key) => key.status === 'active');
    for (const alg of signingAlgorithms) {
      await this.#signingKeys.insert(await generateSigningKey(alg, this.#keyEncryptionKey));
    }
    for (const key of previous) await this.#signingKeys.setStatus(key.kid, 'retired');
    return this.list();
  }

  list(): Promise<SigningKeyRecord[]> {
    return this.#signingKeys.list();
  }

  /**
   * The signing keys in the order oidc-provider needs: per algorithm the key
   * in force first (it signs), then every other key (they only verify).
   */
  async signingKeysInForce(): Promise<SigningKeyRecord[]> {
    const records = await this.#signingKeys.list();
    const now = this.#clock.now();
    const ordered = signingAlgorithms.flatMap((alg) => signerFirst(records.filter((key) => key.alg === alg), now, this.#activationDelay));
    const signers = new Set(signingAlgorithms.map((alg) => ordered.find((key) => key.alg === alg)));
    return [...ordered.filter((key) => signers.has(key)), ...ordered.filter((key) => !signers.has(key)), ...records.filter((key) => !ordered.includes(key))];
  }

  /** Private JWKS for oidc-provider, from `signingKeysInForce` (or the records given). */
  async privateJwks(records?: SigningKeyRecord[]): Promise<{ keys: JWK[] }> {
    const ordered = records ?? (await this.signingKeysInForce());
    return { keys: ordered.map((key) => openPrivateJwk(key.privateJwk, this.#keyEncryptionKey, key.kid)) };
  }

  /** Cookie keys, the one in force first (it signs); all of them verify. */
  async cookieKeys(): Promise<string[]> {
    const records: CookieKeyRecord[] = await this.#cookieKeys.list();
    return signerFirst(records, this.#clock.now(), this.#activationDelay).map((key) => key.secret);
  }
}
