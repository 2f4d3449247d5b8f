// The logs of a whole first-login journey: one JSON line per request with a
// request id (the caller's when it sends one), the route and the
// interaction; oidc-provider's errors as lines of their own; and not one of
// the secrets the journey handled — client secret, link tokens, codes,
// tokens, cookies, Authorization headers.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import * as client from 'openid-client';
import { freePort, startBroker, type RunningBroker } from './support/broker.ts';
import { runCliJson } from './support/cli.ts';
import { buildProfile, profileCsv } from './support/factories.ts';
import { linkOf, mailFor, Person, registerPortal } from './support/journey.ts';
import { TestSmtpServer } from './support/smtp.ts';

describe('logs', function () {
  this.timeout(60_000);
  const lines: string[] = [];
  let running: RunningBroker;
  let smtp: TestSmtpServer;

  before(async () => {
    smtp = new TestSmtpServer(await freePort());
    await smtp.start();
    running = await startBroker({ SMTP_URL: smtp.url, OUTBOX_INTERVAL: '25' }, { logLines: lines });
  });
  after(async () => {
    await running.stop();
    await smtp.stop();
  });

  it('hold none of the secrets a full journey handled, and say which request wrote each line', async () => {
    const email = 'logged.person@contoso.example';
    const file = join(mkdtempSync(join(tmpdir(), 'mbs-profiles-')), 'profiles.csv');
    writeFileSync(file, profileCsv([buildProfile({ email, portal: 'partnersource' }), buildProfile({ email, portal: 'customersource' })]));
    await runCliJson(['profiles', 'import', file], running.environment);
    const portal = await registerPortal(running, 'partnersource');

    const person = new Person('logged-person');
    const signIn = await person.startSignIn(portal);
    await person.submitEmail(signIn.page!, email);
    const mails = await mailFor(smtp, 2);
    const resumed = await person.confirmLink(linkOf(mails[0]!));
    const code = resumed.location!.searchParams.get('code')!;
    const tokens = await signIn.tokens(resumed.location!);
    await client.fetchUserInfo(portal.configuration, tokens.access_token, client.skipSubjectCheck);
    // A replayed code and a call with a stolen-looking bearer token, both refused.
    const replay = await fetch(`${running.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${portal.clientId}:${portal.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded', 'x-request-id': 'replay-attempt-1' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: 'http://127.0.0.1:9/callback', code_verifier: 'x'.repeat(43) }),
    });
    expect(replay.status).to.equal(400);
    expect(replay.headers.get('x-request-id')).to.equal('replay-attempt-1');
    await fetch(`${running.issuer}/me?access_token=${tokens.access_token}`, { headers: { authorization: `Bearer ${tokens.access_token}` } });

    const secrets = [
      portal.clientSecret,
      ...mails.map((mail) => linkOf(mail).split('/link/')[1]!),
      code,
      tokens.access_token,
      tokens.id_token!,
      // Interaction cookies hold the interaction uid, an identifier the logs name on purpose (it is in every interaction URL).
      ...person.browser
        .cookies()
        .filter((cookie) => !/interaction|resume/.test(cookie.name) || cookie.name.endsWith('.sig'))
        .map((cookie) => cookie.value)
        .filter((value) => value.length >= 16),
    ];
    expect(secrets.length).to.be.greaterThan(6);
    const log = lines.join('');
    for (const secret of secrets) expect(log.includes(secret), `a secret (${secret.slice(0, 6)}…) is in the logs`).to.equal(false);

    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const requests = entries.filter((entry) => entry.msg === 'request');
    expect(requests.length).to.be.greaterThan(10);
    for (const request of requests) expect(request).to.include.keys('requestId', 'route', 'status', 'durationMs');
    expect(requests.some((request) => request.route === '/link/:token')).to.equal(true);
    expect(requests.some((request) => typeof request.interaction === 'string')).to.equal(true);
    expect(requests.some((request) => request.clientId === portal.clientId)).to.equal(true);
    // Lines written inside a request carry its id, like the flow's own.
    const flowLine = entries.find((entry) => entry.msg === 'association links requested');
    expect(flowLine?.requestId).to.be.a('string');
    expect(entries.some((entry) => entry.event === 'grant.error' && entry.requestId === 'replay-attempt-1')).to.equal(true);
  });
});
