// Small helpers for reading rows the same way on SQLite and PostgreSQL, and
// for paging.
import type { Knex } from 'knex';
import type { PageRequest } from '../domain/records.ts';

export type Row = Record<string, unknown>;
export type Executor = Knex | Knex.Transaction;

export const optionalText = (value: unknown): string | undefined => (value === null || value === undefined ? undefined : String(value));
export const optionalNumber = (value: unknown): number | undefined => (value === null || value === undefined ? undefined : Number(value));
export const parseJson = <Value>(value: unknown, fallback: Value): Value => (typeof value === 'string' && value.length > 0 ? (JSON.parse(value) as Value) : fallback);

/** Page size 1–500 (default 50) and a non-negative offset. */
export function pageBounds(query: PageRequest = {}): { limit: number; offset: number } {
  const limit = Math.min(Math.max(Math.trunc(query.limit ?? 50) || 50, 1), 500);
  const offset = Math.max(Math.trunc(query.offset ?? 0) || 0, 0);
  return { limit, offset };
}

export async function countOf(builder: Knex.QueryBuilder): Promise<number> {
  const [row] = (await builder.clone().clearSelect().clearOrder().count({ total: '*' })) as Array<{ total: number | string }>;
  return Number(row?.total ?? 0);
}
