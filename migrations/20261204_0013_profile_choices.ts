// The profile picker: which of its bound profiles an account acts as at each
// portal (the client's portal value, so a client of both portals keeps its
// own choice). One row per account and portal; a choice whose profile is no
// longer bound to the account is void (the claims and the picker check it),
// and unbinding or moving the profile deletes the row.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('profile_choices', (table) => {
    table.string('account_id', 64).notNullable().references('accounts.id').onDelete('CASCADE');
    table.string('portal', 32).notNullable();
    table.string('profile_id', 255).notNullable().references('profiles.id').onDelete('CASCADE').index();
    table.bigInteger('chosen_at').notNullable();
    table.primary(['account_id', 'portal']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('profile_choices');
}
