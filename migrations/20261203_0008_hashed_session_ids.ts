// Sessions stored under the hash of their id (the `_session` cookie's
// value) like bearer tokens, without the id in the payload; interactions
// without their copy of that cookie value; upstream round trips under the
// hash of their state with the PKCE verifier and nonce sealed (the rows in
// flight at the upgrade, minutes old, are dropped: those sign-ins start
// again).
import { hash } from 'node:crypto';
import type { Knex } from 'knex';

const hashed = (value: string) => `sha256:${hash('sha256', value, 'base64url')}`;
const sessionTypes = ['Session', 'DevUpstream:Session'];
const interactionTypes = ['Interaction', 'DevUpstream:Interaction'];

export async function up(knex: Knex): Promise<void> {
  const sessions = (await knex('oidc_payloads').select('type', 'id', 'payload').whereIn('type', sessionTypes).whereNot('id', 'like', 'sha256:%')) as Array<{ type: string; id: string; payload: string }>;
  for (const row of sessions) {
    const { jti: _id, ...payload } = JSON.parse(row.payload) as Record<string, unknown>;
    await knex('oidc_payloads').where({ type: row.type, id: row.id }).update({ id: hashed(row.id), payload: JSON.stringify(payload) });
  }
  const interactions = (await knex('oidc_payloads').select('type', 'id', 'payload').whereIn('type', interactionTypes).where('payload', 'like', '%"cookie"%')) as Array<{ type: string; id: string; payload: string }>;
  for (const row of interactions) {
    const payload = JSON.parse(row.payload) as { session?: Record<string, unknown> };
    if (payload.session) delete payload.session.cookie;
    await knex('oidc_payloads').where({ type: row.type, id: row.id }).update({ payload: JSON.stringify(payload) });
  }
  await knex('upstream_transactions').delete();
}

export async function down(knex: Knex): Promise<void> {
  // Hashes cannot be turned back into ids: sessions end, sign-ins in flight start again.
  await knex('oidc_payloads').whereIn('type', sessionTypes).where('id', 'like', 'sha256:%').delete();
  await knex('upstream_transactions').delete();
}
