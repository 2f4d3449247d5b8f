// Test factories: records with sensible, unique defaults, overridable field by field.
import type { ProfileInput } from '../../src/store/records.ts';

let sequence = 0;
const next = (): number => {
  sequence += 1;
  return sequence;
};

export function buildProfile(overrides: Partial<ProfileInput> = {}): ProfileInput {
  const number = next();
  return {
    id: `MBS-${String(number).padStart(6, '0')}`,
    portal: 'partnersource',
    email: `person${number}@contoso.example`,
    displayName: `Person ${number}`,
    organization: `Contoso ${number}`,
    roles: ['member'],
    ...overrides,
  };
}

/** A profile file in CSV, as admins export it from the MBS system. */
export function profileCsv(profiles: ProfileInput[]): string {
  return [
    'id,portal,email,display_name,organization,roles',
    ...profiles.map((profile) => [profile.id, profile.portal, profile.email, profile.displayName, profile.organization, profile.roles.join(';')].join(',')),
  ].join('\n');
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${next()}-${Math.random().toString(36).slice(2, 8)}`;
}
