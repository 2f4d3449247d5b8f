// The admin console's people: who may administer the broker and as what
// (`admin_roles`, one role per broker account), the invitations an admin
// sends by email (hashed, single use, expiring, like association links), and
// the admin API tokens with a role (hashed; ADMIN_TOKEN stays the admin's).
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('admin_roles', (table) => {
    table.string('account_id', 64).primary().references('accounts.id').onDelete('CASCADE');
    table.string('role', 32).notNullable();
    table.string('granted_by', 255);
    table.bigInteger('granted_at').notNullable();
  });

  await knex.schema.createTable('admin_invitations', (table) => {
    table.string('id', 64).primary();
    table.string('token_hash', 128).notNullable().unique();
    table.string('email', 320).notNullable().index();
    table.string('role', 32).notNullable();
    table.string('invited_by', 255);
    table.bigInteger('created_at').notNullable();
    table.bigInteger('expires_at').notNullable().index();
    table.bigInteger('accepted_at');
    table.string('accepted_by', 64);
  });

  await knex.schema.createTable('admin_tokens', (table) => {
    table.string('id', 64).primary();
    table.string('token_hash', 128).notNullable().unique();
    table.string('role', 32).notNullable();
    table.string('label', 200);
    table.string('issued_by', 255);
    table.bigInteger('created_at').notNullable();
    table.bigInteger('revoked_at');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('admin_tokens');
  await knex.schema.dropTable('admin_invitations');
  await knex.schema.dropTable('admin_roles');
}
