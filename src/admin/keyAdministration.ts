// Token signing and cookie keys as an administration service: the CLI and
// the admin API rotate keys through it, and each rotation is an audit event
// with the acting surface as actor.
import type { SigningKeyRecord } from '../store/records.ts';
import type { AuditEventRepository } from '../store/store.ts';

/** What the running broker (or the CLI's store) does with keys; a rotation is published at once where it can be. */
export interface KeyOperations {
  list(): Promise<SigningKeyRecord[]>;
  rotateSigningKeys(): Promise<SigningKeyRecord[]>;
  rotateCookieKey(): Promise<void>;
}

export class KeyAdministration {
  readonly #keys: KeyOperations;
  readonly #audit: AuditEventRepository;
  readonly #actor: string;

  constructor(keys: KeyOperations, audit: AuditEventRepository, actor: string) {
    this.#keys = keys;
    this.#audit = audit;
    this.#actor = actor;
  }

  list(): Promise<SigningKeyRecord[]> {
    return this.#keys.list();
  }

  /** Adds a new signing key per algorithm; old keys keep verifying. */
  async rotateSigningKeys(): Promise<SigningKeyRecord[]> {
    const keys = await this.#keys.rotateSigningKeys();
    await this.#audit.record({ type: 'signing_keys.rotated', outcome: 'success', actor: this.#actor, details: { active: keys.filter((key) => key.status === 'active').map((key) => key.kid) } });
    return keys;
  }

  /** Adds a new cookie key; older keys keep verifying, so nobody is signed out. */
  async rotateCookieKey(): Promise<void> {
    await this.#keys.rotateCookieKey();
    await this.#audit.record({ type: 'cookie_keys.rotated', outcome: 'success', actor: this.#actor });
  }
}
