// A full disk under a real broker on SQLite: `PRAGMA max_page_count` caps
// the file at its current size (deterministic, unlike filling a real
// filesystem, where SQLite's write-ahead log may still reuse space it holds)
// and filler rows take the free pages and the room left in the tokens'
// table. Writes then fail with a clear 503 and no false success, reads go on,
// and the broker writes again once space returns, without a restart.
import { expect } from 'chai';
import * as client from 'openid-client';
import type { Database } from '../../src/store/database.ts';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { runCliJson } from '../support/cli.ts';
import { buildProfile } from '../support/factories.ts';
import { Person, bindDevAccount, redirectUri, registerPortal, type Portal } from '../support/journey.ts';

/** Leaves no free page in the file and at most a few bytes in the last page of oidc_payloads. */
async function fillTheDisk(database: Database): Promise<void> {
  const [{ page_count: pages }] = (await database.raw('PRAGMA page_count')) as Array<{ page_count: number }>;
  await database.raw(`PRAGMA max_page_count = ${pages}`);
  let filler = 0;
  for (let size = 16_384; size >= 8; size = Math.floor(size / 2)) {
    for (;;) {
      filler += 1;
      const written = await database
        .raw("insert into oidc_payloads (type, id, payload) values ('DiskFiller', ?, ?)", [`filler-${filler}`, 'x'.repeat(size)])
        .then(
          () => true,
          () => false,
        );
      if (!written) break;
    }
  }
}

async function makeRoom(database: Database): Promise<void> {
  await database.raw('PRAGMA max_page_count = 1073741823');
}

const storedCount = async (database: Database, type: string): Promise<number> =>
  Number(((await database('oidc_payloads').where({ type }).count({ total: '*' })) as Array<{ total: number }>)[0]!.total);

const basicAuthorization = (service: { client_id: string; client_secret: string }): string => `Basic ${Buffer.from(`${service.client_id}:${service.client_secret}`).toString('base64')}`;

/** A client_credentials token request, answered as it was sent. */
async function requestServiceToken(issuer: string, service: { client_id: string; client_secret: string }): Promise<{ status: number; body: string; contentType: string; retryAfter: string | null }> {
  const response = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuthorization(service), accept: 'application/json' },
    body: new URLSearchParams({ grant_type: 'client_credentials' }),
  });
  return { status: response.status, body: await response.text(), contentType: response.headers.get('content-type') ?? '', retryAfter: response.headers.get('retry-after') };
}

function expectUnavailableJson(answer: { status: number; body: string; contentType: string; retryAfter: string | null }): void {
  expect(answer.status, answer.body).to.equal(503);
  // A client told when to try again (RFC 9110) need not guess.
  expect(answer.retryAfter).to.match(/^[1-9]\d*$/);
  expect(answer.contentType).to.match(/json/);
  expect(JSON.parse(answer.body)).to.deep.include({ error: 'temporarily_unavailable' });
  expect(answer.body).to.not.match(/\.ts\b|\bat [\w.]+ \(|SQLITE|sqlite/);
}

describe('a full disk under a broker on SQLite', function () {
  this.timeout(60_000);
  let running: RunningBroker;
  let database: Database;
  let portal: Portal;
  let service: { client_id: string; client_secret: string };
  let accessToken: string;
  const profile = buildProfile({ portal: 'partnersource' });

  before(async () => {
    running = await startBroker();
    database = running.broker.database;
    portal = await registerPortal(running, 'partnersource');
    service = await runCliJson(['clients', 'add', '--portal', 'both', '--redirect-uri', redirectUri, '--grant-type', 'client_credentials'], running.environment);
    await bindDevAccount(running, 'jane', [profile], running.broker.store);
    const signIn = await new Person('jane').startSignIn(portal);
    accessToken = (await signIn.tokens(signIn.location!)).access_token;
  });

  after(() => running.stop());

  afterEach(() => makeRoom(database));

  it('answers a token request it cannot store with a 503 in JSON, and stores no token it did not hand out', async () => {
    await fillTheDisk(database);
    const storedBefore = await storedCount(database, 'ClientCredentials');
    const answer = await requestServiceToken(running.issuer, service);
    expectUnavailableJson(answer);
    expect(await storedCount(database, 'ClientCredentials')).to.equal(storedBefore);
  });

  it('goes on serving reads while full: discovery, JWKS, userinfo with a token issued before', async () => {
    await fillTheDisk(database);
    const discovery = await fetch(`${running.issuer}/.well-known/openid-configuration`);
    expect(discovery.status).to.equal(200);
    const jwks = (await (await fetch(`${running.issuer}/jwks`)).json()) as { keys: unknown[] };
    expect(jwks.keys).to.not.be.empty;
    const userinfo = await client.fetchUserInfo(portal.configuration, accessToken, client.skipSubjectCheck);
    expect(userinfo.email).to.equal(profile.email);
  });

  it('hands out tokens again once space returns, without a restart, and each one it hands out is stored and works', async () => {
    await fillTheDisk(database);
    expectUnavailableJson(await requestServiceToken(running.issuer, service));
    await makeRoom(database);
    const storedBefore = await storedCount(database, 'ClientCredentials');
    const answer = await requestServiceToken(running.issuer, service);
    expect(answer.status, answer.body).to.equal(200);
    expect(await storedCount(database, 'ClientCredentials')).to.equal(storedBefore + 1);
    const introspection = await fetch(`${running.issuer}/token/introspection`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuthorization(service) },
      body: new URLSearchParams({ token: (JSON.parse(answer.body) as { access_token: string }).access_token }),
    });
    expect(await introspection.json()).to.deep.include({ active: true });
  });
});
