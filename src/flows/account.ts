// The routes of the account page (/account) of a person signed in to the
// broker, each a short list of named steps over the AccountService
// (accountService.ts), which holds the domain. What stays here is HTTP: the
// sign-in as the broker's own first-party client (the shared
// FirstPartySignIn), CSRF, pages and redirects. The page shows the Microsoft
// account and the bound profiles; "associate another profile" goes back to
// the email step; "unlink" asks for a confirmation; "sign out everywhere".
// It also lists the account's sign-in methods (SignInMethodService): adding
// one is an upstream round trip whose state this browser keeps in a signed
// cookie and whose callback attaches the identity only to the account that
// started it; removing one asks for a confirmation.
import Router, { type RouterMiddleware } from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type Provider from 'oidc-provider';
import { portalName } from '../directory/portals.ts';
import type { BoundProfile } from '../domain/records.ts';
import type { CsrfTokens } from '../web/csrf.ts';
import { FirstPartySignIn } from '../web/firstPartySignIn.ts';
import { BrokerError } from '../errors.ts';
import { pageLocale, type PageRenderer } from '../web/pages.ts';
import { AccountService, type AccountServiceDependencies } from './accountService.ts';
import { actionParameter, associateProfileAction } from '../provider/provider.ts';
import { queryValue, upstreamCallbackPath } from './interactions.ts';
import { addMethodCallbackPath } from './signInService.ts';
import { SignInMethodService, type SignInMethod, type SignInMethodServiceDependencies } from './signInMethodService.ts';

/** The broker's own client, through which the account page signs people in. */
export const accountClientId = 'mbs-account';
export const accountCallbackPath = '/account/callback';
const addMethodStateCookie = 'mbs_add_method_state';

export interface AccountDependencies extends AccountServiceDependencies, Omit<SignInMethodServiceDependencies, 'callbackUri'> {
  provider: Provider;
  pages: PageRenderer;
  csrf: CsrfTokens;
  issuer: string;
}

/** What the steps of one request hand on; each field is set by the step named beside it, before any reader. */
interface AccountState {
  accountId: string; // requireAccount
  profile: BoundProfile; // loadBoundProfile
  method: SignInMethod; // loadMethod
}
type Step = RouterMiddleware<AccountState>;
type StepContext = Parameters<Step>[0];

const formParser = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });
const formBody = (ctx: StepContext): Record<string, unknown> => (ctx.request.body ?? {}) as Record<string, unknown>;
const unlinkPath = (profileId: string): string => `/account/profiles/${encodeURIComponent(profileId)}/unlink`;
const removeMethodPath = (identityId: string): string => `/account/sign-in-methods/${encodeURIComponent(identityId)}/remove`;

/** The small steps the routes are lists of, over the service. */
class AccountSteps {
  readonly #d: AccountDependencies;
  readonly #service: AccountService;
  readonly #methods: SignInMethodService;
  readonly #signIn: FirstPartySignIn;

  constructor(dependencies: AccountDependencies) {
    this.#d = dependencies;
    this.#service = new AccountService(dependencies);
    this.#methods = new SignInMethodService({ ...dependencies, callbackUri: new URL(upstreamCallbackPath, dependencies.issuer).href });
    this.#signIn = new FirstPartySignIn({ provider: dependencies.provider, issuer: dependencies.issuer, clientId: accountClientId, basePath: '/account', callbackPath: accountCallbackPath });
  }

  readonly form: Step = (ctx, next) => formParser(ctx, next);
  readonly startSignIn: Step = (ctx) => this.#signIn.start(ctx);
  /** Asks the provider for the email step (the login policy's association_requested). */
  readonly startAssociation: Step = (ctx) => this.#signIn.start(ctx, { parameters: { [actionParameter]: associateProfileAction } });
  readonly finishSignIn: Step = (ctx) => {
    ctx.redirect(this.#signIn.finish(ctx));
  };
  /** A stranger is sent to sign in first. */
  readonly requireAccount: Step = async (ctx, next) => {
    const session = await this.#signIn.session(ctx);
    if (!session) return ctx.redirect('/account/sign-in');
    ctx.state.accountId = session.accountId;
    await next();
  };
  readonly requireCsrf: Step = async (ctx, next) => {
    this.#d.csrf.require('account', ctx.state.accountId, formBody(ctx).csrf, 'account');
    await next();
  };
  readonly loadBoundProfile: Step = async (ctx, next) => {
    ctx.state.profile = await this.#service.boundProfile(ctx.state.accountId, String(ctx.params.profileId));
    await next();
  };
  readonly showAccount: Step = async (ctx) => {
    const { accountId } = ctx.state;
    const overview = await this.#service.overview(accountId);
    const methods = await this.#methods.methods(accountId);
    const date = new Intl.DateTimeFormat(pageLocale(ctx), { dateStyle: 'medium' });
    ctx.set('Cache-Control', 'no-store');
    this.#page(ctx, 'account.eta', {
      titleKey: 'account.title',
      upstreamName: overview.upstreamName,
      methods: methods.map((method) => ({
        ...method,
        added: date.format(method.addedAt),
        lastUsed: method.lastUsedAt === undefined ? undefined : date.format(method.lastUsedAt),
        remove: methods.length > 1 ? removeMethodPath(method.id) : undefined,
      })),
      addMethod: { action: '/account/sign-in-methods/add', upstreams: this.#methods.upstreams.map((upstream) => ({ id: upstream.id, name: upstream.name })) },
      profiles: overview.profiles.map((profile) => ({ ...profile, unlink: unlinkPath(profile.id) })),
      csrf: this.#d.csrf.issue('account', accountId),
      associate: '/account/associate',
      signOutEverywhere: '/account/sign-out-everywhere',
    });
  };
  readonly showUnlinkConfirmation: Step = (ctx) => {
    const { profile, accountId } = ctx.state;
    this.#page(ctx, 'account-unlink.eta', {
      titleKey: 'account_unlink.title',
      portalName: portalName(profile.portal),
      profileId: profile.id,
      organization: profile.organization,
      confirm: `${unlinkPath(profile.id)}/confirm`,
      csrf: this.#d.csrf.issue('account', accountId),
    }, profile.portal);
  };
  readonly unlink: Step = async (ctx) => {
    await this.#service.unlink(ctx.state.accountId, ctx.state.profile.id, { ip: ctx.ip, locale: pageLocale(ctx) });
    ctx.status = 303;
    ctx.redirect('/account');
  };
  /** Off to the chosen upstream; the state stays in this browser, so only it can finish adding. */
  readonly startAddingMethod: Step = async (ctx) => {
    const upstreamId = formBody(ctx).upstream;
    const { url, state } = await this.#methods.startAdding(ctx.state.accountId, typeof upstreamId === 'string' ? upstreamId : undefined);
    ctx.cookies.set(addMethodStateCookie, state, { signed: true, httpOnly: true, sameSite: 'lax', path: '/account', maxAge: this.#d.upstreamTransactionTtl });
    ctx.status = 303;
    ctx.redirect(url.href);
  };
  /** The round trip must come back to the browser that started it, signed in to the account that started it. */
  readonly finishAddingMethod: Step = async (ctx) => {
    const state = queryValue(ctx, 'state');
    if (!state || ctx.cookies.get(addMethodStateCookie, { signed: true }) !== state) {
      throw new BrokerError('session_expired', 'error.sign_in_method_state', { detail: 'add-method state cookie mismatch' });
    }
    ctx.cookies.set(addMethodStateCookie, null, { path: '/account' });
    const { accountId } = ctx.state;
    const identity = await this.#methods.finishAdding(state, new URL(ctx.originalUrl, this.#d.issuer), accountId);
    const added = identity ? await this.#methods.add(accountId, identity, { ip: ctx.ip, locale: pageLocale(ctx) }) : undefined;
    if (added?.outcome === 'used_by_another_account') {
      ctx.status = 409;
      return this.#page(ctx, 'account-method-elsewhere.eta', { titleKey: 'account_method_elsewhere.title', account: added.hint });
    }
    ctx.status = 303;
    ctx.redirect('/account');
  };
  readonly loadMethod: Step = async (ctx, next) => {
    ctx.state.method = await this.#methods.method(ctx.state.accountId, String(ctx.params.identityId));
    await next();
  };
  readonly showRemoveMethodConfirmation: Step = (ctx) => {
    const { method, accountId } = ctx.state;
    this.#page(ctx, 'account-method-remove.eta', {
      titleKey: 'account_method_remove.title',
      methodUpstream: method.upstreamName,
      account: method.hint,
      confirm: `${removeMethodPath(method.id)}/confirm`,
      csrf: this.#d.csrf.issue('account', accountId),
    });
  };
  readonly removeMethod: Step = async (ctx) => {
    await this.#methods.remove(ctx.state.accountId, ctx.state.method.id, { ip: ctx.ip, locale: pageLocale(ctx) });
    ctx.status = 303;
    ctx.redirect('/account');
  };
  readonly signOutEverywhere: Step = async (ctx) => {
    await this.#service.signOutEverywhere(ctx.state.accountId, ctx.ip);
    this.#page(ctx, 'signed-out.eta', { titleKey: 'signed_out.title', everywhere: true });
  };

  #page(ctx: StepContext, template: string, data: { titleKey: string } & Record<string, unknown>, portal?: BoundProfile['portal']): void {
    ctx.type = 'html';
    ctx.body = this.#d.pages.render(template, data, { portal, locale: pageLocale(ctx) });
  }
}

export function accountRoutes(dependencies: AccountDependencies): Router<AccountState> {
  const steps = new AccountSteps(dependencies);
  const { form, startSignIn, startAssociation, finishSignIn, requireAccount, requireCsrf, loadBoundProfile, showAccount, showUnlinkConfirmation, unlink, signOutEverywhere } = steps;
  const { startAddingMethod, finishAddingMethod, loadMethod, showRemoveMethodConfirmation, removeMethod } = steps;
  const router = new Router<AccountState>({ sensitive: true, strict: true });
  router.get('/account/sign-in', startSignIn);
  router.get('/account/associate', startAssociation);
  router.get(accountCallbackPath, finishSignIn);
  router.get('/account', requireAccount, showAccount);
  router.post('/account/profiles/:profileId/unlink', form, requireAccount, requireCsrf, loadBoundProfile, showUnlinkConfirmation);
  router.post('/account/profiles/:profileId/unlink/confirm', form, requireAccount, requireCsrf, loadBoundProfile, unlink);
  router.post('/account/sign-in-methods/add', form, requireAccount, requireCsrf, startAddingMethod);
  router.get(addMethodCallbackPath, requireAccount, finishAddingMethod);
  router.post('/account/sign-in-methods/:identityId/remove', form, requireAccount, requireCsrf, loadMethod, showRemoveMethodConfirmation);
  router.post('/account/sign-in-methods/:identityId/remove/confirm', form, requireAccount, requireCsrf, loadMethod, removeMethod);
  router.post('/account/sign-out-everywhere', form, requireAccount, requireCsrf, signOutEverywhere);
  return router;
}
