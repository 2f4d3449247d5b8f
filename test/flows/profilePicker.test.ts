// The profile picker on real parts (a broker with its dev upstream, portals
// registered through the CLI, openid-client for the tokens): an account with
// several profiles of the asking portal picks the one this sign-in acts as;
// the choice is remembered per portal, carried in mbs_profile (and its string
// companions) in the ID token, userinfo and refreshes, asked again with
// prompt=select_account, never asked of an `all` portal, and ended by
// unbinding. Chromium fills in the picker by keyboard and axe checks it in
// English, German and French.
import { expect } from 'chai';
import * as openid from 'openid-client';
import type { Browser as Chromium } from 'playwright-core';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { launchChromium, skipWithoutChromium, ScreenshotAlbum, seriousAccessibilityViolations } from '../support/chromium.ts';
import { runCliJson } from '../support/cli.ts';
import { buildProfile, uniqueName } from '../support/factories.ts';
import { bindDevAccount, Person, redirectUri, registerPortal, type Portal } from '../support/journey.ts';
import type { Page } from '../support/browser.ts';
import type { ProfileInput } from '../../src/domain/records.ts';
import { ClientAdministration } from '../../src/admin/clientAdministration.ts';
import { formAction, hiddenField } from '../support/browser.ts';

const isPicker = (page: Page | undefined): boolean => page?.status === 200 && page.body.includes('id="profile-continue"');
/** The profile ids the picker offers, in its order. */
const offered = (page: Page): string[] => [...page.body.matchAll(/name="profile"[^>]*value="([^"]+)"/g)].map((match) => match[1]!);
const checked = (page: Page): string | undefined => /name="profile"[^>]*value="([^"]+)"[^>]*checked/.exec(page.body)?.[1];

interface Holder {
  name: string;
  partner: ProfileInput[];
  customer: ProfileInput[];
}

describe('the profile picker', function () {
  this.timeout(90_000);
  let running: RunningBroker;
  let partnerSource: Portal;
  let customerSource: Portal;
  let partnerSourceAll: Portal;

  before(async () => {
    running = await startBroker();
    partnerSource = await registerPortal(running, 'partnersource');
    customerSource = await registerPortal(running, 'customersource');
    partnerSourceAll = await registerPortal(running, 'partnersource', { profileSelection: 'all' });
  });
  after(() => running?.stop());

  /** A dev-upstream account holding `partner` PartnerSource and `customer` CustomerSource profiles. */
  async function holder(partner: number, customer = 0): Promise<Holder> {
    const name = uniqueName('picker');
    const profiles = {
      name,
      partner: Array.from({ length: partner }, (_, index) => buildProfile({ id: `${name}-PS-${index + 1}`, portal: 'partnersource', organization: `Partner Org ${index + 1}`, roles: [`role-${index + 1}`, 'billing'] })),
      customer: Array.from({ length: customer }, (_, index) => buildProfile({ id: `${name}-CS-${index + 1}`, portal: 'customersource', organization: `Customer Org ${index + 1}`, roles: ['customer-admin'] })),
    };
    await bindDevAccount(running, name, [...profiles.partner, ...profiles.customer], running.broker.store);
    return profiles;
  }

  /** Signs in at `portal` and picks `profileId` when the picker asks; the tokens of the sign-in. */
  async function signInPicking(person: Person, portal: Portal, profileId: string | undefined, extra: Record<string, string> = {}) {
    const signIn = await person.startSignIn(portal, extra);
    if (profileId === undefined) {
      expect(isPicker(signIn.page), 'no picker expected').to.equal(false);
      expect(signIn.location, signIn.page?.body).to.not.equal(undefined);
      return signIn.tokens(signIn.location!);
    }
    expect(isPicker(signIn.page), signIn.page?.body).to.equal(true);
    const picked = await person.pickProfile(signIn.page!, profileId);
    expect(picked.location, picked.page?.body).to.not.equal(undefined);
    return signIn.tokens(picked.location!);
  }

  const userinfoOf = (portal: Portal, accessToken: string) => openid.fetchUserInfo(portal.configuration, accessToken, openid.skipSubjectCheck);

  it('asks an account with two profiles of the portal which one, listing organization, name and roles', async () => {
    const jane = await holder(2);
    const signIn = await new Person(jane.name).startSignIn(partnerSource);
    expect(isPicker(signIn.page), signIn.page?.body).to.equal(true);
    expect(offered(signIn.page!)).to.deep.equal(jane.partner.map((profile) => profile.id));
    for (const profile of jane.partner) expect(signIn.page!.body).to.contain(profile.organization).and.to.contain(profile.displayName).and.to.contain(profile.roles.join(', '));
    expect(signIn.page!.body).to.contain('class="portal-name"').and.to.contain('PartnerSource');
  });

  it('does not ask an account with one profile of the portal, and carries that profile as mbs_profile', async () => {
    const john = await holder(1);
    const tokens = await signInPicking(new Person(john.name), partnerSource, undefined);
    expect(tokens.claims()!.mbs_profile_id).to.equal(john.partner[0]!.id);
  });

  it('puts the picked profile in the ID token and userinfo, beside the list, as an object and as strings; audits the choice', async () => {
    const jane = await holder(2);
    const [first, second] = jane.partner as [ProfileInput, ProfileInput];
    const tokens = await signInPicking(new Person(jane.name), partnerSource, second.id);
    const expected = { id: second.id, portal: 'partnersource', organization: second.organization, display_name: second.displayName, roles: second.roles };
    for (const claims of [tokens.claims()!, await userinfoOf(partnerSource, tokens.access_token)]) {
      expect(claims.mbs_profile).to.deep.equal(expected);
      expect(claims.mbs_profile_id).to.equal(second.id);
      expect(claims.mbs_profile_roles).to.deep.equal(second.roles);
      expect(claims.mbs_profile_ids).to.deep.equal([first.id, second.id]);
    }
    const audit = await running.broker.store.auditEvents.list({ type: 'profile.chosen', profileId: second.id });
    expect(audit.items).to.have.length(1);
    expect(audit.items[0]).to.include({ outcome: 'success', clientId: partnerSource.clientId });
  });

  it('remembers the choice for the portal: the next sign-in does not ask; another portal has its own', async () => {
    const jane = await holder(2, 2);
    await signInPicking(new Person(jane.name), partnerSource, jane.partner[1]!.id);
    // A new browser: a new broker session, the same account.
    const again = await signInPicking(new Person(jane.name), partnerSource, undefined);
    expect(again.claims()!.mbs_profile_id).to.equal(jane.partner[1]!.id);
    // CustomerSource asks for itself; its pick leaves PartnerSource's as it was.
    const customer = await signInPicking(new Person(jane.name), customerSource, jane.customer[0]!.id);
    expect(customer.claims()!.mbs_profile_id).to.equal(jane.customer[0]!.id);
    expect((await signInPicking(new Person(jane.name), partnerSource, undefined)).claims()!.mbs_profile_id).to.equal(jane.partner[1]!.id);
  });

  it('keeps the picked profile through a refresh', async () => {
    const jane = await holder(2);
    const tokens = await signInPicking(new Person(jane.name), partnerSource, jane.partner[0]!.id, { scope: 'openid email mbs_profiles offline_access', prompt: 'consent' });
    expect(tokens.refresh_token).to.be.a('string');
    const refreshed = await openid.refreshTokenGrant(partnerSource.configuration, tokens.refresh_token!);
    expect(refreshed.claims()!.mbs_profile_id).to.equal(jane.partner[0]!.id);
    expect((await userinfoOf(partnerSource, refreshed.access_token)).mbs_profile_id).to.equal(jane.partner[0]!.id);
  });

  it('asks again with prompt=select_account (the switch link), with the choice in force preselected, and switches', async () => {
    const jane = await holder(2);
    const person = new Person(jane.name);
    await signInPicking(person, partnerSource, jane.partner[0]!.id);
    // Signed in at the broker already: with one upstream, no round trip upstream, straight to the picker.
    const switching = await person.startSignIn(partnerSource, { prompt: 'select_account' });
    expect(isPicker(switching.page), switching.page?.body).to.equal(true);
    expect(checked(switching.page!)).to.equal(jane.partner[0]!.id);
    const picked = await person.pickProfile(switching.page!, jane.partner[1]!.id);
    const tokens = await switching.tokens(picked.location!);
    expect(tokens.claims()!.mbs_profile_id).to.equal(jane.partner[1]!.id);
    // The switch is the portal's choice from now on.
    expect((await signInPicking(new Person(jane.name), partnerSource, undefined)).claims()!.mbs_profile_id).to.equal(jane.partner[1]!.id);
  });

  it('asks once per request when the consent screen follows the pick (a third-party portal sending prompt=select_account)', async () => {
    const registered = await new ClientAdministration(running.broker.store.clients).register({ name: 'Partner Reports', portal: 'partnersource', redirectUris: [redirectUri] });
    const configuration = await openid.discovery(new URL(running.issuer), registered.client.id, { token_endpoint_auth_method: 'client_secret_basic' }, openid.ClientSecretBasic(registered.clientSecret!), { execute: [openid.allowInsecureRequests] });
    const thirdParty: Portal = { configuration, clientId: registered.client.id, clientSecret: registered.clientSecret! };
    const jane = await holder(2);
    const person = new Person(jane.name);
    const signIn = await person.startSignIn(thirdParty, { prompt: 'select_account' });
    const consent = await person.pickProfile(signIn.page!, jane.partner[1]!.id);
    expect(consent.page?.body).to.contain('Allow access?');
    const allowed = await person.browser.post(new URL(formAction(consent.page!.body), consent.page!.url).href, { csrf: hiddenField(consent.page!.body, 'csrf') ?? '', decision: 'allow' });
    const reached = await person.browser.follow(new URL(allowed.headers.get('location')!, allowed.url).href, (location) => location.href.startsWith(redirectUri));
    expect(reached.location, 'on to the portal, not the picker again').to.not.equal(undefined);
    expect((await signIn.tokens(reached.location!)).claims()!.mbs_profile_id).to.equal(jane.partner[1]!.id);
  });

  it('never asks for a portal registered with profile_selection all, which gets the list without mbs_profile', async () => {
    const jane = await holder(2);
    const tokens = await signInPicking(new Person(jane.name), partnerSourceAll, undefined, { prompt: 'select_account' });
    const userinfo = await userinfoOf(partnerSourceAll, tokens.access_token);
    expect(userinfo.mbs_profile_ids).to.deep.equal(jane.partner.map((profile) => profile.id));
    expect(userinfo).to.not.have.any.keys('mbs_profile', 'mbs_profile_id', 'mbs_profile_roles');
    expect(tokens.claims()).to.not.have.any.keys('mbs_profile', 'mbs_profile_id', 'mbs_profile_roles');
  });

  it('ends the choice when its profile is unbound: tokens stop carrying it, the next sign-in asks again; one remaining is carried without asking', async () => {
    const jane = await holder(3);
    const [first, second, third] = jane.partner as [ProfileInput, ProfileInput, ProfileInput];
    const tokens = await signInPicking(new Person(jane.name), partnerSource, third.id, { scope: 'openid email mbs_profiles offline_access', prompt: 'consent' });
    await runCliJson(['bindings', 'remove', third.id], running.environment);

    const refreshed = await openid.refreshTokenGrant(partnerSource.configuration, tokens.refresh_token!);
    for (const claims of [refreshed.claims()!, await userinfoOf(partnerSource, tokens.access_token)]) {
      expect(claims).to.not.have.any.keys('mbs_profile', 'mbs_profile_id', 'mbs_profile_roles');
      expect(claims.mbs_profile_ids).to.deep.equal([first.id, second.id]);
    }
    const asked = await new Person(jane.name).startSignIn(partnerSource);
    expect(offered(asked.page!)).to.deep.equal([first.id, second.id]);

    await runCliJson(['bindings', 'remove', second.id], running.environment);
    const only = await signInPicking(new Person(jane.name), partnerSource, undefined);
    expect(only.claims()!.mbs_profile_id).to.equal(first.id);
  });

  it('refuses a profile the picker did not offer with a 400 page, and keeps asking', async () => {
    const jane = await holder(2);
    const other = await holder(1);
    const person = new Person(jane.name);
    const signIn = await person.startSignIn(partnerSource);
    const action = new URL(/<form[^>]*action="([^"]+)"/.exec(signIn.page!.body)![1]!, signIn.page!.url).href;
    const csrf = /name="csrf" value="([^"]+)"/.exec(signIn.page!.body)![1]!;
    const refused = await person.browser.post(action, { profile: other.partner[0]!.id, csrf });
    expect(refused.status).to.equal(400);
    expect(refused.body).to.contain('This profile cannot be chosen here.');
    expect(await running.broker.store.profileChoices.find((await running.broker.store.profileBindings.findByProfile(jane.partner[0]!.id))!.accountId, 'partnersource')).to.equal(undefined);
  });

  describe('in Chromium', () => {
    let chromium: Chromium;
    before(async function () {
      skipWithoutChromium(this);
      chromium = await launchChromium();
    });
    after(() => chromium?.close());

    const titles = { 'en-US': 'Which profile?', 'de-DE': 'Welches Profil?', 'fr-FR': 'Quel profil ?' } as const;

    for (const [locale, title] of Object.entries(titles)) {
      it(`is picked by keyboard and has no serious accessibility problem (${locale})`, async () => {
        const jane = await holder(2);
        const context = await chromium.newContext({ locale });
        const page = await context.newPage();
        const codeVerifier = openid.randomPKCECodeVerifier();
        const url = openid.buildAuthorizationUrl(partnerSource.configuration, {
          redirect_uri: redirectUri,
          scope: 'openid mbs_profiles',
          code_challenge: await openid.calculatePKCECodeChallenge(codeVerifier),
          code_challenge_method: 'S256',
        });
        await page.goto(url.href);
        await page.locator('#sign-in-continue').click();
        await page.locator('input[name=account]').fill(jane.name);
        await page.locator('input[name=account]').press('Enter');
        await page.getByRole('heading', { name: title }).waitFor();
        expect(await seriousAccessibilityViolations(page)).to.deep.equal([]);
        if (locale === 'en-US') await new ScreenshotAlbum('profile-picker').take(page, 'two-partnersource-profiles');
        // Keyboard only: the first radio button has the focus's stop, the arrow moves the choice, Enter submits.
        const radios = page.getByRole('radio');
        expect(await radios.count()).to.equal(2);
        await radios.first().focus();
        await page.keyboard.press('ArrowDown');
        expect(await radios.nth(1).isChecked()).to.equal(true);
        // The portal's callback as Chromium asks for it (the test portal has no server; port 9 is one Chromium will not load).
        const callback = page.waitForRequest((request) => request.url().startsWith(redirectUri));
        await page.keyboard.press('Enter');
        const code = new URL((await callback).url());
        const tokens = await openid.authorizationCodeGrant(partnerSource.configuration, code, { pkceCodeVerifier: codeVerifier });
        expect(tokens.claims()!.mbs_profile_id).to.equal(jane.partner[1]!.id);
        await context.close();
      });
    }
  });
});
