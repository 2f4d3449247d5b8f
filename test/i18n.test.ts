// The catalogues: every language has every message, with the same
// placeholders and markup as English; every key the templates and the code
// use exists; the language is chosen from ui_locales, then Accept-Language.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { catalogue, locales, negotiateLocale, translator } from '../src/i18n.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

function filesUnder(directory: string, extensions: string[]): string[] {
  return readdirSync(directory).flatMap((name) => {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) return filesUnder(path, extensions);
    return extensions.some((extension) => name.endsWith(extension)) ? [path] : [];
  });
}

const english = catalogue('en');
const namespaces = [...new Set(Object.keys(english).map((key) => key.split('.')[0]!))];
const placeholders = (message: string): string[] => [...message.matchAll(/\{(\w+)\}/g)].map((match) => match[1]!).sort();
const markup = (message: string): string[] => [...message.matchAll(/<\/?([a-z]+)/g)].map((match) => match[0]).sort();

/** Keys named literally in templates (it.t / it.html / it.has) and in the code (catalogue-looking strings). */
function usedKeys(): { literal: Set<string>; prefixes: Set<string> } {
  const literal = new Set<string>();
  const prefixes = new Set<string>();
  for (const file of filesUnder(join(root, 'views'), ['.eta', '.mjml', '.txt'])) {
    for (const match of readFileSync(file, 'utf8').matchAll(/it\.(?:t|html|has)\('([^']+)'/g)) {
      (match[1]!.endsWith('.') ? prefixes : literal).add(match[1]!);
    }
  }
  const keyPattern = new RegExp(`['\`]((?:${namespaces.join('|')})\\.[a-z_.]*)(\\$\\{)?`, 'g');
  for (const file of filesUnder(join(root, 'src'), ['.ts'])) {
    for (const match of readFileSync(file, 'utf8').matchAll(keyPattern)) {
      if (/\.(eta|mjml|txt)$/.test(match[1]!)) continue; // a template's file name, not a message
      if (match[2] || match[1]!.endsWith('.')) prefixes.add(match[1]!);
      else literal.add(match[1]!);
    }
  }
  return { literal, prefixes };
}

describe('message catalogues', () => {
  for (const locale of locales.filter((candidate) => candidate !== 'en')) {
    it(`has every English message in ${locale}, and nothing more`, () => {
      const messages = catalogue(locale);
      const missing = Object.keys(english).filter((key) => !(key in messages));
      const extra = Object.keys(messages).filter((key) => !(key in english));
      expect(missing, `missing in views/locales/${locale}.json`).to.deep.equal([]);
      expect(extra, `not in views/locales/en.json`).to.deep.equal([]);
    });

    it(`keeps the placeholders and markup of every English message in ${locale}`, () => {
      const messages = catalogue(locale);
      for (const [key, message] of Object.entries(english)) {
        expect(messages[key]!.trim(), `${locale}: ${key} is empty`).to.not.equal('');
        expect(placeholders(messages[key]!), `${locale}: placeholders of ${key}`).to.deep.equal(placeholders(message));
        expect(markup(messages[key]!), `${locale}: markup of ${key}`).to.deep.equal(markup(message));
      }
    });
  }

  it('has every key the templates and the code ask for', () => {
    const { literal, prefixes } = usedKeys();
    expect(literal.size).to.be.greaterThan(80);
    const missing = [...literal].filter((key) => !(key in english));
    expect(missing, 'keys used but missing from views/locales/en.json').to.deep.equal([]);
    for (const prefix of prefixes) expect(Object.keys(english).some((key) => key.startsWith(prefix)), `no message starts with ${prefix}`).to.equal(true);
  });

  it('fills placeholders and falls back to English for a key a language lacks', () => {
    expect(translator('de').t('associated.go_to', { portal: 'PartnerSource' })).to.equal('Zu PartnerSource');
    expect(translator('fr').t('error.rate_limited', { minutes: 5 })).to.contain('5 minutes');
    expect(translator('de').t('no.such.key')).to.equal('no.such.key');
    expect(translator('de').has('no.such.key')).to.equal(false);
  });
});

describe('choosing the language', () => {
  it('takes the first supported language of ui_locales', () => {
    expect(negotiateLocale({ uiLocales: 'fr-CA de', acceptLanguage: 'de' })).to.equal('fr');
    expect(negotiateLocale({ uiLocales: 'es de-AT' })).to.equal('de');
  });

  it('then the best supported language of Accept-Language', () => {
    expect(negotiateLocale({ uiLocales: 'es', acceptLanguage: 'de-CH,de;q=0.9,en;q=0.8' })).to.equal('de');
    expect(negotiateLocale({ acceptLanguage: 'it, fr;q=0.5' })).to.equal('fr');
  });

  it('then English', () => {
    expect(negotiateLocale({ acceptLanguage: 'es-ES,it;q=0.8' })).to.equal('en');
    expect(negotiateLocale({})).to.equal('en');
    expect(negotiateLocale({ uiLocales: '', acceptLanguage: 'garbage;;q=x' })).to.equal('en');
  });
});
