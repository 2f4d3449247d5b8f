// The console shell over HTTP with a real broker and its dev upstream:
// signing in through the broker as the console's own client, the role read
// on every request (none: refused), the strict Content-Security-Policy, the
// CSRF token on its forms, the idle timeout, and the admin JSON API still
// answering below /admin/api with its bearer token.
import { expect } from 'chai';
import { ManualClock } from '../../src/clock.ts';
import { hiddenField } from '../support/browser.ts';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { consoleSignIn, consoleUser, grantConsoleRole } from '../support/console.ts';
import { Person, registerPortal } from '../support/journey.ts';

describe('the admin console shell', function () {
  this.timeout(60_000);
  let running: RunningBroker;
  let clock: ManualClock;

  before(async () => {
    clock = new ManualClock(Date.now());
    running = await startBroker({ ADMIN_TOKEN: 'console-shell-admin-token', CONSOLE_IDLE_TIMEOUT: '600' }, { clock });
  });
  after(() => running.stop());

  it('signs an admin in through the broker and shows the layout with the navigation, under a strict CSP', async () => {
    const { page } = await consoleUser(running, 'console-admin', 'admin');
    expect(page.url).to.equal(`${running.issuer}/admin`);
    expect(page.body).to.contain('Console overview').and.to.contain('Signed in as admin').and.to.contain('aria-current="page"');
    const policy = page.headers.get('content-security-policy') ?? '';
    expect(policy).to.contain("default-src 'none'").and.to.contain("script-src 'self'").and.to.contain("frame-ancestors 'none'");
    expect(page.body).to.not.match(/<script(?![^>]*\bsrc=)/);
    expect(page.body).to.not.contain('style=');
    const audit = await running.broker.store.auditEvents.list({ type: 'sign_in', clientId: 'mbs-console' });
    expect(audit.items[0]).to.include({ outcome: 'success' });
  });

  it('sends a stranger to sign in, and refuses a signed-in person without a console role', async () => {
    const stranger = new Person('console-stranger');
    const first = await stranger.browser.get(`${running.issuer}/admin`);
    expect(first.status).to.equal(302);
    expect(first.headers.get('location')).to.equal('/admin/sign-in?return=%2Fadmin');
    const page = await consoleSignIn(running, stranger);
    expect(page.status).to.equal(403);
    expect(page.body).to.contain('Your account has no access to the console.');
  });

  it('reads the role on every request: a revoked admin is out at the next click', async () => {
    await grantConsoleRole(running, 'console-keeper', 'admin');
    const { person, accountId } = await consoleUser(running, 'console-revoked', 'support');
    await running.broker.administration({ surface: 'cli' }).access.revoke(accountId);
    const after = await person.browser.get(`${running.issuer}/admin`);
    expect(after.status).to.equal(403);
  });

  it('refuses a sign-out without the form’s CSRF token, and signs out with it', async () => {
    const { person, page } = await consoleUser(running, 'console-leaver', 'auditor');
    const forged = await person.browser.post(`${running.issuer}/admin/sign-out`, { csrf: 'forged' });
    expect(forged.status).to.equal(403);
    expect(forged.body).to.contain('This form has expired. Open the console page again.');
    expect((await person.browser.get(`${running.issuer}/admin`)).status, 'still signed in').to.equal(200);
    const signedOut = await person.browser.post(`${running.issuer}/admin/sign-out`, { csrf: hiddenField(page.body, 'csrf')! });
    expect(signedOut.status).to.equal(200);
    expect(signedOut.body).to.contain('Signed out of the console');
    expect((await person.browser.get(`${running.issuer}/admin`)).status).to.equal(302);
  });

  it('ends a session idle longer than CONSOLE_IDLE_TIMEOUT, and a form posted after it is refused', async () => {
    const { person, page } = await consoleUser(running, 'console-idle', 'admin');
    clock.advance(599_000);
    expect((await person.browser.get(`${running.issuer}/admin`)).status, 'each request renews the session').to.equal(200);
    clock.advance(601_000);
    const expired = await person.browser.get(`${running.issuer}/admin`);
    expect(expired.status).to.equal(302);
    expect(expired.headers.get('location')).to.match(/^\/admin\/sign-in/);
    const posted = await person.browser.post(`${running.issuer}/admin/sign-out`, { csrf: hiddenField(page.body, 'csrf')! });
    expect(posted.status, 'signing out of an ended session still answers').to.equal(200);
  });

  it('asks an admin whose account has no profile for the MBS email when they sign in to a portal', async () => {
    const { person } = await consoleUser(running, 'console-portal-visitor', 'support');
    const partnerSource = await registerPortal(running, 'partnersource');
    const signIn = await person.startSignIn(partnerSource);
    expect(signIn.location, 'no code for an account without a PartnerSource profile').to.equal(undefined);
    expect(signIn.page?.body).to.contain('Enter your MBS email address');
  });

  it('leaves the admin JSON API below /admin/api to its bearer tokens', async () => {
    const { person } = await consoleUser(running, 'console-api', 'admin');
    const withSession = await person.browser.request(`${running.issuer}/admin/api/clients`, { headers: { accept: 'application/json' } });
    expect(withSession.status, 'a console session is no API token').to.equal(401);
    const withToken = await fetch(`${running.issuer}/admin/api/clients`, { headers: { authorization: 'Bearer console-shell-admin-token' } });
    expect(withToken.status).to.equal(200);
  });
});
