// DPoP (RFC 9449) as several broker instances on one database must do it:
// the nonce secret derived from KEY_ENCRYPTION_KEY, so that a nonce one
// instance issued is accepted by every other; nonces required, so a proof
// cannot be made ahead of time; and the replay detection of proofs (and of
// client assertions) through the adapter's atomic insert, so that one proof
// sent to two instances at once is accepted once. A token request without a
// proof from a client that requires DPoP is refused as invalid_dpop_proof.
import { createHash } from 'node:crypto';
import Provider, { errors, type Configuration } from 'oidc-provider';
import { decodeJwt } from 'jose';
import { derivedSecret } from '../sealing.ts';
import { canInsertUnique } from '../store/oidcAdapter.ts';
import type { AdapterConstructor } from './provider.ts';

type DpopFeature = NonNullable<NonNullable<Configuration['features']>['dPoP']>;

/** What the DPoP nonces are derived from: a key of its own, derived from KEY_ENCRYPTION_KEY, which every instance shares and no database holds. */
export const dpopNonceSecret = (keyEncryptionKey: string): Buffer => derivedSecret(keyEncryptionKey, 'dpop-nonce');

/**
 * oidc-provider's DPoP feature. Every DPoP request must carry a nonce the
 * broker issued (RFC 9449 §8): a proof without one is answered
 * `use_dpop_nonce` with a `DPoP-Nonce` header, which clients such as
 * openid-client follow by themselves. The nonces change every minute and
 * stay good for a few (oidc-provider's window).
 */
export function dpopFeature(nonceSecret: Buffer): DpopFeature {
  return { enabled: true, nonceSecret, requireNonce: () => true, allowReplay: false };
}

/** The algorithms a DPoP proof may be signed with (oidc-provider's default; stated so that it is ours). */
export const dpopSigningAlgorithms = ['ES256', 'EdDSA'] as const;

/** Whether `jti` is the one of the DPoP proof of the request oidc-provider is handling. */
function isJtiOfDpopProof(jti: string): boolean {
  const proof = (Provider as unknown as { ctx?: { get(header: string): string } }).ctx?.get('DPoP');
  if (!proof) return false;
  try {
    return decodeJwt(proof).jti === jti;
  } catch {
    return false;
  }
}

/**
 * Replaces oidc-provider's replay detection (a find, then a save: two
 * instances given one proof at once would both find nothing) with the
 * adapter's atomic insert. A replayed DPoP proof is refused as
 * `invalid_dpop_proof` (RFC 9449 §11.1) at every endpoint; a replayed client
 * assertion stays oidc-provider's `invalid_client`.
 */
function useAtomicReplayDetection(provider: Provider, Adapter: AdapterConstructor): void {
  const adapter = 'prototype' in Adapter ? new (Adapter as new (model: string) => object)('ReplayDetection') : (Adapter as (model: string) => object)('ReplayDetection');
  if (!canInsertUnique(adapter)) return;
  const replayDetection = provider.ReplayDetection as unknown as { unique(iss: string, jti: string, exp: number): Promise<boolean> };
  replayDetection.unique = async (iss, jti, exp) => {
    const id = createHash('sha256').update(`${iss}${jti}`).digest('base64url');
    const now = Math.floor(Date.now() / 1000);
    const inserted = await adapter.insertUnique(id, { jti: id, iss, kind: 'ReplayDetection', iat: now, exp }, Math.max(exp - now, 1));
    if (!inserted && isJtiOfDpopProof(jti)) throw new errors.InvalidDpopProof('DPoP proof JWT Replay detected');
    return inserted;
  };
}

/** oidc-provider's detail of a token request without a proof from a client with `dpop_bound_access_tokens`. */
const missingProofDetail = 'DPoP proof JWT not provided';

/**
 * oidc-provider refuses that request as invalid_grant ("grant request is
 * invalid"), although the grant is sound: the proof is what is wrong, so the
 * answer is invalid_dpop_proof (RFC 9449 §5), as for a malformed one. Its
 * error handler sets the JSON answer, then emits grant.error with the error
 * (the detail is only there), so the listener corrects the answer in place.
 */
function refuseMissingProofAsInvalidProof(provider: Provider): void {
  provider.on('grant.error', (ctx: { body?: unknown }, error: { error_detail?: string }) => {
    const body = ctx.body as { error?: unknown; error_description?: unknown } | undefined;
    if (error.error_detail !== missingProofDetail || body?.error !== 'invalid_grant') return;
    body.error = 'invalid_dpop_proof';
    body.error_description = missingProofDetail;
  });
}

/** What the broker adds to oidc-provider's DPoP: the atomic replay detection, and invalid_dpop_proof for a missing proof. */
export function completeDpop(provider: Provider, adapter: AdapterConstructor): void {
  useAtomicReplayDetection(provider, adapter);
  refuseMissingProofAsInvalidProof(provider);
}
