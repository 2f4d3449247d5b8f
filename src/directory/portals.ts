// The two portals in front of which the broker stands, and how each is
// branded on pages and in emails (name, accent colour, logo text).
import type { Portal, ProfileRecord } from '../store/records.ts';

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
