// The demo's first admin: with the demo running (development, dev upstream),
// the dev upstream's account `admin` holds the console's admin role from the
// first start, signs in to /admin at once, and a role an admin changed
// stays as they left it across restarts.
import { expect } from 'chai';
import { freePort, startBroker } from '../support/broker.ts';
import { consoleSignIn, devIdentity } from '../support/console.ts';
import { Person } from '../support/journey.ts';

describe('the demo admin', function () {
  this.timeout(60_000);

  it('lets the dev upstream’s `admin` sign in to the console right after the start, and keeps a changed role across restarts', async () => {
    const [partnerPort, customerPort] = [await freePort(), await freePort()];
    const running = await startBroker({ DEMO_PORTALS: 'true', PARTNERSOURCE_DEMO_PORT: String(partnerPort), CUSTOMERSOURCE_DEMO_PORT: String(customerPort) });
    try {
      const page = await consoleSignIn(running, new Person('admin'));
      expect(page.status, page.body).to.equal(200);
      expect(page.body).to.contain('Signed in as admin');

      const { issuer, subject } = devIdentity(running, 'admin');
      const identity = await running.broker.store.identities.findByIssuerAndSubject(issuer, subject);
      const access = running.broker.administration({ surface: 'cli' }).access;
      await access.grantIdentity({ issuer: 'https://login.example', subject: 'demo-admin-test-other' }, 'admin');
      await access.grant(identity!.accountId, 'auditor');
      await running.restart();
      expect(await running.broker.administration({ surface: 'cli' }).access.roleOf(identity!.accountId)).to.equal('auditor');
    } finally {
      await running.stop();
    }
  });
});
