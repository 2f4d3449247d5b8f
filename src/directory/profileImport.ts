// Reads MBS profile files (CSV with a header row, or JSON) into validated
// profiles, reporting every bad row with its line number instead of stopping
// at the first one, so an admin can fix a file in one pass.
import { parse as parseCsv } from 'csv-parse/sync';
import { z } from 'zod';
import { portals, type ProfileInput } from '../domain/records.ts';
import { parseEmail } from './email.ts';

export interface RejectedProfileRow {
  /** 1-based line in a CSV file, or 1-based entry in a JSON array. */
  line: number;
  reason: string;
}

export interface ParsedProfileFile {
  profiles: ProfileInput[];
  rejected: RejectedProfileRow[];
}

const rowSchema = z.object({
  id: z.string().trim().min(1, 'id is required').max(255),
  portal: z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(portals as ['partnersource', 'customersource'], { message: 'portal must be partnersource or customersource' })),
  email: z.string().transform((value, context) => {
    const email = parseEmail(value);
    if (!email) context.addIssue({ code: 'custom', message: `email "${value}" is not a valid address` });
    return email ?? '';
  }),
  displayName: z.string().trim().min(1, 'display_name is required').max(255),
  organization: z.string().trim().min(1, 'organization is required').max(255),
  roles: z.array(z.string().trim().min(1).max(100)).max(50),
});

/** One MBS profile as an admin sends it (JSON field names). */
export const profileSchema = rowSchema;

function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => (issue.path.length > 0 && !issue.message.includes(String(issue.path[0])) ? `${issue.path.join('.')}: ${issue.message}` : issue.message)).join('; ');
}

function splitRoles(value: unknown): unknown {
  if (typeof value !== 'string') return value ?? [];
  return value
    .split(/[;|]/)
    .map((role) => role.trim())
    .filter((role) => role.length > 0);
}

function toCandidate(row: Record<string, unknown>): Record<string, unknown> {
  return {
    id: row.id ?? row.profile_id,
    portal: row.portal,
    email: row.email,
    displayName: row.displayName ?? row.display_name ?? row.name,
    organization: row.organization,
    roles: splitRoles(row.roles),
  };
}

function validate(candidates: Array<{ line: number; row: Record<string, unknown> }>): ParsedProfileFile {
  const profiles: ProfileInput[] = [];
  const rejected: RejectedProfileRow[] = [];
  const lineById = new Map<string, number>();
  for (const { line, row } of candidates) {
    const result = rowSchema.safeParse(toCandidate(row));
    if (!result.success) {
      rejected.push({ line, reason: describeIssues(result.error) });
      continue;
    }
    const earlier = lineById.get(result.data.id);
    if (earlier !== undefined) {
      rejected.push({ line, reason: `profile id ${result.data.id} appears again (first on line ${earlier})` });
      continue;
    }
    lineById.set(result.data.id, line);
    profiles.push(result.data);
  }
  return { profiles, rejected };
}

export function parseProfileCsv(text: string): ParsedProfileFile {
  let records: Array<{ record: Record<string, unknown>; info: { lines: number } }>;
  try {
    records = parseCsv(text, { columns: (header: string[]) => header.map((name) => name.trim().toLowerCase()), skip_empty_lines: true, trim: true, info: true, bom: true });
  } catch (error) {
    const line = typeof (error as { lines?: unknown }).lines === 'number' ? (error as { lines: number }).lines : 1;
    return { profiles: [], rejected: [{ line, reason: `not valid CSV: ${(error as Error).message}` }] };
  }
  return validate(records.map(({ record, info }) => ({ line: info.lines, row: record })));
}

export function parseProfileJson(text: string): ParsedProfileFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { profiles: [], rejected: [{ line: 1, reason: `not valid JSON: ${(error as Error).message}` }] };
  }
  const entries = Array.isArray(parsed) ? parsed : (parsed as { profiles?: unknown } | null)?.profiles;
  if (!Array.isArray(entries)) {
    return { profiles: [], rejected: [{ line: 1, reason: 'expected a JSON array of profiles (or an object with a "profiles" array)' }] };
  }
  return validate(
    entries.map((entry, index) => ({
      line: index + 1,
      row: typeof entry === 'object' && entry !== null && !Array.isArray(entry) ? (entry as Record<string, unknown>) : {},
    })),
  );
}

/** Chooses the parser from the file name, falling back to sniffing the content. */
export function parseProfileFile(fileName: string, text: string): ParsedProfileFile {
  const lower = fileName.toLowerCase();
  if (lower.endsWith('.json')) return parseProfileJson(text);
  if (lower.endsWith('.csv')) return parseProfileCsv(text);
  return /^\s*[[{]/.test(text) ? parseProfileJson(text) : parseProfileCsv(text);
}
