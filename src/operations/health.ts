// Liveness and readiness for load balancers and orchestrators: /healthz says
// the process answers; /readyz says this instance can serve sign-ins now —
// database reachable, migrations current, keys loaded, outbox moving — with
// each check's result as JSON, and 503 when any fails. A failing mail
// server is reported ("degraded") without taking the instance out of
// service: sign-ins go on and the outbox keeps the mail until it is back.
import type { Context, Next } from 'koa';
import type { Clock } from '../clock.ts';

export interface ReadinessProbes {
  /** Resolves when the database answers a trivial query. */
  databaseReachable(): Promise<void>;
  /** Migrations not applied yet. */
  pendingMigrations(): Promise<string[]>;
  /** Number of signing keys the provider signs with. */
  signingKeys(): number;
  /** When the longest-overdue unsent email fell due, if any. */
  oldestOverdueEmail(): Promise<number | undefined>;
  /** Set while this instance's latest delivery attempts failed on the mail server. */
  mailServer(): { failing: { since: number; lastError: string; failedAttempts: number } | undefined };
}

export interface HealthOptions {
  probes: ReadinessProbes;
  clock: Clock;
  /** An email overdue this long (milliseconds) means the outbox is stuck. */
  outboxStuckAfter: number;
  /** Each check gives up after this long (milliseconds). */
  checkTimeout: number;
}

/** `degraded`: impaired, reported, but not a reason to take the instance out of service. */
type CheckResult = { status: 'ok' | 'degraded' | 'failing'; detail?: string | number };

const firstLine = (text: string) => text.split('\n')[0]!.slice(0, 200);

function withTimeout<Value>(work: Promise<Value>, milliseconds: number): Promise<Value> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${milliseconds} ms`)), milliseconds);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export async function readiness(options: HealthOptions): Promise<{ ready: boolean; checks: Record<string, CheckResult> }> {
  const { probes, clock } = options;
  const check = async (work: () => Promise<CheckResult>): Promise<CheckResult> => {
    try {
      return await withTimeout(work(), options.checkTimeout);
    } catch (error) {
      return { status: 'failing', detail: error instanceof Error ? firstLine(error.message) : 'failed' };
    }
  };
  const database = await check(async () => {
    await probes.databaseReachable();
    return { status: 'ok' };
  });
  const reachable = database.status === 'ok';
  const [migrations, outbox] = await Promise.all([
    reachable
      ? check(async () => {
          const pending = await probes.pendingMigrations();
          return pending.length === 0 ? { status: 'ok' } : { status: 'failing', detail: `pending: ${pending.join(', ')}` };
        })
      : Promise.resolve<CheckResult>({ status: 'failing', detail: 'database unreachable' }),
    reachable
      ? check(async () => {
          const due = await probes.oldestOverdueEmail();
          const overdue = due === undefined ? 0 : clock.now() - due;
          return overdue > options.outboxStuckAfter ? { status: 'failing', detail: `an email is overdue by ${Math.round(overdue / 1000)} s` } : { status: 'ok' };
        })
      : Promise.resolve<CheckResult>({ status: 'failing', detail: 'database unreachable' }),
  ]);
  const keys: CheckResult = probes.signingKeys() > 0 ? { status: 'ok', detail: probes.signingKeys() } : { status: 'failing', detail: 'no signing keys' };
  const failing = probes.mailServer().failing;
  const mail: CheckResult = failing
    ? { status: 'degraded', detail: `mail server failing for ${Math.round((clock.now() - failing.since) / 1000)} s (${failing.failedAttempts} failed attempts; emails are kept and retried): ${firstLine(failing.lastError)}` }
    : { status: 'ok' };
  const checks = { database, migrations, keys, outbox, mail };
  return { ready: Object.values(checks).every((result) => result.status !== 'failing'), checks };
}

/** Serves GET /healthz and GET /readyz; never cached. */
export function healthRoutes(options: HealthOptions) {
  return async function health(ctx: Context, next: Next): Promise<void> {
    if (ctx.method !== 'GET' || (ctx.path !== '/healthz' && ctx.path !== '/readyz')) return next();
    ctx.set('Cache-Control', 'no-store');
    if (ctx.path === '/healthz') {
      ctx.body = { status: 'ok', uptimeSeconds: Math.round(process.uptime()) };
      return;
    }
    const { ready, checks } = await readiness(options);
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ready' : 'not_ready', checks };
  };
}
