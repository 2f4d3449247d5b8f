// The numbers of the console's dashboard: sign-ins per day, the association
// funnel with the drop-off at each step, email delivery health and active
// sessions. Each comes from a record the broker keeps anyway (the audit log,
// the outbox, oidc-provider's sessions); see src/store/statisticsRepository.ts.
import type { Clock } from '../clock.ts';
import { givenUpNextAttemptAt } from '../mail/worker.ts';
import type { StatisticsRepository } from '../store/store.ts';

const dayMilliseconds = 86_400_000;

export interface SignInDay {
  /** The UTC day, `YYYY-MM-DD`. */
  day: string;
  success: number;
  failure: number;
}

export type FunnelStepName = 'asked' | 'sent' | 'opened' | 'bound';

export interface FunnelStep {
  step: FunnelStepName;
  count: number;
  /** How many fewer than the step before (0 for the first, never negative). */
  dropOff: number;
  /** This step's count as a share of the step before, 0–1 (1 for the first, and when the step before is 0). */
  conversion: number;
}

export interface AssociationFunnel {
  since: number;
  until: number;
  /** Times someone typed an MBS email (one submission may ask for several profiles' emails). */
  submissions: number;
  /**
   * In emails, one per profile: asked for (a link queued), sent (SMTP
   * accepted), opened (profiles whose link page was opened), bound
   * (profiles bound through their link).
   */
  steps: FunnelStep[];
}

export interface EmailDeliveryHealth {
  /** Waiting for their first attempt. */
  queued: number;
  /** Failed at least once and retrying. */
  failing: number;
  /** Given up after the last retry: they wait for `outbox retry`. */
  givenUp: number;
  /** Sent in the period (every kind). */
  sent: number;
  /** When the oldest unsent email was queued. */
  oldestWaitingSince: number | undefined;
}

export interface Dashboard {
  days: number;
  signIns: SignInDay[];
  funnel: AssociationFunnel;
  email: EmailDeliveryHealth;
  activeSessions: number;
}

const dayName = (day: number): string => new Date(day).toISOString().slice(0, 10);

export function funnelSteps(counts: Record<FunnelStepName, number>): FunnelStep[] {
  const order: FunnelStepName[] = ['asked', 'sent', 'opened', 'bound'];
  return order.map((step, index) => {
    const count = counts[step];
    const before = index === 0 ? count : counts[order[index - 1]!];
    return { step, count, dropOff: Math.max(before - count, 0), conversion: before === 0 ? 1 : count / before };
  });
}

export class DashboardStatistics {
  readonly #statistics: StatisticsRepository;
  readonly #clock: Clock;

  constructor(statistics: StatisticsRepository, clock: Clock) {
    this.#statistics = statistics;
    this.#clock = clock;
  }

  /** The dashboard over the last `days` UTC days, today included. */
  async dashboard(days: number): Promise<Dashboard> {
    // Up to and including this millisecond.
    const until = this.#clock.now() + 1;
    const since = (Math.floor(until / dayMilliseconds) - (days - 1)) * dayMilliseconds;
    const [signIns, funnel, email, activeSessions] = await Promise.all([
      this.signInsPerDay(since, until),
      this.associationFunnel(since, until),
      this.emailDelivery(since, until),
      this.#statistics.activeSessions(Date.now()),
    ]);
    return { days, signIns, funnel, email, activeSessions };
  }

  /** Every UTC day of the period, days without sign-ins as zeros. */
  async signInsPerDay(since: number, until: number): Promise<SignInDay[]> {
    const counted = new Map((await this.#statistics.signInsByDay(since, until)).map((entry) => [entry.day, entry]));
    const days: SignInDay[] = [];
    for (let day = Math.floor(since / dayMilliseconds) * dayMilliseconds; day < until; day += dayMilliseconds) {
      const entry = counted.get(day);
      days.push({ day: dayName(day), success: entry?.success ?? 0, failure: entry?.failure ?? 0 });
    }
    return days;
  }

  async associationFunnel(since: number, until: number): Promise<AssociationFunnel> {
    const statistics = this.#statistics;
    const [events, sent, opened, bound] = await Promise.all([
      statistics.eventCounts(['association.email_submitted', 'association.link_queued'], since, until),
      statistics.emailsSent(since, until, 'association_link'),
      statistics.distinctProfiles(['association.link_opened'], since, until),
      // Bound by the person through a link (actor 'user'), not by an admin.
      statistics.distinctProfiles(['binding.created', 'binding.moved'], since, until, 'user'),
    ]);
    return {
      since,
      until,
      submissions: events['association.email_submitted'] ?? 0,
      steps: funnelSteps({ asked: events['association.link_queued'] ?? 0, sent, opened, bound }),
    };
  }

  async emailDelivery(since: number, until: number): Promise<EmailDeliveryHealth> {
    const [health, sent] = await Promise.all([this.#statistics.outboxHealth(givenUpNextAttemptAt), this.#statistics.emailsSent(since, until)]);
    return { ...health, sent };
  }
}
