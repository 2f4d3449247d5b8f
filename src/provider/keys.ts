// Signing keys and cookie keys: generated on first start, kept in the
// database (private parts and cookie keys sealed under KEY_ENCRYPTION_KEY:
// with them a copy of the database could sign tokens or forge session
// cookies), and rotated by adding a new active set while older keys stay published so that
// tokens already issued keep verifying.
//
// With several instances a new key is published at once but put in use only
// after the activation delay, by which time every instance has read it: no
// instance signs a token or a cookie that another cannot yet verify.
import { createDecipheriv, createHash } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { invalidConfiguration } from '../errors.ts';
import { generateSecret } from '../secrets.ts';
import { createSealer, isSealed, type Sealer } from '../sealing.ts';
import { systemClock, type Clock } from '../clock.ts';
import type { CookieKeyRecord, SigningKeyRecord } from '../domain/records.ts';
import type { CookieKeyRepository, SigningKeyRepository } from '../store/store.ts';

/** RS256 for relying parties that know nothing else; ES256 and EdDSA for those that do. */
export const signingAlgorithms = ['RS256', 'ES256', 'EdDSA'] as const;

/** Private keys sealed by earlier versions: AES-256-GCM under SHA-256(KEY_ENCRYPTION_KEY). */
const legacyPrefix = 'enc:v1:';
/** What a cookie key is bound to when sealed: cookie keys have no name of their own. */
const cookieKeyContext = 'cookie key';

function openLegacyPrivateJwk(stored: string, keyEncryptionKey: string, kid: string): JWK {
  const [iv, tag, sealed] = stored.slice(legacyPrefix.length).split('.').map((part) => Buffer.from(part, 'base64url'));
  try {
    const decipher = createDecipheriv('aes-256-gcm', createHash('sha256').update(keyEncryptionKey, 'utf8').digest(), iv!);
    decipher.setAuthTag(tag!);
    return JSON.parse(Buffer.concat([decipher.update(sealed!), decipher.final()]).toString('utf8')) as JWK;
  } catch (cause) {
    throw invalidConfiguration('error.sealed.signing_key', {}, { detail: `kid ${kid}`, cause });
  }
}

/** Opens a stored private key: sealed, sealed by an earlier version, or (from before sealing) in clear. */
function openPrivateJwk(stored: string, sealer: Sealer, keyEncryptionKey: string, kid: string): JWK {
  if (isSealed(stored)) return JSON.parse(sealer.open(stored, kid)) as JWK;
  if (stored.startsWith(legacyPrefix)) return openLegacyPrivateJwk(stored, keyEncryptionKey, kid);
  return JSON.parse(stored) as JWK;
}

async function generateSigningKey(alg: (typeof signingAlgorithms)[number], sealer: Sealer) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
  return {
    kid,
    alg,
    status: 'active' as const,
    publicJwk: { ...publicJwk, kid, alg, use: 'sig' },
    privateJwk: sealer.seal(JSON.stringify(privateJwk), kid),
  };
}

export interface KeyManagerOptions {
  signingKeys: SigningKeyRepository;
  cookieKeys: CookieKeyRepository;
  /** KEY_ENCRYPTION_KEY (or the development key): private keys and cookie keys are sealed under it. */
  keyEncryptionKey: string;
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

/** A cookie key as admins see it: never its secret. */
export interface CookieKeyStatus {
  id: number;
  createdAt: number;
  status: 'signing' | 'pending' | 'verifying';
}

export class KeyManager {
  readonly #signingKeys: SigningKeyRepository;
  readonly #cookieKeys: CookieKeyRepository;
  readonly #keyEncryptionKey: string;
  readonly #signingKeySealer: Sealer;
  readonly #cookieKeySealer: Sealer;
  readonly #clock: Clock;
  readonly #activationDelay: number;

  constructor(options: KeyManagerOptions) {
    this.#signingKeys = options.signingKeys;
    this.#cookieKeys = options.cookieKeys;
    this.#keyEncryptionKey = options.keyEncryptionKey;
    this.#signingKeySealer = createSealer(options.keyEncryptionKey, 'signing-key');
    this.#cookieKeySealer = createSealer(options.keyEncryptionKey, 'cookie-key');
    this.#clock = options.clock ?? systemClock;
    this.#activationDelay = options.activationDelay ?? 0;
  }

  /**
   * Generates what is missing: one active key per algorithm, and a cookie
   * key. Keys an earlier version stored in clear are sealed in place.
   */
  async ensureKeys(): Promise<void> {
    const existing = await this.#signingKeys.list();
    for (const key of existing.filter((record) => !isSealed(record.privateJwk))) {
      const opened = openPrivateJwk(key.privateJwk, this.#signingKeySealer, this.#keyEncryptionKey, key.kid);
      await this.#signingKeys.replacePrivateJwk(key.kid, this.#signingKeySealer.seal(JSON.stringify(opened), key.kid));
    }
    for (const alg of signingAlgorithms) {
      if (!existing.some((key) => key.alg === alg && key.status === 'active')) {
        await this.#signingKeys.insert(await generateSigningKey(alg, this.#signingKeySealer));
      }
    }
    const cookieKeys = await this.#cookieKeys.list();
    for (const key of cookieKeys.filter((record) => !isSealed(record.secret))) {
      await this.#cookieKeys.replaceSecret(key.id, this.#cookieKeySealer.seal(key.secret, cookieKeyContext));
    }
    if (cookieKeys.length === 0) await this.rotateCookieKey();
  }

  /** Adds a cookie key; it signs cookies once the activation delay has passed, older keys keep verifying. */
  async rotateCookieKey(): Promise<void> {
    await this.#cookieKeys.insert(this.#cookieKeySealer.seal(generateSecret(32), cookieKeyContext));
  }

  /**
   * Adds a new active key per algorithm and retires the previous ones.
   * Retired keys stay in the JWKS so tokens they signed keep verifying.
   */
  async rotate(): Promise<SigningKeyRecord[]> {
    const previous = (await this.#signingKeys.list()).filter((key) => key.status === 'active');
    for (const alg of signingAlgorithms) {
      await this.#signingKeys.insert(await generateSigningKey(alg, this.#signingKeySealer));
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
    return { keys: ordered.map((key) => openPrivateJwk(key.privateJwk, this.#signingKeySealer, this.#keyEncryptionKey, key.kid)) };
  }

  /** Each cookie key's part, without its secret: the one that signs, those waiting for their activation delay, and those that only verify. */
  async cookieKeyStatuses(): Promise<CookieKeyStatus[]> {
    const records = await this.#cookieKeys.list();
    const now = this.#clock.now();
    const [signer] = signerFirst(records, now, this.#activationDelay);
    return records.map((key) => ({
      id: key.id,
      createdAt: key.createdAt,
      status: key === signer ? 'signing' : key.createdAt > now - this.#activationDelay && key.createdAt > (signer?.createdAt ?? 0) ? 'pending' : 'verifying',
    }));
  }

  /** Cookie keys, the one in force first (it signs); all of them verify. */
  async cookieKeys(): Promise<string[]> {
    const records: CookieKeyRecord[] = await this.#cookieKeys.list();
    // A key still in clear (an earlier version's, until ensureKeys seals it) is used as it is.
    return signerFirst(records, this.#clock.now(), this.#activationDelay).map((key) => (isSealed(key.secret) ? this.#cookieKeySealer.open(key.secret, cookieKeyContext) : key.secret));
  }
}
