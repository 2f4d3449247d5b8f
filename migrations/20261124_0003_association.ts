// First-login association: the flow record (one per sign-in that needs an
// MBS email), the link requests it sends (hashed tokens only), and the
// rate-limit counters shared by every instance.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('association_flows', (table) => {
    table.string('id', 64).primary();
    table.string('state', 32).notNullable();
    table.string('interaction_uid', 255).index();
    table.string('client_id', 255);
    table.string('issuer', 512).notNullable();
    table.string('subject', 255).notNullable();
    table.string('email', 320);
    table.bigInteger('created_at').notNullable();
    table.bigInteger('updated_at').notNullable();
    table.bigInteger('expires_at').notNullable().index();
  });

  await knex.schema.createTable('link_requests', (table) => {
    table.string('id', 64).primary();
    table.string('token_hash', 128).notNullable().unique();
    table.string('flow_id', 64).references('association_flows.id').onDelete('SET NULL').index();
    table.string('profile_id', 255).notNullable().references('profiles.id').onDelete('CASCADE').index();
    table.string('issuer', 512).notNullable();
    table.string('subject', 255).notNullable();
    table.string('interaction_uid', 255);
    table.bigInteger('created_at').notNullable();
    table.bigInteger('expires_at').notNullable().index();
    table.bigInteger('consumed_at');
  });

  await knex.schema.createTable('rate_limit_counters', (table) => {
    table.string('key', 400).notNullable();
    table.bigInteger('window_start').notNullable();
    table.integer('count').notNullable();
    table.bigInteger('expires_at').notNullable().index();
    table.primary(['key', 'window_start']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('rate_limit_counters');
  await knex.schema.dropTableIfExists('link_requests');
  await knex.schema.dropTableIfExists('association_flows');
}
