// Token signing and cookie keys as an administration service: the CLI and
// the admin API rotate keys through it, and each rotation is an audit event
// with the acting surface as actor.
import type { SigningKeyRecord } from '../domain/records.ts';
import type { AuditEventRepository } from '../store/store.ts';

/** What the running broker (or the CLI's store) does with keys; a rotation is published at once where it can be. */
export interface KeyOperations {
  list(): Promise<SigningKeyRecord[]>;
  /** Cookie keys without their secrets, with their part: signing, pending (activation delay) or verifying. */
  listCookieKeys(): Promise<Array<{ id: number; createdAt: number; status: 'signing' | 'pending' | 'verifying' }>>;
  rotateSigningKeys(): Promise<SigningKeyRecord[]>;
  rotateCookieKey(): Promise<void>;
}

/** The same operations, each rotation audited as `actor`'s. */
export type KeyAdministration = KeyOperations;

export function keyAdministration(keys: KeyOperations, audit: AuditEventRepository, actor: string): KeyAdministration {
  return {
    list: () => keys.list(),
    listCookieKeys: () => keys.listCookieKeys(),
    // Adds a new signing key per algorithm; old keys keep verifying.
    async rotateSigningKeys() {
      const rotated = await keys.rotateSigningKeys();
      await audit.record({ type: 'signing_keys.rotated', outcome: 'success', actor, details: { active: rotated.filter((key) => key.status === 'active').map((key) => key.kid) } });
      return rotated;
    },
    // Adds a new cookie key; older keys keep verifying, so nobody is signed out.
    async rotateCookieKey() {
      await keys.rotateCookieKey();
      await audit.record({ type: 'cookie_keys.rotated', outcome: 'success', actor });
    },
  };
}
