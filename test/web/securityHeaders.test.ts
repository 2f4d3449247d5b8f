// The headers every answer carries, pinned over the routes people and
// programs meet — error pages included (an expired interaction, a link-state
// mismatch, a 500, a 404, a 413, a 405), which once went without them:
// nosniff, framing refused (X-Frame-Options and CSP frame-ancestors),
// Referrer-Policy no-referrer, and no-store wherever the answer carries a
// secret or personal data.
import { expect } from 'chai';
import { ClientAdministration } from '../../src/admin/clientAdministration.ts';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { buildProfile } from '../support/factories.ts';
import { bindDevAccount, Person, redirectUri, registerPortal } from '../support/journey.ts';
import { rawRequest } from '../support/rawHttp.ts';

const adminToken = 'admin-token-for-header-tests';
const metricsToken = 'metrics-token-for-header-tests';

interface Answer {
  name: string;
  status: number;
  header(name: string): string | null;
  body: string;
}

const fromFetch = (name: string, page: { status: number; headers: Headers; body: string }): Answer => ({ name, status: page.status, header: (header) => page.headers.get(header), body: page.body });

function expectSecurityHeaders(answer: Answer, cache: 'no-store' | 'any'): void {
  const where = `${answer.name} (${answer.status})`;
  expect(answer.header('x-content-type-options'), `${where}: nosniff`).to.equal('nosniff');
  expect(answer.header('x-frame-options'), `${where}: X-Frame-Options`).to.equal('DENY');
  expect(answer.header('content-security-policy'), `${where}: frame-ancestors`).to.contain("frame-ancestors 'none'");
  expect(answer.header('referrer-policy'), `${where}: Referrer-Policy`).to.equal('no-referrer');
  if (cache === 'no-store') expect(answer.header('cache-control'), `${where}: Cache-Control`).to.equal('no-store');
}

describe('security headers', function () {
  this.timeout(60_000);
  let running: RunningBroker;

  before(async () => {
    running = await startBroker({ ADMIN_TOKEN: adminToken, METRICS_TOKEN: metricsToken, OUTBOX_INTERVAL: '25' });
  });
  after(() => running?.stop());

  const get = async (name: string, path: string, headers: Record<string, string> = {}): Promise<Answer> => {
    const response = await fetch(`${running.issuer}${path}`, { headers: { accept: 'text/html', ...headers }, redirect: 'manual' });
    return fromFetch(name, { status: response.status, headers: response.headers, body: await response.text() });
  };

  it('are on every page of the first-login journey, each no-store: email entry, check your inbox, the link page, the success page', async () => {
    const profile = buildProfile({ email: 'headers@contoso.example' });
    await running.broker.store.profiles.upsert(profile);
    const portal = await registerPortal(running, 'partnersource');
    const person = new Person('headers-journey');
    const signIn = await person.startSignIn(portal);
    expectSecurityHeaders(fromFetch('email entry', signIn.page!), 'no-store');
    const sent = await person.submitEmail(signIn.page!, profile.email);
    expectSecurityHeaders(fromFetch('email form answer', sent), 'no-store');
    const inbox = await person.browser.get(new URL(sent.headers.get('location')!, sent.url).href);
    expectSecurityHeaders(fromFetch('check your inbox', inbox), 'no-store');
    let link: string | undefined;
    for (let attempt = 0; attempt < 200 && !link; attempt += 1) {
      link = /https?:\/\/\S+\/link\/[A-Za-z0-9_-]+/.exec(running.broker.devMailbox!.messages().map((message) => message.text).join('\n'))?.[0];
      if (!link) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const linkPage = await person.browser.get(link!);
    expect(linkPage.status).to.equal(200);
    expectSecurityHeaders(fromFetch('GET /link/:token', linkPage), 'no-store');
    const confirmed = await person.confirmLink(link!);
    expectSecurityHeaders(fromFetch('success page', confirmed.success!), 'no-store');
    const used = await person.browser.get(link!);
    expect(used.status).to.equal(410);
    expectSecurityHeaders(fromFetch('used link', used), 'no-store');
  });

  it('are on the consent page and the account page, each no-store', async () => {
    await bindDevAccount(running, 'headers-consent', [buildProfile()], running.broker.store);
    const portal = await registerPortal(running, 'partnersource');
    const person = new Person('headers-consent');
    const signIn = await person.startSignIn(portal);
    expect(signIn.location, signIn.page?.body).to.not.equal(undefined);
    const thirdParty = await new ClientAdministration(running.broker.store.clients).register({ name: 'Header Reports', portal: 'both', redirectUris: [redirectUri] });
    const authorize = new URL('/auth', running.issuer);
    authorize.search = new URLSearchParams({
      client_id: thirdParty.client.id,
      response_type: 'code',
      scope: 'openid email',
      redirect_uri: redirectUri,
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
      state: 'headers',
    }).toString();
    const consent = await person.follow(authorize.href);
    expect(consent.page?.body).to.contain('Allow access?');
    expectSecurityHeaders(fromFetch('consent page', consent.page!), 'no-store');
    const account = await person.follow(`${running.issuer}/account`);
    expect(account.page?.status).to.equal(200);
    expectSecurityHeaders(fromFetch('account page', account.page!), 'no-store');
  });

  it('are on every error page and JSON error: expired interaction, link-state mismatch, 404, 405, 413, provider errors, admin and metrics refusals', async () => {
    const answers = [
      await get('expired interaction', '/interaction/unknown-interaction/email'),
      await get('link-state mismatch', '/link/callback?state=not-this-browsers'),
      await get('unknown link', '/link/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'),
      await get('404 page', '/nothing-here'),
      await get('404 JSON', '/nothing-here', { accept: 'application/json' }),
      await get('provider error page', '/auth?client_id=unknown&response_type=code&scope=openid'),
      await get('admin API without a token', '/admin/api/clients', { accept: 'application/json' }),
      await get('metrics without a token', '/metrics'),
    ];
    for (const [name, request] of [
      ['413 page', { method: 'POST', path: '/link/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' }, body: `csrf=${'x'.repeat(20 * 1024)}` }],
      ['413 JSON', { method: 'POST', path: '/admin/api/clients', headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${adminToken}` }, body: `{"id":"${'x'.repeat(6 * 1024 * 1024)}"}` }],
      ['405 page', { method: 'PROPFIND', path: '/interaction/unknown-interaction/email', headers: { accept: 'text/html' } }],
      ['TRACE', { method: 'TRACE', path: '/auth', headers: { accept: 'text/html' } }],
    ] as const) {
      const answer = await rawRequest(running.issuer, request);
      answers.push({ name, status: answer.status, header: (header) => (answer.headers[header] as string | undefined) ?? null, body: answer.body });
    }
    expect(answers.map((answer) => `${answer.name} ${answer.status}`)).to.deep.equal([
      'expired interaction 400',
      'link-state mismatch 400',
      'unknown link 404',
      '404 page 404',
      '404 JSON 404',
      'provider error page 400',
      'admin API without a token 401',
      'metrics without a token 401',
      '413 page 413',
      '413 JSON 413',
      '405 page 405',
      'TRACE 404',
    ]);
    for (const answer of answers) expectSecurityHeaders(answer, 'no-store');
    expect(answers.find((answer) => answer.name === '413 page')!.body).to.contain('too large');
    expect(answers.find((answer) => answer.name === '413 JSON')!.body).to.contain('"error":"payload_too_large"');
    expect(answers.find((answer) => answer.name === '405 page')!.header('allow')).to.equal('HEAD, GET, POST');
  });

  it('are on the 500 page, which shows no detail of the failure', async () => {
    const linkRequests = running.broker.store.linkRequests;
    const original = linkRequests.findByTokenHash;
    linkRequests.findByTokenHash = async () => {
      throw new Error('fault injected at /work/src/store/secret.ts:12:34');
    };
    try {
      const answer = await get('500 page', '/link/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
      expect(answer.status).to.equal(500);
      expectSecurityHeaders(answer, 'no-store');
      expect(answer.body).to.contain('Something went wrong').and.not.to.contain('fault injected').and.not.to.contain('.ts:');
    } finally {
      linkRequests.findByTokenHash = original;
    }
  });

  it('are on the JSON answers of the admin API, metrics and health, each no-store', async () => {
    const answers = [
      await get('admin API', '/admin/api/clients', { authorization: `Bearer ${adminToken}`, accept: 'application/json' }),
      await get('metrics', '/metrics', { authorization: `Bearer ${metricsToken}` }),
      await get('health', '/healthz'),
      await get('readiness', '/readyz'),
      await get('dev mailbox', '/dev/mail'),
    ];
    for (const answer of answers) {
      expect(answer.status, answer.name).to.equal(200);
      expectSecurityHeaders(answer, 'no-store');
    }
  });

  it('let public documents be cached, still refusing sniffing and framing: discovery, JWKS, the stylesheet', async () => {
    const discovery = await get('discovery', '/.well-known/openid-configuration');
    const jwks = await get('JWKS', '/jwks');
    const stylesheet = await get('stylesheet', '/static/broker.css');
    for (const answer of [discovery, jwks, stylesheet]) {
      expect(answer.status, answer.name).to.equal(200);
      expectSecurityHeaders(answer, 'any');
      expect(answer.header('cache-control'), answer.name).to.not.equal('no-store');
    }
    expect(stylesheet.header('cache-control')).to.equal('public, max-age=3600');
  });
});
