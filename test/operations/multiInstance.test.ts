// Two broker processes on one PostgreSQL database behind nginx (round robin,
// no stickiness, TLS ended at nginx, config/nginx.example.conf): the
// first-login journey and a returning sign-in work with consecutive requests
// landing on different instances, each email goes out exactly once, a key
// rotated through one instance reaches the other, and when one instance is
// killed mid-journey the journey completes through the other.
import { expect } from 'chai';
import { decodeProtectedHeader } from 'jose';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as client from 'openid-client';
import { freePort } from '../support/broker.ts';
import { runCliJson } from '../support/cli.ts';
import { BrokerProcess, nginxBinary, prepareNginx, startNginx, type NginxSetup, type RunningNginx } from '../support/cluster.ts';
import { createPostgresDatabase } from '../support/databases.ts';
import { buildProfile, profileCsv } from '../support/factories.ts';
import { isLinkMail, linkOf, mailFor, Person, registerPortal, type Portal } from '../support/journey.ts';
import { TestSmtpServer } from '../support/smtp.ts';
import { within } from '../support/within.ts';

const adminToken = 'admin-token-for-the-cluster';
const keyRefreshInterval = 1;
const claimTimeout = 3;

const pause = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

describe('several instances behind nginx', function () {
  this.timeout(120_000);
  const serverUrl = process.env.TEST_POSTGRES_URL;
  let database: { url: string; drop(): Promise<void> } | undefined;
  let smtp: TestSmtpServer;
  let setup: NginxSetup | undefined;
  let nginx: RunningNginx | undefined;
  let instances: BrokerProcess[] = [];
  let environment: Record<string, string>;
  let partnerSource: Portal;
  const email = 'pat.cluster@fabrikam.example';
  const profiles = [
    buildProfile({ portal: 'partnersource', email, organization: 'Fabrikam Partners' }),
    buildProfile({ portal: 'partnersource', email, organization: 'Fabrikam Services' }),
  ];
  const survivorEmail = 'sam.survivor@fabrikam.example';
  const survivorProfile = buildProfile({ portal: 'partnersource', email: survivorEmail, organization: 'Fabrikam Survivors' });

  before(async function () {
    if (!serverUrl || !nginxBinary) {
      // CI has both (.ci/run installs nginx): there, a missing part is a failure, not a skip.
      if (process.env.CI) throw new Error('the multi-instance test needs TEST_POSTGRES_URL and nginx');
      this.skip();
    }
    database = await createPostgresDatabase(serverUrl);
    smtp = new TestSmtpServer(await freePort());
    await smtp.start();
    setup = await prepareNginx();
    const issuer = `https://127.0.0.1:${setup.port}`;
    environment = {
      NODE_ENV: 'test',
      ISSUER: issuer,
      TRUST_PROXY: 'true',
      DATABASE_URL: database.url,
      DATABASE_POOL_MAX: '5',
      SMTP_URL: smtp.url,
      OUTBOX_INTERVAL: '50',
      OUTBOX_CLAIM_TIMEOUT: String(claimTimeout),
      KEY_REFRESH_INTERVAL: String(keyRefreshInterval),
      ADMIN_TOKEN: adminToken,
      LOG_LEVEL: 'warn',
      // The brokers reach their dev upstream through nginx, like everything else.
      NODE_EXTRA_CA_CERTS: setup.certificate,
    };
    instances = [new BrokerProcess(await freePort(), environment), new BrokerProcess(await freePort(), environment)];
    // Both at once on an empty database: the migrations take turns (knex's lock).
    await Promise.all(instances.map((instance) => instance.start()));
    nginx = await startNginx(setup, instances);
    // Both instances serve the same keys (one created them, under the startup lock).
    await within(3 * keyRefreshInterval, async () => {
      const [first, second] = await Promise.all(instances.map(async (instance) => JSON.stringify(await (await fetch(`http://${instance.address}/jwks`)).json())));
      return first === second ? true : undefined;
    });
    await pause(2 * keyRefreshInterval * 1000);

    const file = join(mkdtempSync(join(tmpdir(), 'mbs-profiles-')), 'profiles.csv');
    writeFileSync(file, profileCsv([...profiles, survivorProfile]));
    await runCliJson(['profiles', 'import', file], environment);
    partnerSource = await registerPortal({ issuer, environment }, 'partnersource');
  });

  after(async () => {
    await nginx?.stop();
    if (!nginx) setup?.untrust();
    await Promise.all(instances.map((instance) => instance.stop()));
    await smtp?.stop();
    await database?.drop();
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') for (const instance of instances) console.log(`--- ${instance.address}\n${instance.output.slice(-4000)}`);
  });

  const upstreamsSince = (from: number) => nginx!.upstreamLog().slice(from);

  it('runs the first-login journey and a returning sign-in with requests alternating between instances, each email sent once', async () => {
    const logStart = nginx!.upstreamLog().length;
    const pat = new Person('pat-cluster');
    const signIn = await pat.startSignIn(partnerSource, { scope: 'openid email mbs_profiles offline_access', prompt: 'consent' });
    expect(signIn.page?.body).to.contain('Enter your MBS email address');
    const sent = await pat.submitEmail(signIn.page!, email);
    expect(sent.status).to.equal(303);

    const mails = await mailFor(smtp, 2);
    expect(mails).to.have.length(2);
    const partnersMail = mails.find((mail) => mail.text.includes('Fabrikam Partners'))!;
    const resumed = await pat.confirmLink(linkOf(partnersMail));
    expect(resumed.location, resumed.page?.body).to.not.equal(undefined);
    const tokens = await signIn.tokens(resumed.location!);
    const userinfo = await client.fetchUserInfo(partnerSource.configuration, tokens.access_token, client.skipSubjectCheck);
    expect((userinfo.mbs_profiles as Array<{ organization: string }>).map((profile) => profile.organization)).to.deep.equal(['Fabrikam Partners']);

    // Another day, another browser: the upstream sign-in, then straight to the portal.
    const returning = new Person('pat-cluster');
    const again = await returning.startSignIn(partnerSource);
    expect(again.location, again.page?.body).to.not.equal(undefined);
    const moreTokens = await again.tokens(again.location!);
    expect(moreTokens.access_token).to.be.a('string');

    // nginx's log says which instance answered each request.
    const served = upstreamsSince(logStart);
    expect(served.length).to.be.greaterThan(20);
    const addresses = new Set(served.map((entry) => entry.upstream));
    expect([...addresses].sort()).to.deep.equal(instances.map((instance) => instance.address).sort());
    const switches = served.slice(1).filter((entry, index) => entry.upstream !== served[index]!.upstream).length;
    expect(switches / (served.length - 1), 'share of consecutive requests on different instances').to.be.greaterThan(0.8);
    expect(served.filter((entry) => entry.status >= 500)).to.deep.equal([]);
    // Paths only: the query strings (authorization requests, logout's id_token_hint) stay out of the log.
    expect(served.filter((entry) => entry.request.includes('?'))).to.deep.equal([]);
    // The link was confirmed through nginx, and its token stayed out of the log.
    expect(served.filter((entry) => entry.request.includes('/link/:token'))).to.not.deep.equal([]);
    expect(served.filter((entry) => entry.request.includes(linkOf(partnersMail).split('/link/')[1]!))).to.deep.equal([]);

    // Both outbox workers ran all along: still exactly one email per profile.
    await pause(500);
    expect(smtp.received.filter((mail) => mail.to === email && isLinkMail(mail))).to.have.length(2);
    expect(new Set(smtp.received.filter(isLinkMail).map(linkOf)).size).to.equal(smtp.received.filter(isLinkMail).length);

    // A key rotated through the first instance: the second publishes it within one interval, every instance signs with it after two.
    const rotation = await fetch(`http://${instances[0]!.address}/admin/api/signing-keys/rotate`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}` } });
    expect(rotation.status).to.equal(200);
    const newKid = ((await rotation.json()) as { items: Array<{ kid: string; alg: string; status: string }> }).items.find((key) => key.alg === 'RS256' && key.status === 'active')!.kid;
    await within(3 * keyRefreshInterval, async () => {
      const jwks = (await (await fetch(`http://${instances[1]!.address}/jwks`)).json()) as { keys: Array<{ kid: string }> };
      return jwks.keys.some((key) => key.kid === newKid) ? true : undefined;
    });
    let refreshToken = tokens.refresh_token!;
    const signed = await within(4 * keyRefreshInterval, async () => {
      // Through nginx: two refreshes in a row land on both instances.
      const kids: string[] = [];
      for (let turn = 0; turn < 2; turn += 1) {
        const refreshed = await client.refreshTokenGrant(partnerSource.configuration, refreshToken);
        refreshToken = refreshed.refresh_token ?? refreshToken;
        kids.push(decodeProtectedHeader(refreshed.id_token!).kid!);
      }
      return kids.every((kid) => kid === newKid) ? kids : undefined;
    });
    expect(signed).to.deep.equal([newKid, newKid]);
  });

  it('completes a journey through the surviving instance when the other is killed in the middle, with no email lost or duplicated', async () => {
    const sam = new Person('sam-survivor');
    const signIn = await sam.startSignIn(partnerSource);
    expect(signIn.page?.body).to.contain('Enter your MBS email address');
    const sent = await sam.submitEmail(signIn.page!, survivorEmail);
    expect(sent.status).to.equal(303);
    // The email is queued; either instance may hold it right now. One dies.
    const [victim, survivor] = instances;
    await victim!.kill();

    // An email the dead instance had taken goes out through the survivor once its claim lapses.
    const [mail] = await mailFor(smtp, 1, (received) => received.to === survivorEmail && isLinkMail(received));
    expect(mail, 'the link email arrives').to.not.equal(undefined);
    const resumed = await sam.confirmLink(linkOf(mail!));
    expect(resumed.location, resumed.page?.body).to.not.equal(undefined);
    const tokens = await signIn.tokens(resumed.location!);
    const userinfo = await client.fetchUserInfo(partnerSource.configuration, tokens.access_token, client.skipSubjectCheck);
    expect((userinfo.mbs_profiles as Array<{ organization: string }>).map((profile) => profile.organization)).to.deep.equal(['Fabrikam Survivors']);

    // Past the claim timeout: nothing more was sent, nothing is left unsent.
    await pause((claimTimeout + 1) * 1000);
    expect(smtp.received.filter((received) => received.to === survivorEmail)).to.have.length(1);
    const outbox = (await (await fetch(`http://${survivor!.address}/admin/api/outbox?pending=true`, { headers: { authorization: `Bearer ${adminToken}` } })).json()) as { total: number };
    expect(outbox.total).to.equal(0);
    expect(survivor!.running).to.equal(true);
  });
});
