// The audit log in the console (every role, auditors included): filters by
// type, actor, account, profile, client and days, pages of 50 newest first,
// and the same filters as a CSV download (streamed; formula cells defused,
// see src/admin/auditExport.ts).
import { Readable } from 'node:stream';
import type { AuditEventQuery } from '../../admin/directoryAdministration.ts';
import type { FieldProblems } from '../consoleForms.ts';
import type { ConsoleContext, ConsolePage, ConsoleStep, ConsoleSteps } from '../consoleSteps.ts';

export const auditPath = '/admin/audit';
const pageSize = 50;
const dayMilliseconds = 86_400_000;
const textFilters = ['type', 'actor', 'account', 'profile', 'client'] as const;

/** The filters as typed (to show them again) and as the service takes them, or the fields that are wrong. */
interface ReadFilters {
  typed: Record<string, string>;
  query: AuditEventQuery;
  problems: FieldProblems;
}

/** A `YYYY-MM-DD` day as the epoch milliseconds of its UTC midnight; undefined when empty; NaN when not a day. */
function dayStart(value: string): number | undefined {
  if (!value) return undefined;
  return /^\d{4}-\d{2}-\d{2}$/.test(value) ? Date.parse(`${value}T00:00:00Z`) : Number.NaN;
}

function readFilters(ctx: ConsoleContext): ReadFilters {
  const typed: Record<string, string> = {};
  for (const name of [...textFilters, 'since', 'until']) typed[name] = typeof ctx.query[name] === 'string' ? (ctx.query[name] as string).trim().slice(0, 255) : '';
  const query: AuditEventQuery = {};
  for (const name of textFilters) if (typed[name]) query[name] = typed[name];
  const problems: FieldProblems = {};
  const since = dayStart(typed.since!);
  const until = dayStart(typed.until!);
  if (Number.isNaN(since)) problems.since = 'console.invalid.day';
  if (Number.isNaN(until)) problems.until = 'console.invalid.day';
  if (since !== undefined && until !== undefined && until < since) problems.until = 'console.invalid.until';
  if (since !== undefined && !Number.isNaN(since)) query.since = since;
  // The last day counts whole.
  if (until !== undefined && !Number.isNaN(until)) query.until = until + dayMilliseconds;
  return { typed, query, problems };
}

const filterParameters = (typed: Record<string, string>): URLSearchParams => new URLSearchParams(Object.entries(typed).filter(([, value]) => value));

export const auditPage: ConsolePage = {
  navigation: { path: auditPath, labelKey: 'console.nav.audit', roles: ['support', 'auditor'] },
  routes(router, steps) {
    const { signedIn } = steps;
    const readers = steps.requireRole('support', 'auditor');
    const page = new AuditSteps(steps);
    router.get(auditPath, signedIn, readers, page.showEvents);
    router.get(`${auditPath}.csv`, signedIn, readers, page.exportEvents);
  },
};

class AuditSteps {
  readonly #steps: ConsoleSteps;

  constructor(steps: ConsoleSteps) {
    this.#steps = steps;
  }

  readonly showEvents: ConsoleStep = async (ctx) => {
    const { typed, query, problems } = readFilters(ctx);
    const pageNumber = Math.max(1, Math.min(Number.parseInt(String(ctx.query.page ?? '1'), 10) || 1, 10_000));
    const data = { titleKey: 'console.audit.title', typed, problems, when: (time: number | undefined) => this.#steps.time(ctx, time) || '—', csv: `${auditPath}.csv?${filterParameters(typed)}` };
    if (Object.keys(problems).length > 0) {
      ctx.status = 400;
      return this.#steps.render(ctx, 'console/audit.eta', data);
    }
    const events = await ctx.state.services.directory.listAuditEvents({ ...query, limit: pageSize, offset: (pageNumber - 1) * pageSize });
    const pageLink = (number: number) => `${auditPath}?${new URLSearchParams([...filterParameters(typed), ['page', String(number)]])}`;
    this.#steps.render(ctx, 'console/audit.eta', {
      ...data,
      events,
      pageNumber,
      pages: Math.max(1, Math.ceil(events.total / pageSize)),
      previous: pageNumber > 1 ? pageLink(pageNumber - 1) : undefined,
      next: pageNumber * pageSize < events.total ? pageLink(pageNumber + 1) : undefined,
    });
  };

  readonly exportEvents: ConsoleStep = async (ctx) => {
    const { typed, query, problems } = readFilters(ctx);
    // Bad filters: the page, with the messages beside them.
    if (Object.keys(problems).length > 0) return ctx.redirect(`${auditPath}?${filterParameters(typed)}`);
    ctx.type = 'text/csv; charset=utf-8';
    ctx.attachment('audit-events.csv');
    ctx.body = Readable.from(ctx.state.services.directory.exportAuditEvents(query));
  };
}
