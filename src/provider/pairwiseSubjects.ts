// Pairwise subjects (OpenID Connect Core §8.1): a client registered with
// `subject_type: pairwise` sees, as `sub`, an identifier of the person made
// for its sector instead of the broker account id. The sector is the
// client's portal, not the host of its redirect URIs: a person has one `sub`
// at every pairwise client of PartnerSource, another at every pairwise
// client of CustomerSource, and a third at the pairwise clients of both
// portals (portal `both`, a sector of its own), so two portals cannot join
// their users on `sub` while the apps of one portal still can.
//
// The identifier is HMAC-SHA256(secret, sector ‖ account id), base64url,
// the secret derived from KEY_ENCRYPTION_KEY (which every instance shares
// and which cannot change without losing every sealed value), so a `sub`
// is the same after a restart and on every instance of one database.
import { createHmac } from 'node:crypto';
import type Provider from 'oidc-provider';
import type { Configuration } from 'oidc-provider';
import { subjectTypes } from '../domain/records.ts';
import { clientPortal } from '../directory/portals.ts';

/** The sector of a pairwise client: its portal (`partnersource`, `customersource` or `both`). */
export const subjectSector = (client: unknown): string => clientPortal(client);

/** The `sub` a pairwise client of `sector` sees for `accountId`. */
export function pairwiseSubject(secret: Buffer, sector: string, accountId: string): string {
  return createHmac('sha256', secret).update(`${sector}\u0000${accountId}`, 'utf8').digest('base64url');
}

/**
 * The provider settings for pairwise subjects: both subject types offered,
 * and the identifier by portal. oidc-provider applies it wherever a `sub`
 * leaves for a pairwise client: ID tokens, userinfo, introspection, logout
 * tokens, and the check of an id_token_hint. The context may be absent (a
 * logout token sent outside a request), so the identifier never reads it.
 */
export function pairwiseSubjectConfiguration(secret: Buffer): Pick<Configuration, 'subjectTypes' | 'pairwiseIdentifier'> {
  return {
    subjectTypes: [...subjectTypes],
    pairwiseIdentifier: (_ctx, accountId, client) => pairwiseSubject(secret, subjectSector(client), accountId),
  };
}

/** The part of oidc-provider's client schema this module changes, with the metadata it reads. */
interface ClientSchema {
  subject_type?: string;
  sector_identifier_uri?: string;
  required(this: ClientSchema): void;
  invalidate(message: string): never;
}

/**
 * Lets a pairwise client have redirect URIs on several hosts without a
 * sector_identifier_uri, which oidc-provider otherwise requires (the host of
 * the redirect URIs being its sector): here the portal is the sector, so
 * there is nothing to fetch. A sector_identifier_uri is refused, rather than
 * fetched and then ignored. The required-fields check runs as for a public
 * client; its other pairwise rules concern the device and CIBA grants, which
 * the broker does not offer.
 */
export function makePortalsTheSectors(provider: Provider): void {
  const schema = (provider.Client as unknown as { Schema: { prototype: ClientSchema } }).Schema.prototype;
  const required = schema.required;
  schema.required = function requiredWithPortalSectors(this: ClientSchema) {
    if (this.sector_identifier_uri !== undefined) this.invalidate('sector_identifier_uri is not supported: the sector of a pairwise client is its portal');
    if (this.subject_type !== 'pairwise') return required.call(this);
    this.subject_type = 'public';
    try {
      required.call(this);
    } finally {
      this.subject_type = 'pairwise';
    }
  };
}
