// Rate-limit counters per key and fixed window: an atomic upsert-increment,
// so several instances share one count.
import type { Clock } from '../clock.ts';
import type { Executor } from './rows.ts';
import type { RateLimitRepository } from './store.ts';

export function rateLimitRepository(db: Executor, clock: Clock): RateLimitRepository {
  return {
    async hit(key, limit, windowMilliseconds) {
      const now = clock.now();
      const windowStart = now - (now % windowMilliseconds);
      // INSERT … ON CONFLICT DO UPDATE SET count = count + 1 RETURNING count:
      // one statement, atomic on SQLite and PostgreSQL alike.
      const rows = (await db('rate_limit_counters')
        .insert({ key, window_start: windowStart, count: 1, expires_at: windowStart + windowMilliseconds })
        .onConflict(['key', 'window_start'])
        .merge({ count: db.raw('?? + 1', ['rate_limit_counters.count']) })
        .returning('count')) as Array<{ count: number | string }>;
      const count = Number(rows[0]?.count ?? limit + 1);
      return { allowed: count <= limit, count, retryAfterMilliseconds: windowStart + windowMilliseconds - now };
    },
  };
}
