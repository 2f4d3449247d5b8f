// The languages people read the broker in: English, German and French, with
// every message of every page and email in one catalogue per language
// (views/locales/*.json). The language comes from the portal's `ui_locales`,
// then the browser's Accept-Language, then English.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Negotiator from 'negotiator';

export const locales = ['en', 'de', 'fr'] as const;
export type Locale = (typeof locales)[number];
export const defaultLocale: Locale = 'en';

export type MessageValues = Record<string, string | number>;

/** Every key of the catalogues, as English (the reference catalogue) has them; the typecheck refuses any other. */
export type MessageKey = keyof typeof import('../views/locales/en.json', { with: { type: 'json' } });

export interface Translator {
  readonly locale: Locale;
  /** The message for `key` with `{name}` placeholders filled in (plain text, not escaped). */
  t(key: string, values?: MessageValues): string;
  has(key: string): boolean;
}

const localesDirectory = fileURLToPath(new URL('../views/locales/', import.meta.url));

function readCatalogue(locale: Locale): Record<string, string> {
  const parsed = JSON.parse(readFileSync(`${localesDirectory}${locale}.json`, 'utf8')) as unknown;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`views/locales/${locale}.json must hold an object of messages`);
  const messages: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (typeof value !== 'string') throw new Error(`views/locales/${locale}.json: ${key} must be a string`);
    messages[key] = value;
  }
  return messages;
}

const catalogues = new Map<Locale, Record<string, string>>();

/** The messages of one language, read once. */
export function catalogue(locale: Locale): Readonly<Record<string, string>> {
  let messages = catalogues.get(locale);
  if (!messages) {
    messages = readCatalogue(locale);
    catalogues.set(locale, messages);
  }
  return messages;
}

export const isLocale = (value: unknown): value is Locale => typeof value === 'string' && (locales as readonly string[]).includes(value);

const fill = (message: string, values: MessageValues | undefined): string =>
  values ? message.replace(/\{(\w+)\}/g, (placeholder, name: string) => (name in values ? String(values[name]) : placeholder)) : message;

export function translator(locale: Locale): Translator {
  const messages = catalogue(locale);
  const fallback = catalogue(defaultLocale);
  return {
    locale,
    // A key missing from a language falls back to English rather than showing
    // a key to a person; the catalogue test keeps that from ever shipping.
    t: (key, values) => fill(messages[key] ?? fallback[key] ?? key, values),
    has: (key) => key in messages || key in fallback,
  };
}

/**
 * The first supported language of `ui_locales` (space-separated BCP 47 tags,
 * in the order the portal prefers), else the best of Accept-Language, else
 * English.
 */
export function negotiateLocale(request: { uiLocales?: string | undefined; acceptLanguage?: string | undefined }): Locale {
  for (const tag of (request.uiLocales ?? '').split(' ')) {
    const primary = tag.split('-')[0]?.toLowerCase();
    if (isLocale(primary)) return primary;
  }
  if (request.acceptLanguage) {
    const chosen = new Negotiator({ headers: { 'accept-language': request.acceptLanguage } }).language([...locales]);
    if (isLocale(chosen)) return chosen;
  }
  return defaultLocale;
}
