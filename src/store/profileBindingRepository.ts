// Which account each MBS profile is bound to (at most one), and the bound
// profiles of an account: the latter sits behind every token's claims, so on
// SQLite outside transactions it runs as statements prepared once.
import type { Clock } from '../clock.ts';
import type { PreparedStatements } from './database.ts';
import { toProfile } from './profileRepository.ts';
import type { BoundProfile, Portal, ProfileBindingRecord } from '../domain/records.ts';
import { countOf, optionalText, pageBounds, type Executor, type Row } from './rows.ts';
import type { ProfileBindingRepository } from './store.ts';

const toBinding = (row: Row): ProfileBindingRecord => ({
  profileId: String(row.profile_id),
  accountId: String(row.account_id),
  identityId: optionalText(row.identity_id),
  method: String(row.method) as ProfileBindingRecord['method'],
  createdAt: Number(row.binding_created_at ?? row.created_at),
});

const toBoundProfile = (row: Row): BoundProfile => ({ ...toProfile(row), binding: toBinding(row) });

export function profileBindingRepository(db: Executor, clock: Clock, prepared?: PreparedStatements): ProfileBindingRepository {
  const boundProfilesQuery = () =>
    db('profile_bindings')
      .join('profiles', 'profiles.id', 'profile_bindings.profile_id')
      .select('profiles.*', 'profile_bindings.profile_id', 'profile_bindings.account_id', 'profile_bindings.identity_id', 'profile_bindings.method', { binding_created_at: 'profile_bindings.created_at' });
  const profilesByAccountQuery = (accountId: string, portal: Portal | undefined) => {
    const builder = boundProfilesQuery().where('profile_bindings.account_id', accountId);
    if (portal) builder.where('profiles.portal', portal);
    return builder.orderBy('profiles.id');
  };
  // The SQL of each query, once; the placeholders' values come per call, in the same order.
  const preparedSql = prepared && {
    profilesByAccount: profilesByAccountQuery('', undefined).toSQL().sql,
    profilesByAccountAndPortal: profilesByAccountQuery('', 'partnersource').toSQL().sql,
  };

  return {
    async bind(binding) {
      // One bind of a profile at a time, so that each learns the binding it
      // replaced (PostgreSQL: the profile row is locked; SQLite: its one
      // connection runs one transaction at a time).
      return db.transaction(async (trx) => {
        if (trx.client.config.client === 'pg') await trx('profiles').select('id').where({ id: binding.profileId }).forUpdate();
        const previousRow = (await trx('profile_bindings').where({ profile_id: binding.profileId }).first()) as Row | undefined;
        const row = {
          profile_id: binding.profileId,
          account_id: binding.accountId,
          identity_id: binding.identityId ?? null,
          method: binding.method,
          created_at: clock.now(),
        };
        await trx('profile_bindings').insert(row).onConflict('profile_id').merge(['account_id', 'identity_id', 'method', 'created_at']);
        // A profile moved to another account is no longer its old account's choice.
        await trx('profile_choices').where({ profile_id: binding.profileId }).whereNot({ account_id: binding.accountId }).delete();
        return { binding: toBinding(row), previous: previousRow ? toBinding(previousRow) : undefined };
      });
    },
    async findByProfile(profileId) {
      const row = (await db('profile_bindings').where({ profile_id: profileId }).first()) as Row | undefined;
      return row ? toBinding(row) : undefined;
    },
    async listProfilesByAccount(accountId, portal) {
      const rows =
        prepared && preparedSql
          ? await prepared.all(portal ? preparedSql.profilesByAccountAndPortal : preparedSql.profilesByAccount, portal ? [accountId, portal] : [accountId])
          : await profilesByAccountQuery(accountId, portal);
      return (rows as Row[]).map(toBoundProfile);
    },
    async list(query = {}) {
      const { limit, offset } = pageBounds(query);
      const builder = boundProfilesQuery();
      if (query.accountId) builder.where('profile_bindings.account_id', query.accountId);
      if (query.profileId) builder.where('profile_bindings.profile_id', query.profileId);
      if (query.email) builder.where('profiles.email', query.email);
      const total = await countOf(builder);
      const rows = (await builder.clone().orderBy('profiles.id').limit(limit).offset(offset)) as Row[];
      return { items: rows.map(toBoundProfile), total };
    },
    async remove(profileId) {
      // Unbinding a chosen profile ends that choice: the next sign-in asks again.
      await db('profile_choices').where({ profile_id: profileId }).delete();
      return (await db('profile_bindings').where({ profile_id: profileId }).delete()) > 0;
    },
  };
}
