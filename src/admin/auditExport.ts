// The audit log as CSV (RFC 4180), for a spreadsheet or an auditor's tools:
// produced page by page (newest first, paged by id so that events recorded
// meanwhile neither repeat nor shift rows), quoted where needed, and with
// every cell that a spreadsheet would read as a formula (=, +, -, @, tab,
// carriage return first) prefixed with an apostrophe (OWASP's advice on CSV
// injection): an event's details carry text people typed.
import type { AuditEventRecord } from '../domain/records.ts';
import type { AuditEventFilter, AuditEventRepository } from '../store/store.ts';

export const auditCsvColumns = ['id', 'occurred_at', 'type', 'outcome', 'actor', 'account_id', 'profile_id', 'client_id', 'ip', 'details'] as const;

const exportPageSize = 500;

/** One CSV cell: formula triggers defused, then quoted when it holds a quote, comma or line break. */
export function csvCell(value: string | number | undefined): string {
  if (value === undefined) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function auditCsvRow(event: AuditEventRecord): string {
  const cells = [
    event.id,
    new Date(event.occurredAt).toISOString(),
    event.type,
    event.outcome,
    event.actor,
    event.accountId,
    event.profileId,
    event.clientId,
    event.ip,
    event.details === undefined ? undefined : JSON.stringify(event.details),
  ];
  return `${cells.map(csvCell).join(',')}\r\n`;
}

/** The header line and one line per matching event, newest first, fetched a page at a time. */
export async function* auditCsv(auditEvents: AuditEventRepository, filter: AuditEventFilter): AsyncGenerator<string> {
  yield `${auditCsvColumns.join(',')}\r\n`;
  let beforeId: number | undefined;
  for (;;) {
    const page = await auditEvents.list({ ...filter, limit: exportPageSize, ...(beforeId === undefined ? {} : { beforeId }) });
    let lines = '';
    for (const event of page.items) lines += auditCsvRow(event);
    if (lines) yield lines;
    if (page.items.length < exportPageSize) return;
    beforeId = page.items.at(-1)!.id;
  }
}
