// One conformance suite for every upstream implementation, each against a
// real oidc-provider on loopback: the generic OIDC upstream against the dev
// upstream, and the Microsoft preset against a provider imitating Microsoft's
// personal-accounts tenant.
import { expect } from 'chai';
import { BrokerError } from '../../src/errors.ts';
import { devSubject, devUpstreamCookieNames } from '../../src/upstream/devUpstream.ts';
import { createMicrosoftUpstream, personalAccountsTenant, verifyPersonalMicrosoftAccount } from '../../src/upstream/microsoftUpstream.ts';
import { OidcUpstream } from '../../src/upstream/oidcUpstream.ts';
import type { Upstream, UpstreamAuthorizationStart } from '../../src/upstream/upstream.ts';
import { Browser, formAction } from '../support/browser.ts';
import { freePort } from '../support/broker.ts';
import { serveDevUpstream, type ServedDevUpstream } from '../support/devUpstreams.ts';

const redirectUri = 'http://127.0.0.1:9/upstream/callback';
const clientId = 'mbs-broker';
const clientSecret = 'upstream-test-secret';

const serve = (pathPrefix: string, tenantId?: string) => serveDevUpstream({ clients: [{ clientId, clientSecret, redirectUris: [redirectUri] }], pathPrefix, ...(tenantId ? { tenantId } : {}) });

/** Drives the browser through the upstream sign-in; returns the callback URL, and whether the form was shown. */
async function authorizeInBrowser(browser: Browser, start: UpstreamAuthorizationStart, accountName: string) {
  const reachedCallback = (location: URL) => location.href.startsWith(redirectUri);
  let { page, location } = await browser.follow(start.url.href, reachedCallback);
  let formShown = false;
  if (!location && page?.body.includes('Account name')) {
    formShown = true;
    const submitted = await browser.post(new URL(formAction(page.body), page.url).href, { account: accountName, email: `${accountName}@hotmail.example` });
    ({ location } = await browser.follow(new URL(submitted.headers.get('location')!, submitted.url).href, reachedCallback));
  }
  if (!location) throw new Error(`no callback: ${page?.status} ${page?.body.slice(0, 300)}`);
  return { callbackUrl: location, formShown };
}

async function signIn(upstream: Upstream, browser: Browser, accountName: string, prompt?: string) {
  const start = await upstream.startAuthorization({ redirectUri, ...(prompt ? { prompt } : {}) });
  const { callbackUrl, formShown } = await authorizeInBrowser(browser, start, accountName);
  const identity = await upstream.finishAuthorization({ callbackUrl, redirectUri, state: start.state, nonce: start.nonce, codeVerifier: start.codeVerifier });
  return { identity, formShown };
}

async function expectUpstreamError(promise: Promise<unknown>, detail: RegExp): Promise<BrokerError> {
  let failure: unknown;
  await promise.catch((error: unknown) => (failure = error));
  expect(failure).to.be.instanceOf(BrokerError);
  expect((failure as BrokerError).code).to.equal('upstream_error');
  expect((failure as BrokerError).detail, (failure as BrokerError).detail).to.match(detail);
  return failure as BrokerError;
}

const implementations = [
  {
    name: 'generic OIDC upstream (against the dev upstream)',
    serve: () => serve(''),
    build: (issuer: string) => new OidcUpstream({ kind: 'oidc', issuer, clientId, clientSecret }),
  },
  {
    name: 'Microsoft preset (against a provider imitating the personal-accounts tenant)',
    serve: () => serve(`/${personalAccountsTenant}/v2.0`, personalAccountsTenant),
    build: (issuer: string) => createMicrosoftUpstream({ clientId, clientSecret, issuer }),
  },
];

for (const implementation of implementations) {
  describe(`upstream conformance: ${implementation.name}`, function () {
    this.timeout(30_000);
    let running: ServedDevUpstream;
    let upstream: Upstream;
    before(async () => {
      running = await implementation.serve();
      upstream = implementation.build(running.issuer);
    });
    after(() => running.stop());

    it('returns who signed in as issuer and subject, with the email only as a hint, through which upstream', async () => {
      const { identity } = await signIn(upstream, new Browser(), 'Jane');
      expect(identity).to.deep.equal({ upstreamId: upstream.id, issuer: running.issuer, subject: devSubject('jane'), email: 'Jane@hotmail.example', name: 'Jane' });
    });

    it('gives the same account the same subject and another account another', async () => {
      const first = await signIn(upstream, new Browser(), 'jane');
      const second = await signIn(upstream, new Browser(), 'JANE');
      const other = await signIn(upstream, new Browser(), 'john');
      expect(second.identity.subject).to.equal(first.identity.subject);
      expect(other.identity.subject).to.not.equal(first.identity.subject);
    });

    it('signs in silently from its session, but asks again with prompt=login', async () => {
      const browser = new Browser();
      expect((await signIn(upstream, browser, 'jane')).formShown).to.equal(true);
      expect((await signIn(upstream, browser, 'jane')).formShown).to.equal(false);
      const again = await signIn(upstream, browser, 'john', 'login');
      expect(again.formShown).to.equal(true);
      expect(again.identity.subject).to.equal(devSubject('john'));
    });

    it('rejects a callback with the wrong state, a replayed code or the wrong nonce', async () => {
      const browser = new Browser();
      const start = await upstream.startAuthorization({ redirectUri });
      const { callbackUrl } = await authorizeInBrowser(browser, start, 'jane');
      await expectUpstreamError(upstream.finishAuthorization({ callbackUrl, redirectUri, state: 'forged', nonce: start.nonce, codeVerifier: start.codeVerifier }), /state/i);
      const other = await upstream.startAuthorization({ redirectUri });
      const { callbackUrl: otherCallback } = await authorizeInBrowser(browser, other, 'jane');
      await expectUpstreamError(upstream.finishAuthorization({ callbackUrl: otherCallback, redirectUri, state: other.state, nonce: 'wrong-nonce', codeVerifier: other.codeVerifier }), /nonce/i);
      const third = await upstream.startAuthorization({ redirectUri });
      const { callbackUrl: thirdCallback } = await authorizeInBrowser(browser, third, 'jane');
      const checks = { callbackUrl: thirdCallback, redirectUri, state: third.state, nonce: third.nonce, codeVerifier: third.codeVerifier };
      await upstream.finishAuthorization(checks);
      await expectUpstreamError(upstream.finishAuthorization(checks), /grant|code|invalid/i);
    });

    it('passes prompt, max_age and login_hint through, with PKCE S256, state and nonce', async () => {
      const start = await upstream.startAuthorization({ redirectUri, prompt: 'login', maxAge: 300, loginHint: 'jane' });
      const parameters = start.url.searchParams;
      expect(Object.fromEntries(parameters)).to.include({ prompt: 'login', max_age: '300', login_hint: 'jane', code_challenge_method: 'S256', state: start.state, nonce: start.nonce, redirect_uri: redirectUri });
      expect(parameters.get('code_challenge')).to.have.length(43);
      expect(start.state).to.not.equal((await upstream.startAuthorization({ redirectUri })).state);
    });

    it('reports a cancelled sign-in as an upstream error saying so', async () => {
      const start = await upstream.startAuthorization({ redirectUri });
      const callbackUrl = new URL(`${redirectUri}?error=access_denied&state=${start.state}`);
      const failure = await expectUpstreamError(upstream.finishAuthorization({ callbackUrl, redirectUri, state: start.state, nonce: start.nonce, codeVerifier: start.codeVerifier }), /access_denied/);
      expect(failure.publicMessage).to.contain('cancelled');
    });

    it('says so clearly when the upstream cannot be reached', async () => {
      const unreachable = implementation.build(`http://127.0.0.1:${await freePort()}`);
      await expectUpstreamError(unreachable.startAuthorization({ redirectUri }), /discovery/);
    });
  });
}

describe('the Microsoft preset', function () {
  this.timeout(30_000);

  it('refuses work and school accounts (another tid)', async () => {
    const workTenant = '72f988bf-86f1-41af-91ab-2d7cd011db47';
    const running = await serve(`/${workTenant}/v2.0`, workTenant);
    try {
      const upstream = createMicrosoftUpstream({ clientId, clientSecret, issuer: running.issuer });
      const failure = await expectUpstreamError(signIn(upstream, new Browser(), 'jane'), /tid 72f988bf/);
      expect(failure.publicMessage).to.contain('personal Microsoft account');
    } finally {
      await running.stop();
    }
  });

  it('refuses an ID token whose iss does not carry its tid', () => {
    expect(() => verifyPersonalMicrosoftAccount({ iss: 'https://login.microsoftonline.com/consumers/v2.0', sub: 's', tid: personalAccountsTenant })).to.throw(BrokerError, /could not be verified/);
    expect(() => verifyPersonalMicrosoftAccount({ iss: `https://login.microsoftonline.com/${personalAccountsTenant}/v2.0`, sub: 's', tid: personalAccountsTenant })).to.not.throw();
  });

  it('defaults to the consumers issuer and Microsoft’s sign-up and reset pages', () => {
    const upstream = createMicrosoftUpstream({ clientId, clientSecret: undefined });
    expect(upstream.kind).to.equal('microsoft');
    expect(upstream.signUpUrl).to.equal('https://signup.live.com/');
    expect(upstream.passwordResetUrl).to.equal('https://account.live.com/password/reset');
  });
});

describe('the dev upstream', () => {
  it('uses cookie names of its own, never the broker’s _session or _interaction', () => {
    expect(Object.values(devUpstreamCookieNames)).to.not.include.members(['_session', '_interaction', '_interaction_resume']);
  });
});
