// Bad input on every route of the broker: the provider's endpoints (from
// discovery), the interaction, link and account routes, the admin API (from
// its OpenAPI document), metrics, health, static files, the dev mailbox and
// the dev upstream — each sent no body, 20 KB and 1 MB bodies, invalid UTF-8
// and malformed percent-encoding (path, query, body), JSON garbage,
// 10,000-character fields, corrupted and oversized cookies and unusual
// methods, and the protected prefixes in every spelling. Whatever comes in,
// the answer is below 500, shows no stack trace or file path, and nothing
// protected answers without its token.
import { expect } from 'chai';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { buildProfile } from '../support/factories.ts';
import { Person, registerPortal } from '../support/journey.ts';
import { pathVariants } from '../support/pathVariants.ts';
import { rawRequest, type RawAnswer, type RawRequest } from '../support/rawHttp.ts';

const adminToken = 'admin-token-for-bad-input';
const metricsToken = 'metrics-token-for-bad-input';

interface Route {
  method: string;
  path: string;
  /** Answers only with this token (a protected route). */
  token?: string;
}

interface Sent extends RawRequest {
  label: string;
  /** The request carries no valid token for a protected route. */
  unauthorized?: boolean;
  protectedMarker?: RegExp;
}

const megabyte = 1024 * 1024;
const long = 'a'.repeat(10_000);
const formType = { 'content-type': 'application/x-www-form-urlencoded' };
const jsonType = { 'content-type': 'application/json' };
const htmlAccept = { accept: 'text/html' };
const jsonAccept = { accept: 'application/json' };
const invalidUtf8Form = Buffer.concat([Buffer.from('email='), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from('&csrf='), Buffer.from([0xed, 0xa0, 0x80, 0xf8])]);
const invalidUtf8Json = Buffer.concat([Buffer.from('{"id":"'), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from('"}')]);
const longFields = ['email', 'csrf', 'account', 'client_id', 'redirect_uri', 'state', 'code', 'token', 'grant_type', 'scope', 'prompt', 'logout', 'id_token_hint'];
const longForm = longFields.map((name) => `${name}=${long}`).join('&');
const longJson = JSON.stringify({ id: long, name: long, portal: long, redirectUris: [long], email: long, organization: long, displayName: long, roles: [long] });
const corruptCookies = '_interaction=%ff%fe%; _interaction.sig=====; _session=; _session.sig=%E0%A4%A; _session.legacy=x; mbs_link_state={"a":1}; mbs_link_state.sig=\\x00; mbs_association=%; mbs_account_state=AAAA.BBBB.CCCC';
const unusualMethods = ['PROPFIND', 'PROPPATCH', 'MKCOL', 'LOCK', 'UNLOCK', 'SEARCH', 'PURGE', 'TRACE', 'PATCH', 'PUT', 'DELETE', 'OPTIONS', 'HEAD'];

/** What a body must never show: a stack frame, a file of ours or of node's. */
const leaks = [/\n\s+at \S[^\n]*:\d+:\d+/, /node_modules\//, /node:internal/, /\/work\//, /\/src\/[\w/]+\.ts/, /mbs-broker-test-/, /PayloadTooLargeError|URIError|SyntaxError: /];

function withQuery(path: string, query: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}${query}`;
}

/** The corpus for one route: every kind of bad input this test knows. */
function corpusFor(route: Route): Sent[] {
  const { method, path } = route;
  const bodyMethod = method === 'GET' || method === 'HEAD' ? 'POST' : method;
  const base = (label: string, extra: Partial<RawRequest>): Sent => ({ label: `${label}: ${extra.method ?? method} ${extra.path ?? path}`, method, path, ...extra, headers: { ...htmlAccept, ...extra.headers } });
  const segments = path.split('?')[0]!.split('/');
  const lastSegmentReplaced = (replacement: string) => [...segments.slice(0, -1), replacement].join('/');
  return [
    base('no body', {}),
    base('no body, JSON wanted', { headers: jsonAccept }),
    base('empty form', { method: bodyMethod, headers: formType, body: '' }),
    base('20 KB form', { method: bodyMethod, headers: formType, body: `email=${'b'.repeat(20 * 1024)}` }),
    base('1 MB form', { method: bodyMethod, headers: formType, body: `email=${'c'.repeat(megabyte)}` }),
    base('1 MB JSON', { method: bodyMethod, headers: { ...jsonType, ...jsonAccept }, body: `{"id":"${'d'.repeat(megabyte)}"}` }),
    base('1 MB text', { method: bodyMethod, headers: { 'content-type': 'text/plain' }, body: 'e'.repeat(megabyte) }),
    base('invalid UTF-8 form', { method: bodyMethod, headers: formType, body: invalidUtf8Form }),
    base('malformed percent-encoding in the form', { method: bodyMethod, headers: formType, body: 'email=%E0%A4%A&csrf=%zz%&%=%%' }),
    base('invalid UTF-8 JSON', { method: bodyMethod, headers: { ...jsonType, ...jsonAccept }, body: invalidUtf8Json }),
    base('JSON garbage', { method: bodyMethod, headers: { ...jsonType, ...jsonAccept }, body: '{"id": [1, 2,, }' }),
    base('JSON null', { method: bodyMethod, headers: { ...jsonType, ...jsonAccept }, body: 'null' }),
    base('JSON with an unknown charset', { method: bodyMethod, headers: { 'content-type': 'application/json; charset=utf-7', ...jsonAccept }, body: '{}' }),
    base('10,000-character form fields', { method: bodyMethod, headers: formType, body: longForm }),
    base('10,000-character JSON fields', { method: bodyMethod, headers: { ...jsonType, ...jsonAccept }, body: longJson }),
    base('10,000-character query', { path: withQuery(path, `state=${long}`) }),
    base('invalid UTF-8 in the path', { path: lastSegmentReplaced('%ff%fe%c3%28') }),
    base('malformed percent-encoding in the path', { path: lastSegmentReplaced('%E0%A4%A%') }),
    base('invalid UTF-8 in the query', { path: withQuery(path, 'state=%ff%fe&code=%&client_id=%E0%A4%A&redirect_uri=%c3%28') }),
    base('repeated query parameters', { path: withQuery(path, 'state=a&state=b&client_id=a&client_id=b&scope=openid&scope=openid') }),
    base('corrupted cookies', { headers: { cookie: corruptCookies } }),
    base('12 KB cookie', { headers: { cookie: `_session=${'f'.repeat(12 * 1024)}; _interaction=${'g'.repeat(256)}` } }),
    base('40 KB cookie', { headers: { cookie: `_session=${'h'.repeat(40 * 1024)}` } }),
    ...unusualMethods.map((unusual) => base('unusual method', { method: unusual })),
  ];
}

/** Requests without the right token to a protected route, including its path in every spelling. */
function unauthorizedFor(route: Route, marker: RegExp): Sent[] {
  const attempts: Sent[] = [];
  const add = (label: string, request: RawRequest) => attempts.push({ ...request, label: `${label}: ${request.method} ${request.path}`, unauthorized: true, protectedMarker: marker });
  for (const authorization of [undefined, 'Bearer wrong-token', `Bearer ${route.token}x`, `Bearer ${long}`, `Basic ${Buffer.from(`admin:${route.token}`).toString('base64')}`, `bearer  ${route.token} extra`]) {
    add('wrong token', { method: route.method, path: route.path, headers: { ...jsonAccept, ...(authorization ? { authorization } : {}) } });
  }
  for (const variant of pathVariants(route.path.split('?')[0]!)) add('path variant', { method: route.method, path: variant, headers: jsonAccept });
  return attempts;
}

/** Bad bodies behind the right token: the parsers and validators behind the check must not fail either. */
function authorizedGarbage(route: Route): Sent[] {
  const authorization = { authorization: `Bearer ${route.token}`, ...jsonAccept };
  const method = route.method === 'GET' ? 'POST' : route.method;
  const requests: Array<[string, string | Buffer, Record<string, string>]> = [
    ['JSON garbage', '{"id": [1, 2,, }', jsonType],
    ['invalid UTF-8 JSON', invalidUtf8Json, jsonType],
    ['JSON null', 'null', jsonType],
    ['JSON array', '[1,2,3]', jsonType],
    ['10,000-character JSON fields', longJson, jsonType],
    ['6 MB JSON', `{"id":"${'i'.repeat(6 * megabyte)}"}`, jsonType],
    ['CSV garbage', `id,portal\n"unterminated,${long}\n\u0000,,,\n`, { 'content-type': 'text/csv' }],
    ['form instead of JSON', longForm, formType],
  ];
  return [
    ...requests.map(([label, body, type]): Sent => ({ label: `authorized ${label}: ${method} ${route.path}`, method, path: route.path, headers: { ...authorization, ...type }, body })),
    { label: `authorized bad query: GET ${route.path}`, method: 'GET', path: withQuery(route.path, `limit=-1&cursor=%ff&offset=${long}&type=%E0%A4%A`), headers: authorization },
  ];
}

function statusClass(status: number): string {
  return status === 0 ? 'dropped' : `${String(status)[0]}xx`;
}

describe('bad input on every route', function () {
  this.timeout(600_000);
  let running: RunningBroker;
  let routes: Route[];
  let personCookies: string;

  before(async () => {
    running = await startBroker({ ADMIN_TOKEN: adminToken, METRICS_TOKEN: metricsToken, OUTBOX_INTERVAL: '25' });
    const { issuer } = running;
    const profile = buildProfile({ email: 'bad.input@contoso.example' });
    await running.broker.store.profiles.upsert(profile);
    const portal = await registerPortal(running, 'partnersource');
    // A sign-in waiting at "check your inbox", with a real link and a real interaction.
    const person = new Person('bad-input-person');
    const signIn = await person.startSignIn(portal);
    const uid = /\/interaction\/([^/]+)\//.exec(signIn.page!.url)![1]!;
    await person.submitEmail(signIn.page!, profile.email);
    let token: string | undefined;
    for (let attempt = 0; attempt < 200 && !token; attempt += 1) {
      token = /\/link\/([A-Za-z0-9_-]+)/.exec(running.broker.devMailbox!.messages().map((message) => message.text).join('\n'))?.[1];
      if (!token) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(token, 'an association link').to.be.a('string');
    personCookies = person.browser.cookieHeader(new URL(`${issuer}/interaction/${uid}/email`));

    const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    const providerPaths = Object.entries(discovery)
      .filter(([name, value]) => name !== 'issuer' && typeof value === 'string' && value.startsWith(issuer))
      .map(([, value]) => new URL(value as string).pathname);
    const devDiscovery = (await (await fetch(`${issuer}/dev/upstream/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    const devPaths = Object.entries(devDiscovery)
      .filter(([name, value]) => name !== 'issuer' && typeof value === 'string' && value.startsWith(issuer))
      .map(([, value]) => new URL(value as string).pathname);
    const openApi = (await (await fetch(`${issuer}/admin/api/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const adminRoutes = Object.entries(openApi.paths).flatMap(([template, methods]) =>
      Object.keys(methods).map((method) => ({ method: method.toUpperCase(), path: `/admin/api${template.replace(/\{[^}]+\}/g, 'MBS-000001')}`, token: adminToken })),
    );
    const both = (path: string) => [
      { method: 'GET', path },
      { method: 'POST', path },
    ];
    routes = [
      ...both('/.well-known/openid-configuration'),
      ...providerPaths.flatMap(both),
      ...both(`/reg/${portal.clientId}`),
      ...[`/interaction/${uid}`, `/interaction/${uid}/sign-in`, `/interaction/${uid}/upstream`, `/interaction/${uid}/sent`, `/interaction/${uid}/email`].map((path) => ({ method: 'GET', path })),
      ...[`/interaction/${uid}/email`, `/interaction/${uid}/cancel`, `/interaction/${uid}/consent`].map((path) => ({ method: 'POST', path })),
      { method: 'GET', path: '/interaction/not-an-interaction/email' },
      { method: 'GET', path: '/upstream/callback?state=unknown&code=unknown' },
      { method: 'GET', path: `/link/${token}` },
      { method: 'POST', path: `/link/${token}` },
      { method: 'GET', path: '/link/not-a-token' },
      { method: 'GET', path: '/link/callback?state=unknown&code=unknown' },
      { method: 'GET', path: '/account' },
      { method: 'GET', path: '/account/sign-in' },
      { method: 'GET', path: '/account/associate' },
      { method: 'GET', path: '/account/callback?state=x&code=y' },
      { method: 'POST', path: `/account/profiles/${profile.id}/unlink` },
      { method: 'POST', path: `/account/profiles/${profile.id}/unlink/confirm` },
      { method: 'POST', path: '/account/sign-out-everywhere' },
      { method: 'GET', path: '/admin/api/openapi.json' },
      ...adminRoutes,
      { method: 'GET', path: '/metrics', token: metricsToken },
      { method: 'GET', path: '/healthz' },
      { method: 'GET', path: '/readyz' },
      { method: 'GET', path: '/static/broker.css' },
      { method: 'GET', path: '/static/../package.json' },
      { method: 'GET', path: '/dev/mail' },
      ...both('/dev/upstream/.well-known/openid-configuration'),
      ...devPaths.flatMap(both),
      { method: 'GET', path: '/dev/upstream/interaction/not-an-interaction' },
      { method: 'POST', path: '/dev/upstream/interaction/not-an-interaction/login' },
      { method: 'GET', path: '/dev/upstream/help/sign-up' },
      { method: 'GET', path: '/nothing-here' },
    ];
  });
  after(() => running?.stop());

  it('answers the whole corpus below 500, without stack traces, and nothing protected without its token', async () => {
    const corpus: Sent[] = [];
    for (const route of routes) {
      corpus.push(...corpusFor(route).map((sent) => (route.token ? { ...sent, unauthorized: true, protectedMarker: /"items"|mbs_http_requests_total|client_secret|"kid"/ } : sent)));
      // The same, with the waiting person's cookies: the forms' checks run past the session lookup.
      corpus.push(...corpusFor(route).slice(0, 16).map((sent) => ({ ...sent, label: `with cookies, ${sent.label}`, headers: { ...sent.headers, cookie: personCookies } })));
      if (route.token) {
        corpus.push(...unauthorizedFor(route, /"items"|mbs_http_requests_total|client_secret|"kid"/));
        if (route.token === adminToken) corpus.push(...authorizedGarbage(route));
      }
    }
    for (const path of ['/account', '/account/sign-out-everywhere', '/account/profiles/MBS-000001/unlink/confirm']) {
      for (const variant of pathVariants(path)) corpus.push({ label: `account path variant: POST ${variant}`, method: 'POST', path: variant, headers: { ...formType, ...htmlAccept }, body: 'csrf=x', unauthorized: true, protectedMarker: /sign-out-everywhere|unlink\/confirm/ });
    }

    const answers: Array<{ sent: Sent; answer: RawAnswer }> = [];
    // A few at a time: the link and interaction state moves, as it would under real traffic.
    for (let index = 0; index < corpus.length; index += 8) {
      const batch = corpus.slice(index, index + 8);
      answers.push(...(await Promise.all(batch.map(async (sent) => ({ sent, answer: await rawRequest(running.issuer, sent) })))));
    }

    const byClass: Record<string, number> = {};
    const serverErrors: string[] = [];
    const leaked: string[] = [];
    const protectedAnswers: string[] = [];
    const withoutHeaders: string[] = [];
    for (const { sent, answer } of answers) {
      // Node itself refuses oversized headers (431) and request targets not starting with "/" (400) before any middleware runs.
      const reachedTheBroker = answer.status !== 0 && answer.status !== 431 && sent.path.startsWith('/');
      const headersMissing = ['x-content-type-options', 'x-frame-options', 'referrer-policy'].filter((name) => !answer.headers[name] && !(name === 'x-frame-options' && sent.path.startsWith('/dev/upstream')));
      if (reachedTheBroker && headersMissing.length) withoutHeaders.push(`${answer.status} ${sent.label}: no ${headersMissing.join(', ')}`);
      byClass[statusClass(answer.status)] = (byClass[statusClass(answer.status)] ?? 0) + 1;
      if (answer.status >= 500) serverErrors.push(`${answer.status} ${sent.label}: ${answer.body.slice(0, 160)}`);
      const leak = leaks.find((pattern) => pattern.test(answer.body));
      if (leak) leaked.push(`${sent.label}: ${leak} in ${answer.body.slice(0, 200)}`);
      if (sent.unauthorized && ((answer.status >= 200 && answer.status < 300) || sent.protectedMarker?.test(answer.body))) protectedAnswers.push(`${answer.status} ${sent.label}`);
    }
    const dropped = answers.filter(({ answer }) => answer.status === 0).map(({ sent }) => sent.label);
    console.log(`      bad-input corpus: ${answers.length} requests over ${routes.length} routes; by status class ${JSON.stringify(byClass)}; ${serverErrors.length} ≥ 500, ${leaked.length} with stack traces or paths, ${protectedAnswers.length} protected answers without the token, ${withoutHeaders.length} without the security headers`);
    const kinds = (failures: string[]) => Object.entries(Object.groupBy(failures, (failure) => failure.split(':')[0]!)).map(([kind, list]) => `${list!.length} × ${kind}`);
    expect(serverErrors, [...kinds(serverErrors), ...serverErrors.slice(0, 20)].join('\n')).to.deep.equal([]);
    expect(leaked, leaked.slice(0, 20).join('\n')).to.deep.equal([]);
    expect(protectedAnswers, protectedAnswers.slice(0, 20).join('\n')).to.deep.equal([]);
    expect(withoutHeaders, [...kinds(withoutHeaders), ...withoutHeaders.slice(0, 20)].join('\n')).to.deep.equal([]);
    // Only Node's own refusals of oversized headers may close a connection unanswered.
    expect(dropped.filter((label) => !label.startsWith('40 KB cookie')), dropped.join('\n')).to.deep.equal([]);
  });
});
