// Renders the broker's HTML pages from the Eta templates in views/pages,
// inside one layout. Every value is escaped by default (Eta's autoEscape).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import type { Portal } from '../store/records.ts';

const viewsDirectory = fileURLToPath(new URL('../../views/', import.meta.url));

export interface PageBranding {
  portal: Portal | undefined;
}

const portalNames: Record<Portal, string> = {
  partnersource: 'PartnerSource',
  customersource: 'CustomerSource',
};

export interface PageRenderer {
  render(template: string, data: Record<string, unknown> & { title: string }, branding?: PageBranding): string;
}

export function createPageRenderer(options: { cache: boolean }): PageRenderer {
  const eta = new Eta({ views: viewsDirectory, cache: options.cache, autoEscape: true, autoTrim: false });
  return {
    render(template, data, branding = { portal: undefined }) {
      const portalName = branding.portal ? portalNames[branding.portal] : undefined;
      return eta.render(`pages/${template}`, { ...data, portal: branding.portal, portalName });
    },
  };
}

/** The broker's stylesheet, served from /static/broker.css (no external assets). */
export const stylesheet = (): string => readFileSync(`${viewsDirectory}static/broker.css`, 'utf8');
