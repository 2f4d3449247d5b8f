// The outbox: rendered emails queued in the transaction that decided to send
// them, delivered later by a worker with retries, so a crash loses nothing
// and one decision never sends twice.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('outbox', (table) => {
    table.string('id', 64).primary();
    table.string('kind', 64).notNullable();
    table.string('recipient', 320).notNullable();
    table.string('subject', 500).notNullable();
    table.text('html').notNullable();
    table.text('text').notNullable();
    table.integer('attempts').notNullable().defaultTo(0);
    table.bigInteger('next_attempt_at').notNullable().index();
    table.bigInteger('claimed_until');
    table.bigInteger('sent_at');
    table.text('last_error');
    table.bigInteger('created_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('outbox');
}
