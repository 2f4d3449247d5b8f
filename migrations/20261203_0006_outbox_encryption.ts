// Outbox bodies sealed at rest: one `sealed_body` column (HTML and text
// together, AES-256-GCM under KEY_ENCRYPTION_KEY) replaces the clear `html`
// and `text`, and is emptied once a message is delivered. Rows written in
// clear before: delivered ones lose their bodies; unsent ones are sealed
// with the key the broker or `mbs-broker migrate` passes in, or, when
// migrated without it, given up with their bodies dropped (`outbox list`
// shows them; the person asks for a new link).
import type { Knex } from 'knex';
import { openBodies, outboxSealer, sealBodies } from '../src/mail/sealedMessage.ts';
import type { MigrationContext } from '../src/store/migrations.ts';

const droppedAtUpgrade = 'dropped at upgrade: its bodies were stored in clear and no KEY_ENCRYPTION_KEY was given to seal them';

export async function up(knex: Knex, context: MigrationContext = {}): Promise<void> {
  await knex.schema.alterTable('outbox', (table) => {
    table.text('sealed_body');
  });
  const sealer = context.keyEncryptionKey ? outboxSealer(context.keyEncryptionKey) : undefined;
  const unsent = (await knex('outbox').select('id', 'html', 'text').whereNull('sent_at')) as Array<{ id: string; html: string; text: string }>;
  for (const row of unsent) {
    await knex('outbox')
      .where({ id: row.id })
      .update(sealer ? { sealed_body: sealBodies(sealer, row.id, row) } : { last_error: droppedAtUpgrade, next_attempt_at: Number.MAX_SAFE_INTEGER });
  }
  // Dropping the columns rewrites the table; with secure_delete the old pages are zeroed.
  await knex.schema.alterTable('outbox', (table) => {
    table.dropColumn('html');
    table.dropColumn('text');
  });
}

export async function down(knex: Knex, context: MigrationContext = {}): Promise<void> {
  await knex.schema.alterTable('outbox', (table) => {
    table.text('html').notNullable().defaultTo('');
    table.text('text').notNullable().defaultTo('');
  });
  const sealer = context.keyEncryptionKey ? outboxSealer(context.keyEncryptionKey) : undefined;
  const sealed = (await knex('outbox').select('id', 'sealed_body').whereNotNull('sealed_body')) as Array<{ id: string; sealed_body: string }>;
  for (const row of sealer ? sealed : []) await knex('outbox').where({ id: row.id }).update(openBodies(sealer!, row.id, row.sealed_body));
  await knex.schema.alterTable('outbox', (table) => {
    table.dropColumn('sealed_body');
  });
}
