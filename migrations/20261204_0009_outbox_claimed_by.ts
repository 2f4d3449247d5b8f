// Outbox claims name their holder: `claimed_by` is the claiming process's
// instance id, so that a renewal (heartbeat) or a failure record touches only
// the holder's own claims, and a broker restarted on SQLite (one process per
// file) can release at start what its dead predecessor held.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('outbox', (table) => {
    table.string('claimed_by', 100);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('outbox', (table) => {
    table.dropColumn('claimed_by');
  });
}
