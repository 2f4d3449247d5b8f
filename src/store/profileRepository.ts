// MBS profiles as imported from the MBS system: an upsert that says whether
// anything changed (imports report created/updated/unchanged), roles as JSON.
import type { Clock } from '../clock.ts';
import type { Portal, ProfileInput, ProfileRecord } from '../domain/records.ts';
import { countOf, pageBounds, parseJson, type Executor, type Row } from './rows.ts';
import type { ProfileRepository, ProfileUpsertOutcome } from './store.ts';

/** Also reads the profile columns of a join (the binding repository's bound profiles). */
export const toProfile = (row: Row): ProfileRecord => ({
  id: String(row.id),
  portal: String(row.portal) as Portal,
  email: String(row.email),
  displayName: String(row.display_name),
  organization: String(row.organization),
  roles: parseJson<string[]>(row.roles, []),
  createdAt: Number(row.created_at),
  updatedAt: Number(row.updated_at),
});

/** What an upsert of `profile` does to the stored row `existing`. */
function outcomeFor(existing: Row | undefined, profile: ProfileInput): ProfileUpsertOutcome {
  if (!existing) return 'created';
  const current = toProfile(existing);
  const same =
    current.portal === profile.portal &&
    current.email === profile.email &&
    current.displayName === profile.displayName &&
    current.organization === profile.organization &&
    JSON.stringify(current.roles) === JSON.stringify(profile.roles);
  return same ? 'unchanged' : 'updated';
}

export function profileRepository(db: Executor, clock: Clock): ProfileRepository {
  return {
    async outcomeOf(profile) {
      return outcomeFor((await db('profiles').where({ id: profile.id }).first()) as Row | undefined, profile);
    },
    async upsert(profile) {
      const existing = (await db('profiles').where({ id: profile.id }).first()) as Row | undefined;
      const outcome = outcomeFor(existing, profile);
      const now = clock.now();
      const values = {
        portal: profile.portal,
        email: profile.email,
        display_name: profile.displayName,
        organization: profile.organization,
        roles: JSON.stringify(profile.roles),
      };
      if (outcome === 'created') await db('profiles').insert({ id: profile.id, ...values, created_at: now, updated_at: now });
      else if (outcome === 'updated') await db('profiles').where({ id: profile.id }).update({ ...values, updated_at: now });
      return outcome;
    },
    async find(id) {
      const row = (await db('profiles').where({ id }).first()) as Row | undefined;
      return row ? toProfile(row) : undefined;
    },
    async findByEmail(email) {
      return ((await db('profiles').where({ email }).orderBy('id')) as Row[]).map(toProfile);
    },
    async list(query = {}) {
      const { limit, offset } = pageBounds(query);
      const builder = db('profiles');
      if (query.email) builder.where({ email: query.email });
      if (query.portal) builder.where({ portal: query.portal });
      // LIKE's own characters in the text match themselves.
      if (query.organization) builder.whereRaw(`lower(organization) like ? escape '\\'`, [`%${query.organization.toLowerCase().replace(/[\\%_]/g, (character) => `\\${character}`)}%`]);
      const total = await countOf(builder);
      const rows = (await builder.clone().select('*').orderBy('id').limit(limit).offset(offset)) as Row[];
      return { items: rows.map(toProfile), total };
    },
    async remove(id) {
      await db('profile_choices').where({ profile_id: id }).delete();
      await db('profile_bindings').where({ profile_id: id }).delete();
      return (await db('profiles').where({ id }).delete()) > 0;
    },
  };
}
