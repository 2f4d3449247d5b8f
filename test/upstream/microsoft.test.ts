// Both Microsoft presets through the broker, against Microsoft imitated under
// its real host name (test/support/microsoftImitation.ts): https with a test
// CA, discovery documents shaped like Microsoft's, so openid-client's own
// handling of login.microsoftonline.com runs (the consumers tenant's issuer;
// the `{tenantid}` template of organizations resolved from each token's tid).
// A personal account signs in; a work account of an allowed tenant signs in;
// one of a tenant not allowed, and one whose iss does not carry its tid, are
// refused with a clear page.
import { expect } from 'chai';
import { Browser, signInContinueLink, type Page } from '../support/browser.ts';
import { freePort, startBroker, type RunningBroker } from '../support/broker.ts';
import { buildProfile, createAccountWithIdentity } from '../support/factories.ts';
import { Person, registerPortal, type Portal } from '../support/journey.ts';
import { MicrosoftImitation, type ImitatedTenant } from '../support/microsoftImitation.ts';
import { devSubject } from '../../src/upstream/devUpstream.ts';
import { microsoftLoginOrigin, personalAccountsTenant } from '../../src/upstream/microsoftUpstream.ts';

const contoso: ImitatedTenant = { path: '72f988bf-86f1-41af-91ab-2d7cd011db47', tid: '72f988bf-86f1-41af-91ab-2d7cd011db47' };
const fabrikam: ImitatedTenant = { path: 'f8cdef31-a31e-4b4a-93e4-5f571e91255a', tid: 'f8cdef31-a31e-4b4a-93e4-5f571e91255a' };
/** Signs tokens as its own tenant's issuer but claims to be Contoso (an allowed tenant). */
const forger: ImitatedTenant = { path: '0d6c2a5e-3b1f-4c8e-9a7d-5e4f3a2b1c0d', tid: contoso.tid };
const client = { clientId: 'mbs-broker-app', clientSecret: 'app-registration-secret' };

describe('Microsoft presets against Microsoft imitated under its real host name', function () {
  this.timeout(60_000);
  let imitation: MicrosoftImitation;
  let running: RunningBroker;
  let portal: Portal;
  const logLines: string[] = [];

  before(async () => {
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    imitation = await MicrosoftImitation.start({ ...client, redirectUri: `${issuer}/upstream/callback` }, [contoso, fabrikam, forger]);
    const upstreams = [
      { id: 'microsoft', kind: 'microsoft', ...client },
      { id: 'work', kind: 'microsoft-work', ...client, tenants: [contoso.tid.toUpperCase()], domains: ['contoso.example'] },
      { id: 'common', kind: 'microsoft-work', name: 'Any Microsoft account', issuer: `${microsoftLoginOrigin}/common/v2.0`, ...client, tenants: [contoso.tid] },
    ];
    running = await startBroker({ UPSTREAMS: JSON.stringify(upstreams) }, { port, upstreamFetch: imitation.fetch, logLines });
    portal = await registerPortal(running, 'partnersource');
  });
  after(async () => {
    await running?.stop();
    await imitation?.stop();
  });

  /** A person whose browser reaches the imitation, with `accountName` at the Microsoft tenant `tenant` bound to a PartnerSource profile. */
  async function boundPerson(accountName: string, tenant: ImitatedTenant): Promise<Person> {
    const profile = buildProfile({ portal: 'partnersource' });
    const { store } = running.broker;
    await store.profiles.upsert(profile);
    const { account, identity } = await createAccountWithIdentity(store, { identity: { issuer: `${microsoftLoginOrigin}/${tenant.path}/v2.0`, subject: devSubject(accountName) } });
    await store.profileBindings.bind({ profileId: profile.id, accountId: account.id, identityId: identity.id, method: 'admin' });
    return new Person(accountName, new Browser({ fetch: imitation.fetch }));
  }

  /** The landing page's button for the upstream `id`. */
  function choice(page: Page, id: string): string {
    const href = new RegExp(`<a[^>]*data-upstream="${id}"[^>]*href="([^"]+)"`).exec(page.body)?.[1];
    expect(href, page.body).to.be.a('string');
    return new URL(href!.replace(/&amp;/g, '&'), page.url).href;
  }

  it('signs a personal Microsoft account in through /consumers/v2.0 (the tenant-specific issuer it announces)', async () => {
    const person = await boundPerson('jane', { path: personalAccountsTenant, tid: personalAccountsTenant });
    const started = await person.startSignIn(portal);
    expect(started.page?.body).to.contain('data-upstream="work"');
    const { location } = await person.follow(choice(started.page!, 'microsoft'));
    expect(location, 'back at the portal').to.not.equal(undefined);
    const tokens = await started.tokens(location!);
    expect(tokens.claims()?.sub).to.be.a('string');
    expect(imitation.authorizationRequests.at(-1)?.get('client_id')).to.equal(client.clientId);
    const identity = await running.broker.store.identities.findByIssuerAndSubject(`${microsoftLoginOrigin}/${personalAccountsTenant}/v2.0`, devSubject('jane'));
    expect(identity).to.include({ upstreamId: 'microsoft' });
  });

  it('signs a work account of an allowed tenant in through /organizations/v2.0, picked by the login_hint’s domain, with the hints passed on', async () => {
    imitation.homeTenant = contoso;
    const person = await boundPerson('john', contoso);
    const started = await person.startSignIn(portal, { login_hint: 'john@contoso.example', domain_hint: 'contoso.example' });
    // The hint's domain puts the work account first: the one-click button.
    expect(/<a[^>]*id="sign-in-continue"[^>]*/.exec(started.page!.body)?.[0]).to.contain('data-upstream="work"');
    const { location } = await person.follow(new URL(signInContinueLink(started.page!.body)!, started.page!.url).href);
    expect(location, 'back at the portal').to.not.equal(undefined);
    await started.tokens(location!);
    const asked = imitation.authorizationRequests.at(-1)!;
    expect([asked.get('login_hint'), asked.get('domain_hint')]).to.deep.equal(['john@contoso.example', 'contoso.example']);
    const identity = await running.broker.store.identities.findByIssuerAndSubject(`${microsoftLoginOrigin}/${contoso.tid}/v2.0`, devSubject('john'));
    expect(identity).to.include({ upstreamId: 'work' });
  });

  it('signs a work account of an allowed tenant in through /common/v2.0 too (the same {tenantid} template)', async () => {
    imitation.homeTenant = contoso;
    const person = await boundPerson('joan', contoso);
    const started = await person.startSignIn(portal);
    const { location } = await person.follow(choice(started.page!, 'common'));
    expect(location, 'back at the portal').to.not.equal(undefined);
    expect(await running.broker.store.identities.findByIssuerAndSubject(`${microsoftLoginOrigin}/${contoso.tid}/v2.0`, devSubject('joan'))).to.include({ upstreamId: 'common' });
  });

  it('refuses a work account of a tenant not on the allow-list with a clear page, and binds nothing', async () => {
    imitation.homeTenant = fabrikam;
    const person = new Person('mallory', new Browser({ fetch: imitation.fetch }));
    const started = await person.startSignIn(portal);
    const { page, location } = await person.follow(choice(started.page!, 'work'));
    expect(location).to.equal(undefined);
    expect(page?.status).to.equal(403);
    expect(page?.body).to.contain('Accounts of your organization cannot sign in here.').and.not.contain(fabrikam.tid);
    expect(await running.broker.store.identities.findByIssuerAndSubject(`${microsoftLoginOrigin}/${fabrikam.tid}/v2.0`, devSubject('mallory'))).to.equal(undefined);
  });

  it('refuses an ID token whose iss is not its own tid’s issuer, even with an allowed tid', async () => {
    imitation.homeTenant = forger;
    const person = new Person('eve', new Browser({ fetch: imitation.fetch }));
    const started = await person.startSignIn(portal);
    const { page, location } = await person.follow(choice(started.page!, 'work'));
    expect(location).to.equal(undefined);
    expect(page?.status).to.equal(502);
    expect(page?.body).to.contain('could not be verified');
    // Refused for its iss: openid-client expects the issuer of the token's own tid (the {tenantid} template).
    expect(logLines.some((line) => line.includes('unexpected JWT \\"iss\\" (issuer) claim value'))).to.equal(true);
    const audit = await running.broker.store.auditEvents.list({ type: 'sign_in' });
    expect(audit.items[0]).to.deep.include({ outcome: 'failure', details: { reason: 'upstream_error' } });
  });
});
