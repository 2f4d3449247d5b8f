// Prometheus metrics of one broker instance, in its own registry: HTTP
// traffic by route, sign-ins and association steps by outcome (counted from
// the audit events the flows record, once committed), emails and the outbox,
// rate-limit rejections, database query latency and failed SQLite checkpoints.
import type { Knex } from 'knex';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AuditEventInput } from '../domain/records.ts';

/** Route templates, so ids and tokens never become label values. */
const knownRoutes = new Set([
  '/',
  '/auth',
  '/auth/:uid',
  '/token',
  '/token/introspection',
  '/token/revocation',
  '/me',
  '/jwks',
  '/reg',
  '/reg/:id',
  '/session/end',
  '/session/end/confirm',
  '/session/end/success',
  '/.well-known/openid-configuration',
  '/upstream/callback',
  '/interaction/:uid',
  '/interaction/:uid/sign-in',
  '/interaction/:uid/upstream',
  '/interaction/:uid/consent',
  '/interaction/:uid/abort',
  '/interaction/:uid/email',
  '/interaction/:uid/sent',
  '/interaction/:uid/cancel',
  '/link/:token',
  '/link/callback',
  '/dev/mail',
  '/dev/upstream',
  '/static/broker.css',
  '/metrics',
  '/healthz',
  '/readyz',
]);

export function routeOf(path: string): string {
  // Most requests (tokens, userinfo, introspection) are a route themselves.
  if (knownRoutes.has(path)) return path;
  if (path.startsWith('/dev/upstream/')) return '/dev/upstream';
  const route = path
    .replace(/^\/interaction\/[^/]+/, '/interaction/:uid')
    .replace(/^\/link\/(?!callback$)[^/]+$/, '/link/:token')
    .replace(/^\/auth\/[^/]+$/, '/auth/:uid')
    .replace(/^\/reg\/[^/]+$/, '/reg/:id');
  return knownRoutes.has(route) ? route : 'other';
}

export class BrokerMetrics {
  readonly registry = new Registry();
  readonly #httpRequests = new Counter({ name: 'mbs_http_requests_total', help: 'HTTP requests by method, route and status', labelNames: ['method', 'route', 'status'], registers: [this.registry] });
  readonly #httpDuration = new Histogram({
    name: 'mbs_http_request_duration_seconds',
    help: 'HTTP request latency by method and route',
    labelNames: ['method', 'route'],
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly #signIns = new Counter({ name: 'mbs_sign_ins_total', help: 'Sign-ins by outcome (success, failure)', labelNames: ['outcome'], registers: [this.registry] });
  readonly #associationSteps = new Counter({
    name: 'mbs_association_steps_total',
    help: 'Association flow steps by step and outcome',
    labelNames: ['step', 'outcome'],
    registers: [this.registry],
  });
  readonly #bindings = new Counter({ name: 'mbs_profile_bindings_total', help: 'Profile bindings created, moved or removed', labelNames: ['change'], registers: [this.registry] });
  readonly #emails = new Counter({ name: 'mbs_emails_total', help: 'Emails by kind and event (queued, sent, failed, given_up)', labelNames: ['kind', 'event'], registers: [this.registry] });
  readonly #mailServerUp = new Gauge({
    name: 'mbs_mail_server_up',
    help: 'Whether the latest delivery attempt of this instance reached a working mail server (1) or failed on it (0)',
    registers: [this.registry],
  });
  readonly #rateLimited = new Counter({ name: 'mbs_rate_limit_rejections_total', help: 'Requests refused by a rate limit, by limit', labelNames: ['limit'], registers: [this.registry] });
  readonly #queryDuration = new Histogram({
    name: 'mbs_database_query_duration_seconds',
    help: 'Database query latency by operation',
    labelNames: ['operation'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  readonly #checkpointFailures = new Counter({
    name: 'mbs_sqlite_checkpoint_failures_total',
    help: 'Write-ahead-log checkpoints the SQLite checkpoint worker could not make (full disk, I/O error)',
    registers: [this.registry],
  });

  constructor(options: { outboxDepth: () => Promise<number> }) {
    collectDefaultMetrics({ register: this.registry, prefix: 'mbs_' });
    this.#mailServerUp.set(1);
    new Gauge({
      name: 'mbs_outbox_depth',
      help: 'Emails waiting in the outbox',
      registers: [this.registry],
      async collect() {
        this.set(await options.outboxDepth());
      },
    });
  }

  /** One request, by its route template (routeOf). */
  httpRequest(method: string, route: string, status: number, seconds: number): void {
    this.#httpRequests.inc({ method, route, status: String(status) });
    this.#httpDuration.observe({ method, route }, seconds);
  }

  /** Counts what the audit trail says happened. */
  auditEventRecorded(event: AuditEventInput): void {
    if (event.type === 'sign_in') this.#signIns.inc({ outcome: event.outcome });
    if (event.type.startsWith('association.')) this.#associationSteps.inc({ step: event.type.slice('association.'.length), outcome: event.outcome });
    if (event.type === 'association.link_queued') this.#emails.inc({ kind: 'association_link', event: 'queued' });
    if (event.type === 'association.rate_limited') this.#rateLimited.inc({ limit: String(event.details?.limit ?? 'unknown') });
    if (event.type.startsWith('binding.')) this.#bindings.inc({ change: event.type.slice('binding.'.length) });
    if (event.type === 'binding.moved') this.#emails.inc({ kind: 'binding_moved', event: 'queued' });
  }

  emailSent(kind: string): void {
    this.#emails.inc({ kind, event: 'sent' });
  }

  emailFailed(kind: string, givenUp: boolean): void {
    this.#emails.inc({ kind, event: givenUp ? 'given_up' : 'failed' });
  }

  checkpointFailed(): void {
    this.#checkpointFailures.inc();
  }

  mailServerUp(up: boolean): void {
    this.#mailServerUp.set(up ? 1 : 0);
  }

  /** Times every query of the knex instance. */
  observeDatabase(database: Knex): void {
    const started = new Map<string, { at: bigint; operation: string }>();
    database.on('query', (query: { __knexQueryUid?: string; method?: string; sql?: string }) => {
      if (!query.__knexQueryUid) return;
      started.set(query.__knexQueryUid, { at: process.hrtime.bigint(), operation: query.method ?? query.sql?.split(' ')[0]?.toLowerCase() ?? 'other' });
    });
    const finished = (_error: unknown, query: { __knexQueryUid?: string }) => {
      const start = query.__knexQueryUid ? started.get(query.__knexQueryUid) : undefined;
      if (!start) return;
      started.delete(query.__knexQueryUid!);
      this.#queryDuration.observe({ operation: start.operation }, Number(process.hrtime.bigint() - start.at) / 1e9);
    };
    database.on('query-response', (_response: unknown, query: { __knexQueryUid?: string }) => finished(undefined, query));
    database.on('query-error', finished);
  }

  contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
