// The account page of a signed-in person: their Microsoft account and bound
// profiles; unlinking one (gone from the next token, noticed by email,
// audited); associating another through the email step; and signing out
// everywhere (the session ends and refresh tokens stop working).
import { expect } from 'chai';
import * as client from 'openid-client';
import { formAction, hiddenField, type Page } from '../support/browser.ts';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { buildProfile } from '../support/factories.ts';
import { bindDevAccount, Person, registerPortal, type Portal } from '../support/journey.ts';

describe('the account page', function () {
  this.timeout(60_000);
  let running: RunningBroker;
  let partnerSource: Portal;

  before(async () => {
    running = await startBroker({ OUTBOX_INTERVAL: '25' });
    partnerSource = await registerPortal(running, 'partnersource');
  });
  after(() => running.stop());

  /**
   * A person whose dev-upstream account is bound to the given profiles, signed in at PartnerSource
   * (picking `pick` on the profile picker, which asks when two of them are PartnerSource's).
   */
  async function signedInPerson(accountName: string, profiles: Array<ReturnType<typeof buildProfile>>, extra: Record<string, string> = {}, pick?: string) {
    await bindDevAccount(running, accountName, profiles, running.broker.store);
    const person = new Person(accountName);
    const signIn = await person.startSignIn(partnerSource, extra);
    const reached = pick === undefined ? signIn : await person.pickProfile(signIn.page!, pick);
    expect(reached.location, reached.page?.body).to.not.equal(undefined);
    return { person, tokens: await signIn.tokens(reached.location!) };
  }

  const accountPage = async (person: Person): Promise<Page> => {
    const { page } = await person.follow(`${running.issuer}/account`);
    expect(page?.status, page?.body).to.equal(200);
    return page!;
  };

  const postForm = (person: Person, page: Page, action: string, fields: Record<string, string> = {}) =>
    person.browser.post(new URL(action, page.url).href, { csrf: hiddenField(page.body, 'csrf')!, ...fields });

  it('shows the Microsoft account and the bound profiles, and sends a stranger to sign in first', async () => {
    const stranger = await new Person('account-stranger').browser.get(`${running.issuer}/account`);
    expect(stranger.status).to.equal(302);
    expect(stranger.headers.get('location')).to.equal('/account/sign-in');

    const partner = buildProfile({ portal: 'partnersource', organization: 'Contoso Partners' });
    const customer = buildProfile({ portal: 'customersource', organization: 'Contoso Retail' });
    const { person } = await signedInPerson('account-viewer', [partner, customer]);
    const page = await accountPage(person);
    expect(page.body).to.contain('account-viewer@hotmail.example');
    expect(page.body).to.contain(partner.id).and.to.contain('Contoso Partners').and.to.contain(customer.id).and.to.contain('CustomerSource');

    // Signing in to the account page itself, from scratch, goes through the provider.
    const fresh = new Person('account-viewer');
    const { page: freshPage } = await fresh.follow(`${running.issuer}/account`);
    expect(freshPage?.body).to.contain(partner.id);
  });

  it('unlinks a profile after a confirmation: gone from the next token, noticed by email, audited', async () => {
    const kept = buildProfile({ portal: 'partnersource', organization: 'Kept Ltd' });
    const unlinked = buildProfile({ portal: 'partnersource', organization: 'Unlinked Ltd', email: 'unlinked.owner@contoso.example' });
    // The unlinked profile is the one picked at PartnerSource: unlinking it ends that choice.
    const { person } = await signedInPerson('account-unlinker', [kept, unlinked], {}, unlinked.id);
    const page = await accountPage(person);
    const confirmation = await postForm(person, page, `/account/profiles/${unlinked.id}/unlink`);
    expect(confirmation.status).to.equal(200);
    expect(confirmation.body).to.contain('Unlink this profile?').and.to.contain('Unlinked Ltd');
    const done = await postForm(person, confirmation, formAction(confirmation.body));
    expect(done.status).to.equal(303);
    expect((await accountPage(person)).body).to.not.contain(unlinked.id);

    const again = await person.startSignIn(partnerSource);
    const tokens = await again.tokens(again.location!);
    const userinfo = await client.fetchUserInfo(partnerSource.configuration, tokens.access_token, client.skipSubjectCheck);
    expect((userinfo.mbs_profiles as Array<{ id: string }>).map((profile) => profile.id)).to.deep.equal([kept.id]);
    expect(userinfo.mbs_profile_id, 'the one profile left, without asking').to.equal(kept.id);

    const notices = (await running.broker.outbox.list({ limit: 100 })).items.filter((message) => message.kind === 'profile_unlinked');
    expect(notices.map((message) => message.recipient)).to.include('unlinked.owner@contoso.example');
    const removed = await running.broker.store.auditEvents.list({ type: 'binding.removed', profileId: unlinked.id });
    expect(removed.items[0]).to.include({ actor: 'user', outcome: 'success' });

    // Another person's profile, or a form without its CSRF token, is refused.
    const forged = await person.browser.post(`${running.issuer}/account/profiles/${kept.id}/unlink/confirm`, { csrf: 'forged' });
    expect(forged.status).to.equal(403);
    // The refusal sends the person back to the account page, not to a portal sign-in.
    expect(forged.body).to.contain('This form has expired. Open your account page again.');
    const other = await postForm(person, page, '/account/profiles/NOT-MINE/unlink');
    expect(other.status).to.equal(404);
  });

  it('associates another profile through the email step and comes back to the account page', async () => {
    const first = buildProfile({ portal: 'partnersource' });
    const { person } = await signedInPerson('account-associator', [first]);
    const another = buildProfile({ portal: 'customersource', email: 'another.profile@fabrikam.example', organization: 'Fabrikam Another' });
    await running.broker.store.profiles.upsert(another);
    const { page: emailForm } = await person.follow(`${running.issuer}/account/associate`);
    expect(emailForm?.body).to.contain('Enter your MBS email address');
    const sent = await person.submitEmail(emailForm!, another.email);
    expect(sent.status).to.equal(303);
    // The waiting page does not continue before the new profile is bound.
    const waiting = await person.browser.get(new URL(sent.headers.get('location')!, sent.url).href);
    expect(waiting.body).to.contain('Check your inbox');
    let link: string | undefined;
    for (let attempt = 0; attempt < 100 && !link; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      link = running.broker.devMailbox!.messages().find((message) => message.to === another.email)?.text.match(/https?:\/\/\S+\/link\/[A-Za-z0-9_-]+/)?.[0];
    }
    const back = await person.confirmLink(link!);
    expect(back.page?.body, "back on the account page").to.contain('Fabrikam Another').and.to.contain(first.id);
  });

  it('adds a second account of the dev upstream as a sign-in method, as the demo does', async () => {
    const profile = buildProfile({ portal: 'partnersource' });
    const { person, tokens } = await signedInPerson('account-first-method', [profile]);
    const page = await accountPage(person);
    expect(page.body).to.contain('Add a sign-in with the development account');
    const started = await postForm(person, page, '/account/sign-in-methods/add', { upstream: 'dev' });
    const { page: back } = await new Person('account-second-method', person.browser).follow(new URL(started.headers.get('location')!, page.url).href);
    expect(back?.body).to.contain('account-second-method@hotmail.example').and.to.contain('account-first-method@hotmail.example');

    const second = await new Person('account-second-method').startSignIn(partnerSource);
    expect(second.location, 'the second account reaches the portal without the association').to.not.equal(undefined);
    expect((await second.tokens(second.location!)).claims()?.sub).to.equal(tokens.claims()?.sub);
  });

  it('signs out everywhere: the session ends and the refresh token stops working', async () => {
    const { person, tokens } = await signedInPerson('account-everywhere', [buildProfile({ portal: 'partnersource' })], { scope: 'openid mbs_profiles offline_access', prompt: 'consent' });
    expect(tokens.refresh_token, 'a refresh token was issued').to.be.a('string');
    const refreshed = await client.refreshTokenGrant(partnerSource.configuration, tokens.refresh_token!);
    expect(refreshed.access_token).to.be.a('string');

    const page = await accountPage(person);
    const signedOut = await postForm(person, page, '/account/sign-out-everywhere');
    expect(signedOut.status).to.equal(200);
    expect(signedOut.body).to.contain('signed out everywhere');
    let refused: unknown;
    await client.refreshTokenGrant(partnerSource.configuration, refreshed.refresh_token ?? tokens.refresh_token!).catch((error: unknown) => {
      refused = error;
    });
    expect((refused as { error?: string } | undefined)?.error).to.equal('invalid_grant');
    const after = await person.browser.get(`${running.issuer}/account`);
    expect(after.status, 'the broker session is gone').to.equal(302);
    expect((await running.broker.store.auditEvents.list({ type: 'logout' })).items.some((event) => (event.details as { everywhere?: boolean } | undefined)?.everywhere)).to.equal(true);
  });
});
