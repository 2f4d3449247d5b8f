// Protected answers need their token wherever their route runs: the admin
// API, the metrics and the account page, asked through every spelling of
// their paths a router or proxy might treat as the same (letter case, doubled
// and trailing slashes, dot segments, percent-encoding). The admin API once
// answered /ADMIN/api/clients without a token.
import { expect } from 'chai';
import { startBroker, type RunningBroker } from './support/broker.ts';
import { pathVariants } from './support/pathVariants.ts';
import { rawRequest as sendRaw } from './support/rawHttp.ts';

/** One request with the path exactly as given: fetch would normalise it first. */
function rawRequest(issuer: string, method: string, path: string, body?: string) {
  return sendRaw(issuer, { method, path, ...(body ? { headers: { 'content-type': 'application/json' }, body } : {}) });
}

const adminToken = 'admin-token-for-path-tests';
const metricsToken = 'metrics-token-for-path-tests';

describe('protected paths', function () {
  this.timeout(60_000);
  let running: RunningBroker;

  before(async () => {
    running = await startBroker({ ADMIN_TOKEN: adminToken, METRICS_TOKEN: metricsToken });
  });
  after(() => running.stop());

  async function clientCount(): Promise<number> {
    const response = await fetch(`${running.issuer}/admin/api/clients?limit=500`, { headers: { authorization: `Bearer ${adminToken}` } });
    return ((await response.json()) as { total: number }).total;
  }

  async function signingKeyIds(): Promise<string[]> {
    const response = await fetch(`${running.issuer}/admin/api/signing-keys`, { headers: { authorization: `Bearer ${adminToken}` } });
    return ((await response.json()) as { items: Array<{ kid: string }> }).items.map((key) => key.kid);
  }

  it('builds the spellings it tries', () => {
    const variants = pathVariants('/admin/api/clients');
    expect(variants).to.include.members(['/ADMIN/api/clients', '/Admin/Api/Clients', '/admin/API/clients', '//admin/api/clients', '/admin/api/clients/', '/admin/%2e/api/clients', '/%61dmin/api/clients', '/admin//api/clients']);
    expect(variants).to.not.include('/admin/api/clients');
  });

  it('never answers an admin API route without the token, however its path is spelled', async () => {
    const before = await clientCount();
    const keysBefore = await signingKeyIds();
    const attempts: Array<[string, string, string?]> = [
      ['GET', '/admin/api/clients'],
      ['GET', '/admin/api/profiles'],
      ['GET', '/admin/api/audit-events'],
      ['GET', '/admin/api/outbox'],
      ['GET', '/admin/api/signing-keys'],
      ['POST', '/admin/api/clients', JSON.stringify({ id: 'intruder', portal: 'both', redirectUris: ['https://intruder.example/cb'] })],
      ['POST', '/admin/api/signing-keys/rotate', '{}'],
      ['POST', '/admin/api/cookie-keys/rotate', '{}'],
    ];
    let tried = 0;
    for (const [method, path, body] of attempts) {
      const exact = await rawRequest(running.issuer, method, path, body);
      expect(exact.status, `${method} ${path}`).to.equal(401);
      for (const variant of pathVariants(path)) {
        const answer = await rawRequest(running.issuer, method, variant, body);
        tried += 1;
        expect(answer.status, `${method} ${variant}: ${answer.body.slice(0, 120)}`).to.be.oneOf([400, 401, 404, 405]);
        expect(answer.body, `${method} ${variant}`).to.not.contain('mbs-account');
      }
    }
    expect(tried).to.be.greaterThan(200);
    expect(await clientCount()).to.equal(before);
    expect(await signingKeyIds()).to.deep.equal(keysBefore);
  });

  it('never serves the metrics without the metrics token, however the path is spelled', async () => {
    expect((await rawRequest(running.issuer, 'GET', '/metrics')).status).to.equal(401);
    for (const variant of pathVariants('/metrics')) {
      const answer = await rawRequest(running.issuer, 'GET', variant);
      expect(answer.status, variant).to.be.oneOf([400, 401, 404]);
      expect(answer.body, variant).to.not.contain('mbs_http_requests_total');
    }
  });

  it('never shows a console page or takes its forms without a console session, however the path is spelled', async () => {
    const paths: Array<[string, string]> = [
      ['GET', '/admin'],
      ['POST', '/admin/sign-out'],
    ];
    for (const [method, path] of paths) {
      for (const variant of [path, ...pathVariants(path)]) {
        const answer = await rawRequest(running.issuer, method, variant);
        // Pages send an anonymous visitor to sign in; forms refuse or end nothing.
        expect(answer.status, `${method} ${variant}`).to.be.oneOf([200, 302, 303, 400, 401, 403, 404, 405]);
        expect(answer.body, `${method} ${variant}`).to.not.match(/Console overview|console-nav/);
      }
    }
  });

  it('never shows the account page or takes its forms without a session, however the path is spelled', async () => {
    const paths: Array<[string, string]> = [
      ['GET', '/account'],
      ['POST', '/account/sign-out-everywhere'],
      ['POST', '/account/profiles/PS-1/unlink/confirm'],
    ];
    for (const [method, path] of paths) {
      for (const variant of [path, ...pathVariants(path)]) {
        const answer = await rawRequest(running.issuer, method, variant);
        // The page itself sends an anonymous visitor to sign in; forms refuse.
        expect(answer.status, `${method} ${variant}`).to.be.oneOf([302, 303, 400, 403, 404, 405]);
        expect(answer.body, `${method} ${variant}`).to.not.match(/sign-out-everywhere|unlink\/confirm/);
      }
    }
  });
});
