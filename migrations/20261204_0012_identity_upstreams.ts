// Several upstreams: which configured upstream (its id in UPSTREAMS) signed
// an identity in, and which one an association flow and its links started
// with, so the link's re-authentication goes back to the same one. The
// identity itself stays issuer + subject (unique, as before: the subject is
// namespaced by its issuer, and each Microsoft tenant has its own issuer).
// Rows from before have no upstream id: they belong to the first configured
// upstream, the only one there was.
import type { Knex } from 'knex';

const tables = ['identities', 'association_flows', 'link_requests'] as const;

export async function up(knex: Knex): Promise<void> {
  for (const name of tables) {
    await knex.schema.alterTable(name, (table) => {
      table.string('upstream_id', 64);
    });
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const name of tables) {
    await knex.schema.alterTable(name, (table) => {
      table.dropColumn('upstream_id');
    });
  }
}
