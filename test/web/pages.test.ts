// Every page in every language: one layout, the reader's language in
// <html lang>, one h1, the portal's branding, and no message key or
// unfilled placeholder showing through.
import { readdirSync } from 'node:fs';
import { expect } from 'chai';
import { catalogue, locales } from '../../src/i18n.ts';
import { createPageRenderer } from '../../src/web/pages.ts';

const titles: Record<string, string> = {
  'landing.eta': 'landing.title',
  'email-entry.eta': 'email_entry.title',
  'check-inbox.eta': 'check_inbox.title',
  'portal-fit.eta': 'portal_fit.title',
  'link-confirm.eta': 'link_confirm.title',
  'link-invalid.eta': 'link_invalid.expired.title',
  'mismatch.eta': 'mismatch.title',
  'associated.eta': 'associated.title',
  'consent.eta': 'consent.title',
  'logout.eta': 'logout.title',
  'signed-out.eta': 'signed_out.title',
  'error.eta': 'error.title',
  'dev-mailbox.eta': 'dev_mailbox.title',
  'account.eta': 'account.title',
  'account-unlink.eta': 'account_unlink.title',
  'account-method-remove.eta': 'account_method_remove.title',
  'account-method-elsewhere.eta': 'account_method_elsewhere.title',
  'profile-picker.eta': 'profile_picker.title',
};

const sample = {
  action: '/interaction/abc/email',
  cancel: '/interaction/abc/cancel',
  csrf: 'csrf-token',
  typed: 'not an email',
  problem: 'email_entry.invalid',
  email: 'jane.doe@contoso.example',
  again: '/interaction/abc/email',
  here: '/interaction/abc/sent',
  otherPortals: 'CustomerSource',
  displayName: 'Jane <Doe>',
  organization: 'Contoso & Partners',
  profileId: 'PS-1001',
  messageKey: 'link_invalid.expired.message',
  signedIn: 'someone@hotmail.example',
  portalLinks: [{ name: 'PartnerSource', url: 'http://localhost:3001/' }],
  clientName: 'Contoso Reports',
  scopes: ['openid', 'email', 'mbs_profiles', 'custom_scope'],
  form: '<form id="op.logoutForm" method="post" action="/session/end/confirm"></form>',
  hint: 'technical hint',
  code: 'invalid_request',
  messages: [{ subject: 'Associate', to: 'jane.doe@contoso.example', delivered: '2026-11-25T00:00:00Z', links: ['http://localhost:3000/link/x'] }],
  continueUrl: '/interaction/abc/sent?from=success',
  // Two upstreams (the choice); a name from the catalogue and a configured one, escaped.
  choices: [
    { id: 'microsoft', name: { key: 'upstream.microsoft' }, url: '/interaction/abc/sign-in?upstream=microsoft' },
    { id: 'partner', name: { text: 'Partner <ID>' }, url: '/interaction/abc/sign-in?upstream=partner' },
  ],
  cancelUrl: '/interaction/abc/abort',
  signUpUrl: 'https://signup.live.com/',
  passwordResetUrl: 'https://account.live.com/password/reset',
  upstreamName: 'jane@hotmail.example',
  profiles: [
    { id: 'PS-1001', portalName: 'PartnerSource', organization: 'Contoso & Partners', displayName: 'Jane <Doe>', roles: ['admin'], unlink: '/account/profiles/PS-1001/unlink' },
    { id: 'PS-1002', portalName: 'PartnerSource', organization: 'Contoso Consulting', displayName: 'Jane <Doe>', roles: [], unlink: '/account/profiles/PS-1002/unlink' },
  ],
  chosenId: 'PS-1002',
  // The sign-in methods: one of a catalogue-named upstream, one of a configured name (escaped), one of an upstream no longer configured.
  methods: [
    { id: 'i1', upstreamName: { key: 'upstream.microsoft' }, hint: 'jane@hotmail.example', added: '4 Dec 2026', lastUsed: '5 Dec 2026', remove: '/account/sign-in-methods/i1/remove' },
    { id: 'i2', upstreamName: { text: 'Partner <ID>' }, hint: 'jane.work@outlook.example', added: '4 Dec 2026', lastUsed: undefined, remove: '/account/sign-in-methods/i2/remove' },
    { id: 'i3', upstreamName: undefined, hint: '', added: '4 Dec 2026', lastUsed: undefined, remove: undefined },
  ],
  addMethod: { action: '/account/sign-in-methods/add', upstreams: [{ id: 'microsoft', name: { key: 'upstream.microsoft' } }, { id: 'partner', name: { text: 'Partner <ID>' } }] },
  methodUpstream: { text: 'Partner <ID>' },
  account: 'jane.work@outlook.example',
  associate: '/account/associate',
  signOutEverywhere: '/account/sign-out-everywhere',
  confirm: '/account/profiles/PS-1001/unlink/confirm',
  portalName: 'PartnerSource',
  otherProfiles: 2,
  continueTo: 'PartnerSource',
  seconds: 8,
};

describe('pages', () => {
  const pages = createPageRenderer({ cache: false, supportEmail: 'voice@example.com' });
  const templates = readdirSync(new URL('../../views/pages/', import.meta.url)).filter((name) => name.endsWith('.eta'));

  it('knows a title for every page template', () => {
    expect(Object.keys(titles)).to.have.members(templates);
  });

  for (const template of templates) {
    for (const locale of locales) {
      it(`renders ${template} in ${locale} with the portal's branding`, () => {
        const html = pages.render(template, { titleKey: titles[template]!, ...sample }, { portal: 'partnersource', locale });
        expect(html).to.contain(`<html lang="${locale}">`);
        expect(html.match(/<h1[ >]/g)).to.have.length(1);
        expect(html).to.contain('class="portal-partnersource"').and.to.contain('<span class="portal-name">PartnerSource</span>');
        expect(html).to.contain('href="/static/broker.css"').and.not.match(/https?:\/\/(?!localhost|signup\.live|account\.live)[^"']*\.(css|js)/);
        expect(html).to.contain('mailto:voice@example.com');
        const text = html.replace(/<[^>]+>/g, ' ');
        const leaked = Object.keys(catalogue('en')).filter((key) => text.includes(key));
        expect(leaked, 'message keys shown as text').to.deep.equal([]);
        expect(text).to.not.match(/\{[a-zA-Z]+\}/);
        expect(html).to.not.contain('Jane <Doe>').and.not.contain('Contoso & Partners');
      });
    }
  }

  it('labels the email field and ties its problem to it', () => {
    const html = pages.render('email-entry.eta', { titleKey: 'email_entry.title', ...sample }, { locale: 'en' });
    expect(html).to.contain('<label for="email">MBS email address</label>');
    expect(html).to.contain('aria-describedby="email-problem"').and.to.contain('id="email-problem" role="alert">Enter an email address like name@company.com.');
  });
});
