// The provider's cookie signing secrets (as stored, sealed), newest first.
import type { Clock } from '../clock.ts';
import type { Executor, Row } from './rows.ts';
import type { CookieKeyRepository } from './store.ts';

export function cookieKeyRepository(db: Executor, clock: Clock): CookieKeyRepository {
  return {
    async list() {
      return ((await db('cookie_keys').orderBy('id', 'desc')) as Row[]).map((row) => ({ id: Number(row.id), secret: String(row.secret), createdAt: Number(row.created_at) }));
    },
    async insert(secret) {
      await db('cookie_keys').insert({ secret, created_at: clock.now() });
    },
    async replaceSecret(id, secret) {
      await db('cookie_keys').where({ id }).update({ secret });
    },
  };
}
