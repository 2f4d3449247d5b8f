// Foundation schema: oidc-provider payloads, clients, MBS profiles, accounts,
// upstream identities, profile bindings, audit events, keys and the upstream
// round trips in flight. Times are epoch milliseconds (bigint) on both
// databases so comparisons behave the same everywhere.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('oidc_payloads', (table) => {
    table.string('type', 64).notNullable();
    table.string('id', 255).notNullable();
    table.text('payload').notNullable();
    table.string('grant_id', 255);
    table.string('uid', 255);
    table.string('user_code', 255);
    table.bigInteger('expires_at');
    table.bigInteger('consumed_at');
    table.primary(['type', 'id']);
    table.index(['grant_id']);
    table.index(['uid']);
    table.index(['user_code']);
    table.index(['expires_at']);
  });

  await knex.schema.createTable('clients', (table) => {
    table.string('id', 255).primary();
    table.text('metadata').notNullable();
    table.string('portal', 32).notNullable();
    table.boolean('first_party').notNullable().defaultTo(false);
    table.string('secret_hash', 255);
    table.bigInteger('created_at').notNullable();
    table.bigInteger('updated_at').notNullable();
  });

  await knex.schema.createTable('profiles', (table) => {
    table.string('id', 255).primary();
    table.string('portal', 32).notNullable();
    table.string('email', 320).notNullable().index();
    table.string('display_name', 255).notNullable();
    table.string('organization', 255).notNullable();
    table.text('roles').notNullable().defaultTo('[]');
    table.bigInteger('created_at').notNullable();
    table.bigInteger('updated_at').notNullable();
  });

  await knex.schema.createTable('accounts', (table) => {
    table.string('id', 64).primary();
    table.string('email', 320);
    table.boolean('email_verified').notNullable().defaultTo(false);
    table.string('name', 255);
    table.bigInteger('created_at').notNullable();
    table.bigInteger('updated_at').notNullable();
  });

  await knex.schema.createTable('identities', (table) => {
    table.string('id', 64).primary();
    table.string('account_id', 64).notNullable().references('accounts.id').onDelete('CASCADE').index();
    table.string('issuer', 512).notNullable();
    table.string('subject', 255).notNullable();
    table.string('email_hint', 320);
    table.string('name_hint', 255);
    table.bigInteger('created_at').notNullable();
    table.bigInteger('last_sign_in_at');
    table.unique(['issuer', 'subject']);
  });

  await knex.schema.createTable('profile_bindings', (table) => {
    table.string('profile_id', 255).primary().references('profiles.id').onDelete('CASCADE');
    table.string('account_id', 64).notNullable().references('accounts.id').onDelete('CASCADE').index();
    table.string('identity_id', 64).references('identities.id').onDelete('SET NULL');
    table.string('method', 32).notNullable();
    table.bigInteger('created_at').notNullable();
  });

  await knex.schema.createTable('audit_events', (table) => {
    table.increments('id').primary();
    table.bigInteger('occurred_at').notNullable().index();
    table.string('type', 64).notNullable().index();
    table.string('outcome', 16).notNullable();
    table.string('actor', 255);
    table.string('account_id', 64).index();
    table.string('profile_id', 255).index();
    table.string('client_id', 255).index();
    table.string('ip', 64);
    table.text('details');
  });

  await knex.schema.createTable('signing_keys', (table) => {
    table.string('kid', 128).primary();
    table.string('alg', 16).notNullable();
    table.string('status', 16).notNullable();
    table.text('public_jwk').notNullable();
    table.text('private_jwk').notNullable();
    table.bigInteger('created_at').notNullable();
    table.bigInteger('retired_at');
  });

  await knex.schema.createTable('cookie_keys', (table) => {
    table.increments('id').primary();
    table.text('secret').notNullable();
    table.bigInteger('created_at').notNullable();
  });

  await knex.schema.createTable('upstream_transactions', (table) => {
    table.string('state', 128).primary();
    table.string('purpose', 32).notNullable();
    table.string('interaction_uid', 255);
    table.string('code_verifier', 255).notNullable();
    table.string('nonce', 255).notNullable();
    table.text('context');
    table.bigInteger('created_at').notNullable();
    table.bigInteger('expires_at').notNullable().index();
    table.bigInteger('consumed_at');
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    'upstream_transactions',
    'cookie_keys',
    'signing_keys',
    'audit_events',
    'profile_bindings',
    'identities',
    'accounts',
    'profiles',
    'clients',
    'oidc_payloads',
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
}
