// The profile picker as the provider sees it: which of an account's bound
// profiles of the asking portal a sign-in acts as, whether the person must
// be asked, and the `mbs_profile` claims that carry the choice. Read afresh
// for every token and userinfo answer, so a refresh keeps the choice and an
// unbound profile is never carried again.
import type { BoundProfile, ClientPortal, ProfileRecord, ProfileSelection } from '../domain/records.ts';
import { clientPortal, clientProfileSelection } from '../directory/portals.ts';
import type { ProfileBindingRepository, ProfileChoiceRepository } from '../store/store.ts';

/** Why a signed-in account is asked which profile it acts as: several profiles, no choice in force. */
export const profileChoiceNeeded = 'profile_choice_needed';

/** Why it is asked again: the portal sent prompt=select_account (its "switch profile" link). */
export const profileChoiceRequested = 'profile_choice_requested';

/** The name of the picker's prompt (an interaction of its own, after the sign-in). */
export const profileChoicePrompt = 'select_profile';

export interface ProfileChoiceSituation {
  portal: ClientPortal;
  selection: ProfileSelection;
  /** The account's bound profiles of the portal, ordered by id. */
  profiles: BoundProfile[];
  /** The profile this sign-in acts as: the only one, or the choice in force; none with `all`. */
  chosen: BoundProfile | undefined;
}

export interface ProfileChoiceStores {
  profileBindings: ProfileBindingRepository;
  profileChoices: ProfileChoiceRepository;
}

/** Where an account stands at the asking client's portal. */
export async function profileChoiceSituation(stores: ProfileChoiceStores, accountId: string, client: unknown): Promise<ProfileChoiceSituation> {
  const portal = clientPortal(client);
  const selection = clientProfileSelection(client);
  const profiles = await stores.profileBindings.listProfilesByAccount(accountId, portal === 'both' ? undefined : portal);
  if (selection === 'all' || profiles.length === 0) return { portal, selection, profiles, chosen: undefined };
  if (profiles.length === 1) return { portal, selection, profiles, chosen: profiles[0] };
  const choice = await stores.profileChoices.find(accountId, portal);
  return { portal, selection, profiles, chosen: profiles.find((profile) => profile.id === choice?.profileId) };
}

/** Whether the person has a choice to make here: `ask`, and several profiles of the portal. */
export const offersProfileChoice = (situation: ProfileChoiceSituation): boolean => situation.selection === 'ask' && situation.profiles.length > 1;

/** The claims of the chosen profile, added to the `mbs_profiles` scope. */
export const chosenProfileClaims = ['mbs_profile', 'mbs_profile_id', 'mbs_profile_roles'] as const;

/**
 * `mbs_profile`, the chosen profile as an object like the entries of
 * `mbs_profiles`; `mbs_profile_id` and `mbs_profile_roles` (its roles, not
 * qualified), string-valued for relying parties that flatten claims
 * (mod_auth_openidc's `Require claim mbs_profile_id:PS-1001`). Nothing when
 * no profile is chosen (`all`, or no choice in force).
 */
export function chosenProfileClaimsOf(chosen: ProfileRecord | undefined): Partial<Record<(typeof chosenProfileClaims)[number], unknown>> {
  if (!chosen) return {};
  return {
    mbs_profile: profileObject(chosen),
    mbs_profile_id: chosen.id,
    mbs_profile_roles: [...chosen.roles],
  };
}

/** A profile as the claims show it. */
export function profileObject(profile: ProfileRecord): { id: string; portal: string; organization: string; display_name: string; roles: string[] } {
  return { id: profile.id, portal: profile.portal, organization: profile.organization, display_name: profile.displayName, roles: profile.roles };
}
