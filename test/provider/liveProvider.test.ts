// Two broker instances on one database: keys rotated through one reach the
// other without a restart, published within one KEY_REFRESH_INTERVAL and
// signing after two, while tokens and cookies made with the old keys keep
// working on both.
import { expect } from 'chai';
import { compactVerify, createRemoteJWKSet, decodeProtectedHeader } from 'jose';
import * as client from 'openid-client';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { buildProfile } from '../support/factories.ts';
import { bindDevAccount, Person, reachedPortal, registerPortal, type Portal } from '../support/journey.ts';
import { within } from '../support/within.ts';

const adminToken = 'admin-token-for-key-tests';
const refreshInterval = 1;

const jwksKids = async (issuer: string): Promise<string[]> => ((await (await fetch(`${issuer}/jwks`)).json()) as { keys: Array<{ kid: string }> }).keys.map((key) => key.kid);

describe('keys on several instances', function () {
  this.timeout(60_000);
  let first: RunningBroker;
  let second: RunningBroker;
  let portal: Portal;

  before(async () => {
    const environment = { ADMIN_TOKEN: adminToken, KEY_REFRESH_INTERVAL: String(refreshInterval) };
    first = await startBroker(environment);
    second = await startBroker({ ...environment, DATABASE_URL: first.environment.DATABASE_URL });
    portal = await registerPortal(second, 'partnersource');
  });
  after(async () => {
    await second.broker.close();
    await first.stop();
  });

  const rotateThroughFirst = async (what: 'signing-keys' | 'cookie-keys') => {
    const response = await fetch(`${first.issuer}/admin/api/${what}/rotate`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}` } });
    expect(response.status).to.be.oneOf([200, 204]);
    return response.status === 200 ? ((await response.json()) as { items: Array<{ kid: string; alg: string; status: string }> }).items : [];
  };

  async function boundPerson(accountName: string): Promise<Person> {
    await bindDevAccount(second, accountName, [buildProfile({ portal: 'partnersource' })], second.broker.store);
    return new Person(accountName);
  }

  it('publishes signing keys rotated through the other instance within one interval and signs with them after two; old tokens keep verifying', async () => {
    const person = await boundPerson('key-rotation-watcher');
    const signIn = await person.startSignIn(portal, { scope: 'openid email mbs_profiles offline_access', prompt: 'consent' });
    expect(signIn.location, signIn.page?.body).to.not.equal(undefined);
    const tokens = await signIn.tokens(signIn.location!);
    const oldKid = decodeProtectedHeader(tokens.id_token!).kid!;

    const rotated = await rotateThroughFirst('signing-keys');
    const newRsaKid = rotated.find((key) => key.alg === 'RS256' && key.status === 'active')!.kid;
    expect(newRsaKid).to.not.equal(oldKid);
    expect(await jwksKids(first.issuer), 'published at once where it was rotated').to.include(newRsaKid);

    await within(3 * refreshInterval, async () => ((await jwksKids(second.issuer)).includes(newRsaKid) ? true : undefined));
    // Published everywhere, but not signing yet: no instance could verify it a moment ago.
    const meanwhile = await client.refreshTokenGrant(portal.configuration, tokens.refresh_token!);
    expect(decodeProtectedHeader(meanwhile.id_token!).kid).to.equal(oldKid);

    let refreshToken = meanwhile.refresh_token ?? tokens.refresh_token!;
    const signedWithNewKey = await within(4 * refreshInterval, async () => {
      const refreshed = await client.refreshTokenGrant(portal.configuration, refreshToken);
      refreshToken = refreshed.refresh_token ?? refreshToken;
      return decodeProtectedHeader(refreshed.id_token!).kid === newRsaKid ? refreshed : undefined;
    });
    await compactVerify(signedWithNewKey.id_token!, createRemoteJWKSet(new URL(`${first.issuer}/jwks`)));
    await compactVerify(tokens.id_token!, createRemoteJWKSet(new URL(`${second.issuer}/jwks`)));
  });

  it('keeps sessions across a cookie key rotated through the other instance, and signs in afresh under the new key once active', async () => {
    const person = await boundPerson('cookie-rotation-watcher');
    const signIn = await person.startSignIn(portal);
    expect(signIn.location, signIn.page?.body).to.not.equal(undefined);
    const cookieKeysOfSecond = () => second.broker.cookieKeys;
    const keysBefore = [...cookieKeysOfSecond()];

    await rotateThroughFirst('cookie-keys');
    await within(3 * refreshInterval, async () => (cookieKeysOfSecond().length > keysBefore.length ? true : undefined));
    await within(4 * refreshInterval, async () => (cookieKeysOfSecond()[0] !== keysBefore[0] ? true : undefined));

    // The session cookie was signed with the old key: single sign-on still works without the upstream.
    const again = await person.browser.follow(
      client.buildAuthorizationUrl(portal.configuration, { redirect_uri: signIn.location!.href.split('?')[0]!, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256', state: client.randomState() }).href,
      reachedPortal,
    );
    expect(again.location, again.page?.body.slice(0, 300)).to.not.equal(undefined);

    // A new browser's cookies are signed with the new key from now on, and read back.
    const newcomer = await boundPerson('cookie-rotation-newcomer');
    const fresh = await newcomer.startSignIn(portal);
    expect(fresh.location, fresh.page?.body).to.not.equal(undefined);
  });
});
