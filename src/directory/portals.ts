// The two portals in front of which the broker stands, how each is branded
// on pages and in emails (name, accent colour, logo text), and which portal a
// registered client belongs to — read by the provider (claims, login policy),
// the interaction flows and the error pages alike, so it lives here and not
// in any one of them.
import { clientPortals, profileSelections, type ClientPortal, type Portal, type ProfileRecord, type ProfileSelection } from '../domain/records.ts';

export interface PortalBranding {
  name: string;
  /** Accent colour; white text on it and it on white both reach WCAG AA (4.5:1). */
  accent: string;
  /** The short mark shown beside the name in place of a logo image. */
  mark: string;
}

export const portalBranding: Record<Portal, PortalBranding> = {
  partnersource: { name: 'PartnerSource', accent: '#0f6cbd', mark: 'PS' },
  customersource: { name: 'CustomerSource', accent: '#107c41', mark: 'CS' },
};

export const portalName = (portal: Portal): string => portalBranding[portal].name;

/** What every email about one profile shows: its portal's name and colour, the profile, whom to ask. */
export function profileEmailData(profile: Pick<ProfileRecord, 'id' | 'portal' | 'organization'>, supportEmail: string) {
  return {
    portal: portalName(profile.portal),
    portalName: portalName(profile.portal),
    accent: portalBranding[profile.portal].accent,
    profileId: profile.id,
    organization: profile.organization,
    supportEmail,
  };
}

/**
 * The broker's own metadata on an oidc-provider Client (written by the
 * provider's clientMetadata from the stored record), read duck-typed so
 * this module needs no oidc-provider type. oidc-provider keeps extra
 * metadata as own properties of the Client under their registered
 * snake_case names; reading them there spares the token endpoint a
 * `metadata()` call, which rebuilds the whole snake_cased document (a
 * profile showed it at 3 % of a client_credentials request).
 */
interface BrokerMetadata {
  portal?: ClientPortal;
  first_party?: boolean;
  profile_selection?: ProfileSelection;
  fapi_profile?: string;
}

interface ClientWithMetadata {
  metadata(): BrokerMetadata;
}

/** One member of a client's broker metadata: the own property when there is one, else from `metadata()`. */
export function brokerMetadataMember<Name extends keyof BrokerMetadata>(client: unknown, name: Name): BrokerMetadata[Name] | undefined {
  if (!client || typeof client !== 'object') return undefined;
  if (Object.hasOwn(client, name)) return (client as BrokerMetadata)[name];
  return typeof (client as ClientWithMetadata).metadata === 'function' ? (client as ClientWithMetadata).metadata()[name] : undefined;
}

/** The portal a client belongs to, as declared at registration. */
export function clientPortal(client: unknown): ClientPortal {
  const portal = brokerMetadataMember(client, 'portal');
  return portal && clientPortals.includes(portal) ? portal : 'both';
}

export function isFirstPartyClient(client: unknown): boolean {
  return brokerMetadataMember(client, 'first_party') === true;
}

/** Whether a person with several profiles of the client's portal picks one (`ask`, the default) or the client gets the list alone (`all`). */
export function clientProfileSelection(client: unknown): ProfileSelection {
  const selection = brokerMetadataMember(client, 'profile_selection');
  return selection && profileSelections.includes(selection) ? selection : 'ask';
}

/** The portal a page should be branded for, when the client belongs to exactly one. */
export function brandingPortal(client: unknown): Portal | undefined {
  const portal = client ? clientPortal(client) : 'both';
  return portal === 'both' ? undefined : portal;
}
