// Renders the broker's HTML pages from the Eta templates in views/pages,
// inside one layout, in the reader's language and the asking portal's
// branding. Every value is escaped by default (Eta's autoEscape); messages
// that carry markup come from the catalogues, with their values escaped.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Context } from 'koa';
import { Eta } from 'eta';
import { portalBranding } from '../directory/portals.ts';
import { negotiateLocale, translator, type Locale, type MessageValues } from '../i18n.ts';
import type { Portal } from '../domain/records.ts';

const viewsDirectory = fileURLToPath(new URL('../../views/', import.meta.url));

export interface PageContext {
  /** The portal the page is branded for; none for pages of both or neither. */
  portal?: Portal | undefined;
  locale: Locale;
}

export interface PageData extends Record<string, unknown> {
  /** Catalogue key of the page's title (its h1 and the document title). */
  titleKey: string;
  titleValues?: MessageValues;
}

export interface PageRenderer {
  render(template: string, data: PageData, context: PageContext): string;
}

const escapeHtml = (value: string): string =>
  value.replace(/[&<>"']/g, (character) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[character] ?? character);

export function createPageRenderer(options: { cache: boolean; supportEmail: string }): PageRenderer {
  const eta = new Eta({ views: viewsDirectory, cache: options.cache, autoEscape: true, autoTrim: false });
  return {
    render(template, data, context) {
      const { t, has } = translator(context.locale);
      const branding = context.portal ? portalBranding[context.portal] : undefined;
      /** A catalogue message that may hold markup; its values are escaped. */
      const html = (key: string, values: MessageValues = {}): string =>
        t(key, Object.fromEntries(Object.entries(values).map(([name, value]) => [name, escapeHtml(String(value))])));
      const portalValues = { portal: branding?.name ?? 'Microsoft Dynamics' };
      return eta.render(`pages/${template}`, {
        ...data,
        title: t(data.titleKey, { ...portalValues, ...data.titleValues }),
        locale: context.locale,
        portal: context.portal,
        branding,
        supportEmail: options.supportEmail,
        t,
        has,
        html,
      });
    },
  };
}

/** The reader's language: the portal's ui_locales, then Accept-Language, then English. */
export function pageLocale(ctx: Context, uiLocales?: unknown): Locale {
  return negotiateLocale({ uiLocales: typeof uiLocales === 'string' ? uiLocales : undefined, acceptLanguage: ctx.get('accept-language') || undefined });
}

/** The broker's stylesheet, served from /static/broker.css (no external assets). */
export const stylesheet = (): string => readFileSync(`${viewsDirectory}static/broker.css`, 'utf8');

/** The console's script, served from /static/console.js. */
export const consoleScript = (): string => readFileSync(`${viewsDirectory}static/console.js`, 'utf8');
