// A person at a browser and a portal, for end-to-end journeys: an
// openid-client relying party registered through the CLI, a cookie-jar
// browser that signs in at the dev upstream when asked, and the association
// emails as a real SMTP server received them.
import { expect } from 'chai';
import * as client from 'openid-client';
import { Browser, formAction, hiddenField, signInContinueLink, successContinueLink, type Page } from './browser.ts';
import type { RunningBroker } from './broker.ts';
import type { ProfileInput } from '../../src/domain/records.ts';
import { runCliJson } from './cli.ts';
import type { ReceivedMail, TestSmtpServer } from './smtp.ts';

export const redirectUri = 'http://127.0.0.1:9/callback';
export const reachedPortal = (location: URL) => location.href.startsWith(redirectUri);

export interface Portal {
  configuration: client.Configuration;
  clientId: string;
  /** Empty for a public client. */
  clientSecret: string;
}

/** What a test portal is registered with besides its portal (see registerPortal). */
export interface PortalOptions {
  public?: boolean;
  profileSelection?: 'ask' | 'all';
  subjectType?: 'public' | 'pairwise';
  backchannelLogoutUri?: string;
}

/**
 * Registers a first-party portal through the CLI: confidential (client_secret_basic), or public (no secret, PKCE) with `public: true`;
 * `profileSelection` `all` gives it the list of profiles without the picker; `subjectType` `pairwise` one `sub` per portal.
 */
export async function registerPortal(running: Pick<RunningBroker, 'issuer' | 'environment'>, portal: 'partnersource' | 'customersource' | 'both', options: PortalOptions = {}): Promise<Portal> {
  const { public: isPublic = false, profileSelection = 'ask', subjectType = 'public', backchannelLogoutUri } = options;
  const registered = await runCliJson<{ client_id: string; client_secret?: string }>(
    [
      ...['clients', 'add', '--portal', portal, '--first-party', ...(isPublic ? ['--public'] : []), '--profile-selection', profileSelection, '--subject-type', subjectType],
      ...['--redirect-uri', redirectUri, ...(backchannelLogoutUri ? ['--backchannel-logout-uri', backchannelLogoutUri] : [])],
    ],
    running.environment,
  );
  const clientSecret = registered.client_secret ?? '';
  const [metadata, authentication] = isPublic ? [{ token_endpoint_auth_method: 'none' }, client.None()] : [{ token_endpoint_auth_method: 'client_secret_basic' }, client.ClientSecretBasic(clientSecret)];
  const configuration = await client.discovery(new URL(running.issuer), registered.client_id, metadata, authentication, { execute: [client.allowInsecureRequests] });
  return { configuration, clientId: registered.client_id, clientSecret };
}

/**
 * Makes the dev-upstream account `accountName` the holder of `profiles` (as
 * an admin would with the CLI), so that its sign-ins skip the association.
 */
export async function bindDevAccount(running: Pick<RunningBroker, 'environment'>, accountName: string, profiles: ProfileInput[], store: { profiles: { upsert(profile: ProfileInput): Promise<unknown> } }): Promise<void> {
  for (const profile of profiles) await store.profiles.upsert(profile);
  const { issuer, subject } = await runCliJson<{ issuer: string; subject: string }>(['dev-subject', accountName], running.environment);
  for (const profile of profiles) await runCliJson(['bindings', 'add', '--profile', profile.id, '--issuer', issuer, '--subject', subject], running.environment);
}

/**
 * An authorization request of `portal` with state and PKCE (S256), the
 * parameters of a sign-in with the profiles unless `extra` replaces them;
 * `tokens` redeems the code of its callback.
 */
export async function authorizationRequest(portal: Portal, extra: Record<string, string> = {}) {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(portal.configuration, {
    redirect_uri: redirectUri,
    scope: 'openid email profile mbs_profiles',
    state,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    ...extra,
  });
  // The callback as the portal received it: a URL, or the POST of response_mode=form_post.
  // `parameters`: more of the token request (a `resource`, RFC 8707).
  const tokens = (callback: URL | Request, parameters?: Record<string, string>) => client.authorizationCodeGrant(portal.configuration, callback, { pkceCodeVerifier: codeVerifier, expectedState: state }, parameters);
  return { url, tokens };
}

/** A confidential client (client_secret_basic) registered some other way than registerPortal, as openid-client sees it. */
export async function confidentialPortal(issuer: string, clientId: string, clientSecret: string): Promise<Portal> {
  const configuration = await client.discovery(new URL(issuer), clientId, { token_endpoint_auth_method: 'client_secret_basic' }, client.ClientSecretBasic(clientSecret), { execute: [client.allowInsecureRequests] });
  return { configuration, clientId, clientSecret };
}

/** A person at a browser, driving the pages as they come. */
export class Person {
  readonly browser: Browser;
  readonly accountName: string;
  constructor(accountName: string, browser = new Browser()) {
    this.accountName = accountName;
    this.browser = browser;
  }

  /** Signs in at the dev upstream if it asks; follows redirects; returns where it stopped. */
  async follow(url: string): Promise<{ page: Page | undefined; location: URL | undefined }> {
    let { page, location } = await this.browser.follow(url, reachedPortal);
    // With several upstreams the person chooses (the test does, with the page it stopped at).
    const landing = !location && page && !page.body.includes('data-upstream=') ? signInContinueLink(page.body) : undefined;
    if (landing) ({ page, location } = await this.browser.follow(new URL(landing, page!.url).href, reachedPortal));
    if (!location && page?.body.includes('Account name')) {
      const submitted = await this.browser.post(new URL(formAction(page.body), page.url).href, { account: this.accountName, email: `${this.accountName}@hotmail.example` });
      ({ page, location } = await this.browser.follow(new URL(submitted.headers.get('location')!, submitted.url).href, reachedPortal));
    }
    return { page, location };
  }

  /** Starts a sign-in at the portal; `extra` adds or replaces authorization parameters (scope, prompt, …). */
  async startSignIn(portal: Portal, extra: Record<string, string> = {}) {
    const request = await authorizationRequest(portal, extra);
    return { ...(await this.follow(request.url.href)), tokens: request.tokens };
  }

  /** Allows a third-party client on the consent page and follows on to where it stops. */
  async allow(consent: Page): Promise<{ page: Page | undefined; location: URL | undefined }> {
    const allowed = await this.browser.post(new URL(formAction(consent.body), consent.url).href, { csrf: hiddenField(consent.body, 'csrf')!, decision: 'allow' });
    return this.follow(new URL(allowed.headers.get('location')!, allowed.url).href);
  }

  /** RP-initiated logout: end_session with the ID token, the broker's confirmation, "Yes, sign me out". */
  async signOut(portal: Portal, idToken: string): Promise<void> {
    const confirmation = await this.browser.get(client.buildEndSessionUrl(portal.configuration, { id_token_hint: idToken }).href);
    expect(confirmation.body).to.contain('Yes, sign me out');
    const confirmed = await this.browser.post(new URL(formAction(confirmation.body), confirmation.url).href, { xsrf: hiddenField(confirmation.body, 'xsrf') ?? '', logout: 'yes' });
    await this.browser.follow(new URL(confirmed.headers.get('location')!, confirmed.url).href);
  }

  /** Picks `profileId` on the profile picker and follows on to where it stops (the portal, unless something else asks). */
  async pickProfile(page: Page, profileId: string): Promise<{ page: Page | undefined; location: URL | undefined }> {
    expect(page.body, 'the profile picker').to.contain('id="profile-continue"');
    const picked = await this.browser.post(new URL(formAction(page.body), page.url).href, { profile: profileId, csrf: hiddenField(page.body, 'csrf') ?? '' });
    expect(picked.status, picked.body).to.equal(303);
    return this.browser.follow(new URL(picked.headers.get('location')!, picked.url).href, reachedPortal);
  }

  async submitEmail(page: Page, email: string): Promise<Page> {
    return this.browser.post(new URL(formAction(page.body), page.url).href, { email, csrf: hiddenField(page.body, 'csrf') ?? '' });
  }

  async cancel(page: Page): Promise<Page> {
    const action = /formaction="([^"]+\/cancel)"/.exec(page.body)![1]!;
    return this.browser.post(new URL(action, page.url).href, { csrf: hiddenField(page.body, 'csrf') ?? '' });
  }

  /**
   * Opens an association link, confirms, signs in again upstream and reads
   * the success page (guide step 9, kept as `success`); in the browser that
   * started the sign-in, presses its "Continue" button into the portal
   * (unless `continueIntoPortal` is false). Returns where it stopped.
   */
  async confirmLink(link: string, { continueIntoPortal = true } = {}): Promise<{ page: Page | undefined; location: URL | undefined; success: Page | undefined }> {
    const confirmation = await this.browser.get(link);
    expect(confirmation.status, confirmation.body).to.equal(200);
    const started = await this.browser.post(new URL(formAction(confirmation.body), link).href, { csrf: hiddenField(confirmation.body, 'csrf') ?? '' });
    const reached = await this.follow(new URL(started.headers.get('location')!, link).href);
    const success = reached.page?.status === 200 && reached.page.body.includes('id="associated-profile"') ? reached.page : undefined;
    const next = success ? successContinueLink(success.body) : undefined;
    if (!next || !continueIntoPortal) return { ...reached, success };
    return { ...(await this.browser.follow(new URL(next, success!.url).href, reachedPortal)), success };
  }
}

export const linkOf = (mail: Pick<ReceivedMail, 'text'>): string => /https?:\/\/\S+\/link\/[A-Za-z0-9_-]+/.exec(mail.text)![0];

export const isLinkMail = (mail: ReceivedMail): boolean => /\/link\/[A-Za-z0-9_-]+/.test(mail.text);

/** Waits for `count` association emails (other mail, such as notifications, is left aside). */
export async function mailFor(smtp: TestSmtpServer, count: number, accept: (mail: ReceivedMail) => boolean = isLinkMail): Promise<ReceivedMail[]> {
  for (let attempt = 0; attempt < 200 && smtp.received.filter(accept).length < count; attempt += 1) await new Promise((resolve) => setTimeout(resolve, 25));
  return smtp.received.filter(accept).slice(0, count);
}
