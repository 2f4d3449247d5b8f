// Administration: a client can be disabled (kept, but refused by the
// provider) without deleting its registration.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clients', (table) => {
    table.bigInteger('disabled_at');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clients', (table) => {
    table.dropColumn('disabled_at');
  });
}
