// One error, two answers from one catalogue key: a page in the reader's
// language, and JSON whose error_description is the key's English text —
// for the broker's own errors, oidc-provider's, a path nobody serves, and
// the admin API, which answers JSON in English whatever language is asked.
import { expect } from 'chai';
import { catalogue, translator, type Locale } from '../../src/i18n.ts';
import type { ErrorMessageKey } from '../../src/errors.ts';
import { startBroker, type RunningBroker } from '../support/broker.ts';

const adminToken = 'admin-token-for-error-answers-0123456789';
const english = catalogue('en');

const escapeHtml = (value: string): string =>
  value.replace(/[&<>"']/g, (character) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[character] ?? character);

describe('error answers', () => {
  let running: RunningBroker;

  before(async () => {
    running = await startBroker({ ADMIN_TOKEN: adminToken });
  });

  after(async () => {
    await running?.stop();
  });

  const ask = (method: string, path: string, accept: string, language: Locale) =>
    fetch(`${running.issuer}${path}`, { method, headers: { accept, 'accept-language': language }, redirect: 'manual' });

  const cases: Array<{ name: string; method: string; path: string; status: number; code: string; key: ErrorMessageKey }> = [
    { name: 'a broker error (a method the link route does not take)', method: 'PUT', path: '/link/some-token', status: 405, code: 'method_not_allowed', key: 'error.method_not_allowed' },
    { name: 'an oidc-provider error (an interaction this browser does not hold)', method: 'GET', path: '/interaction/not-ours', status: 400, code: 'invalid_request', key: 'error.session_expired' },
    { name: 'a path nobody serves', method: 'GET', path: '/no/such/page', status: 404, code: 'not_found', key: 'error.not_found' },
  ];

  for (const { name, method, path, status, code, key } of cases) {
    it(`says ${name} on a page in the reader's language and in English JSON, from one key`, async () => {
      for (const language of ['de', 'fr'] as const) {
        const page = await ask(method, path, 'text/html', language);
        expect(page.status).to.equal(status);
        expect(page.headers.get('content-type')).to.match(/^text\/html/);
        const html = await page.text();
        expect(html).to.contain(escapeHtml(translator(language).t(key))).and.to.contain(`<code>${code}</code>`);
        expect(html).not.to.contain(escapeHtml(english[key]!));

        const json = await ask(method, path, 'application/json', language);
        expect(json.status).to.equal(status);
        expect(await json.json()).to.deep.equal({ error: code, error_description: english[key] });
      }
    });
  }

  it('titles the page of a path nobody serves "page not found" in the reader\'s language', async () => {
    const html = await (await ask('GET', '/no/such/page', 'text/html', 'de')).text();
    expect(html).to.contain(`<h1>${escapeHtml(translator('de').t('error.not_found.title'))}</h1>`);
  });

  it('answers the admin API in English whatever language is asked, with the catalogue text', async () => {
    const refused = await fetch(`${running.issuer}/admin/api/clients`, { headers: { accept: 'application/json', 'accept-language': 'fr' } });
    expect(refused.status).to.equal(401);
    expect(await refused.json()).to.deep.equal({ error: 'unauthorized', error_description: english['error.admin_token_required'] });

    const missing = await fetch(`${running.issuer}/admin/api/clients/nobody`, { headers: { authorization: `Bearer ${adminToken}`, 'accept-language': 'de' } });
    expect(missing.status).to.equal(404);
    expect(await missing.json()).to.deep.equal({ error: 'not_found', error_description: translator('en').t('error.client_not_found', { id: 'nobody' }) });
  });
});
