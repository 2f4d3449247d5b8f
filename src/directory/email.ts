// How MBS email addresses are compared: trimmed and lower-cased, and
// validated before use, so "Jane@Contoso.com " finds jane@contoso.com.
import { z } from 'zod';

const emailSchema = z.string().email();

export function normalizeEmail(raw: string): string {
  return raw.trim().toLowerCase();
}

/** The normalised address, or undefined when it is not an email address. */
export function parseEmail(raw: unknown): string | undefined {
  if (typeof raw !== 'string') return undefined;
  const normalized = normalizeEmail(raw);
  if (normalized.length > 320) return undefined;
  return emailSchema.safeParse(normalized).success ? normalized : undefined;
}
