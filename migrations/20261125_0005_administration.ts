// Administration: a client can be disabled (kept, but refused by the
// provider) without deleting its registration; oidc-provider records carry
// the account they belong to, so "sign out everywhere" can revoke them all.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clients', (table) => {
    table.bigInteger('disabled_at');
  });
  await knex.schema.alterTable('oidc_payloads', (table) => {
    table.string('account_id', 255).index();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('oidc_payloads', (table) => {
    table.dropIndex(['account_id']);
    table.dropColumn('account_id');
  });
  await knex.schema.alterTable('clients', (table) => {
    table.dropColumn('disabled_at');
  });
}
