// The profile picker's memory: which bound profile an account acts as at a
// portal (the asking client's portal value). A choice is only kept while its
// profile stays bound to the account: unbinding or moving the profile
// deletes it (profileBindingRepository), and readers check the binding too.
import type { Clock } from '../clock.ts';
import type { ClientPortal, ProfileChoiceRecord } from '../domain/records.ts';
import type { Executor, Row } from './rows.ts';
import type { ProfileChoiceRepository } from './store.ts';

const toChoice = (row: Row): ProfileChoiceRecord => ({
  accountId: String(row.account_id),
  portal: String(row.portal) as ClientPortal,
  profileId: String(row.profile_id),
  chosenAt: Number(row.chosen_at),
});

export function profileChoiceRepository(db: Executor, clock: Clock): ProfileChoiceRepository {
  return {
    async choose(accountId, portal, profileId) {
      const row = { account_id: accountId, portal, profile_id: profileId, chosen_at: clock.now() };
      await db('profile_choices').insert(row).onConflict(['account_id', 'portal']).merge(['profile_id', 'chosen_at']);
      return toChoice(row);
    },
    async find(accountId, portal) {
      const row = (await db('profile_choices').where({ account_id: accountId, portal }).first()) as Row | undefined;
      return row ? toChoice(row) : undefined;
    },
  };
}
