// Every email in every language: valid mjml (strict, no warnings), a plain
// text part, the portal's branding, and values escaped in the HTML.
import { readdirSync } from 'node:fs';
import { expect } from 'chai';
import mjml2html from 'mjml';
import { Eta } from 'eta';
import { portalBranding } from '../../src/directory/portals.ts';
import { locales, translator } from '../../src/i18n.ts';
import { createEmailRenderer } from '../../src/mail/render.ts';

const renderer = createEmailRenderer({ cache: false });
const templates = readdirSync(new URL('../../views/emails/', import.meta.url)).filter((name) => name.endsWith('.mjml')).map((name) => name.replace(/\.mjml$/, ''));

const sample = {
  portal: 'CustomerSource',
  portalName: 'CustomerSource',
  accent: portalBranding.customersource.accent,
  organization: 'Fabrikam <Retail>',
  displayName: 'Sam Lee',
  profileId: 'CS-2002',
  link: 'https://login.example/link/abcdefghijklmnopqrstuvwxyz012345',
  expires: '25 November 2026 at 12:00 UTC',
  supportEmail: 'voice@example.com',
  name: '<script>alert(1)</script>',
  role: 'support',
  upstream: 'Partner <ID>',
  account: 'jane.work@outlook.example',
};

describe('email rendering', () => {
  it('has an HTML and a plain-text template for every email', () => {
    expect(templates).to.have.members(['admin-invitation', 'association-link', 'binding-moved', 'identity-added', 'identity-removed', 'profile-unlinked', 'test-message']);
    const texts = readdirSync(new URL('../../views/emails/', import.meta.url)).filter((name) => name.endsWith('.txt'));
    expect(texts.map((name) => name.replace(/\.txt$/, ''))).to.have.members(templates);
  });

  for (const template of ['admin-invitation', 'association-link', 'binding-moved', 'identity-added', 'identity-removed', 'profile-unlinked', 'test-message']) {
    for (const locale of locales) {
      it(`renders ${template} in ${locale}: strict mjml without warnings, plain text, subject and branding from the ${locale} catalogue`, async () => {
        const email = await renderer.render(template, locale, sample);
        const { t } = translator(locale);
        expect(email.subject).to.equal(t(`emails.${template.replaceAll('-', '_')}.subject`, sample)).and.not.match(/^emails\./);
        expect(email.html).to.contain('<!doctype html>').and.not.contain('<mj-');
        expect(email.text).to.not.contain('<mj-').and.not.contain('emails.');
        expect(email.html).to.not.contain('emails.');
        // Rendering the filled template again shows mjml has nothing to warn about.
        const eta = new Eta({ views: new URL('../../views/emails/', import.meta.url).pathname, autoEscape: true });
        const source = eta.render(`${template}.mjml`, { ...sample, t, locale });
        expect((await mjml2html(source, { validationLevel: 'soft' })).errors).to.deep.equal([]);
        expect(email.html).to.contain(`lang="${locale}"`);
        if (template !== 'test-message' && template !== 'admin-invitation') {
          expect(email.html.toLowerCase()).to.contain(portalBranding.customersource.accent);
          expect(email.text).to.contain('CustomerSource').and.to.contain('voice@example.com');
        }
        if (template === 'association-link') {
          expect(email.text).to.contain(sample.link);
          expect(email.html).to.contain(`href="${sample.link}"`);
          expect(email.html).to.contain('Fabrikam &lt;Retail&gt;').and.not.contain('Fabrikam <Retail>');
          expect(email.text).to.contain('Fabrikam <Retail>');
        }
        if (template.startsWith('identity-')) {
          expect(email.text).to.contain('jane.work@outlook.example').and.to.contain('Partner <ID>');
          expect(email.html).to.contain('Partner &lt;ID&gt;').and.not.contain('Partner <ID>');
        }
        if (template === 'admin-invitation') {
          expect(email.text).to.contain(sample.link).and.to.contain(translator(locale).t('console.role.support')).and.not.contain('console.');
          expect(email.html).to.contain(`href="${sample.link}"`);
        }
        if (template === 'test-message') {
          expect(email.html).to.contain('&lt;script&gt;').and.not.contain('<script>alert');
          expect(email.text).to.contain('<script>alert(1)</script>');
        }
      });
    }
  }

  it('writes the same email differently in each language', async () => {
    const subjects = await Promise.all(locales.map(async (locale) => (await renderer.render('association-link', locale, sample)).subject));
    expect(new Set(subjects).size).to.equal(locales.length);
  });
});
