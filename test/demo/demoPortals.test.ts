// What `npm start` sets up for a newcomer: the demo profiles on first start
// (and only then), and the two demo portals registered as first-party
// clients of their own ports, each reachable and signed out at first.
import { expect } from 'chai';
import { freePort, startBroker } from '../support/broker.ts';
import { demoClientId } from '../../src/demo/demoPortals.ts';
import { demoPortalsEnabled, loadConfig } from '../../src/config/config.ts';

describe('the demo portals', function () {
  this.timeout(30_000);

  it('seed the demo profiles on first start only, and register both portals as first-party clients', async () => {
    const [partnerPort, customerPort] = [await freePort(), await freePort()];
    const running = await startBroker({ DEMO_PORTALS: 'true', PARTNERSOURCE_DEMO_PORT: String(partnerPort), CUSTOMERSOURCE_DEMO_PORT: String(customerPort) });
    try {
      const seeded = await running.broker.store.profiles.list({ limit: 100 });
      expect(seeded.items.map((profile) => profile.id)).to.have.members(['PS-1001', 'PS-1002', 'CS-2001', 'CS-2002']);
      for (const [portal, port] of [['partnersource', partnerPort], ['customersource', customerPort]] as const) {
        const client = await running.broker.store.clients.find(demoClientId(portal));
        expect(client?.portal).to.equal(portal);
        expect(client?.firstParty).to.equal(true);
        expect(client?.metadata.redirect_uris).to.deep.equal([`http://127.0.0.1:${port}/callback`]);
        expect(client?.secretHash).to.match(/^sha256:/);
        const home = await fetch(`http://127.0.0.1:${port}/`);
        expect(home.status).to.equal(200);
        expect(await home.text()).to.contain('id="portal-sign-in"');
      }
      const firstSecret = (await running.broker.store.clients.find(demoClientId('partnersource')))?.secretHash;
      await running.broker.store.profiles.remove('CS-2002');
      await running.restart();
      expect((await running.broker.store.profiles.list({ limit: 100 })).total, 'not seeded again').to.equal(3);
      expect((await running.broker.store.clients.find(demoClientId('partnersource')))?.secretHash, 'a fresh secret per start').to.not.equal(firstSecret);
    } finally {
      await running.stop();
    }
  });

  it('run by default only in development with the dev upstream, and never in production', () => {
    expect(demoPortalsEnabled(loadConfig({ NODE_ENV: 'development' }))).to.equal(true);
    expect(demoPortalsEnabled(loadConfig({ NODE_ENV: 'test' }))).to.equal(false);
    expect(demoPortalsEnabled(loadConfig({ NODE_ENV: 'development', DEMO_PORTALS: 'false' }))).to.equal(false);
    expect(() => loadConfig({ NODE_ENV: 'production', DEMO_PORTALS: 'true', ISSUER: 'https://login.example.com' })).to.throw(/DEMO_PORTALS is for development only/);
  });
});
