// What the support desk asks of the records: the SMTP server's answer to
// each delivered email (`smtp_response`, its reply line only, never the
// message), emails looked up by their address, and audit events by who acted.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('outbox', (table) => {
    table.string('smtp_response', 1000);
    table.index(['recipient']);
  });
  await knex.schema.alterTable('audit_events', (table) => {
    table.index(['actor']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit_events', (table) => {
    table.dropIndex(['actor']);
  });
  await knex.schema.alterTable('outbox', (table) => {
    table.dropIndex(['recipient']);
    table.dropColumn('smtp_response');
  });
}
