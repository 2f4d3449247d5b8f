// APIs registered as resource servers (RFC 8707): the identifier is the
// `resource` value and the tokens' audience; scopes and allowed clients are
// space-free lists stored as JSON text (as the clients' metadata is).
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('resource_servers', (table) => {
    table.string('identifier', 1000).primary();
    table.string('name', 200).notNullable();
    table.text('scopes').notNullable();
    table.string('token_format', 16).notNullable();
    table.integer('access_token_ttl').notNullable();
    table.text('allowed_clients').notNullable();
    table.bigInteger('created_at').notNullable();
    table.bigInteger('updated_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('resource_servers');
}
