// The counts behind the console's dashboard, each one aggregate query over
// the records the broker keeps anyway: sign-ins and the association steps
// from the audit log, email delivery from the outbox, sessions from
// oidc-provider's own rows. Nothing here writes.
import { countOf, optionalNumber, type Executor, type Row } from './rows.ts';
import type { StatisticsRepository } from './store.ts';

const dayMilliseconds = 86_400_000;

export function statisticsRepository(db: Executor): StatisticsRepository {
  const events = (types: readonly string[], since: number, until: number) =>
    db('audit_events').whereIn('type', [...types]).where('occurred_at', '>=', since).where('occurred_at', '<', until);
  return {
    async signInsByDay(since, until) {
      // Integer division on both databases (bigint in PostgreSQL, integer in SQLite).
      const rows = (await events(['sign_in'], since, until)
        .select(db.raw(`occurred_at / ${dayMilliseconds} as day_number`), 'outcome')
        .count({ total: '*' })
        .groupByRaw(`occurred_at / ${dayMilliseconds}, outcome`)) as Row[];
      const days = new Map<number, { day: number; success: number; failure: number }>();
      for (const row of rows) {
        const day = Number(row.day_number) * dayMilliseconds;
        const entry = days.get(day) ?? { day, success: 0, failure: 0 };
        entry[row.outcome === 'success' ? 'success' : 'failure'] += Number(row.total);
        days.set(day, entry);
      }
      return [...days.values()].sort((a, b) => a.day - b.day);
    },

    async eventCounts(types, since, until) {
      const rows = (await events(types, since, until).select('type').count({ total: '*' }).groupBy('type')) as Row[];
      const counts: Record<string, number> = Object.fromEntries(types.map((type) => [type, 0]));
      for (const row of rows) counts[String(row.type)] = Number(row.total);
      return counts;
    },

    async distinctProfiles(types, since, until, actor) {
      const builder = events(types, since, until).whereNotNull('profile_id');
      if (actor !== undefined) builder.where({ actor });
      const [row] = (await builder.countDistinct({ total: 'profile_id' })) as Row[];
      return Number(row?.total ?? 0);
    },

    async emailsSent(since, until, kind) {
      const builder = db('outbox').where('sent_at', '>=', since).where('sent_at', '<', until);
      if (kind !== undefined) builder.where({ kind });
      return countOf(builder);
    },

    async outboxHealth(givenUpAfter) {
      const unsent = () => db('outbox').whereNull('sent_at');
      const [queued, failing, givenUp, oldest] = await Promise.all([
        countOf(unsent().where({ attempts: 0 })),
        countOf(unsent().where('attempts', '>', 0).where('next_attempt_at', '<', givenUpAfter)),
        countOf(unsent().where('next_attempt_at', '>=', givenUpAfter)),
        unsent().min({ oldest: 'created_at' }).first() as Promise<Row | undefined>,
      ]);
      return { queued, failing, givenUp, oldestWaitingSince: optionalNumber(oldest?.oldest) };
    },

    async activeSessions(now) {
      // The broker's own sessions only: the dev upstream's are namespaced (`DevUpstream:Session`).
      return countOf(db('oidc_payloads').where({ type: 'Session' }).where('expires_at', '>', now));
    },
  };
}
