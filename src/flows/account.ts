// The routes of the account page (/account) of a person signed in to the
// broker, each a short list of named steps over the AccountService
// (accountService.ts), which holds the domain. What stays here is HTTP: the
// sign-in as the broker's own first-party client (the shared
// FirstPartySignIn), CSRF, pages and redirects. The page shows the Microsoft
// account and the bound profiles; "associate another profile" goes back to
// the email step; "unlink" asks for a confirmation; "sign out everywhere".
import Router, { type RouterMiddleware } from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type Provider from 'oidc-provider';
import { portalName } from '../directory/portals.ts';
import type { BoundProfile } from '../domain/records.ts';
import type { CsrfTokens } from '../web/csrf.ts';
import { FirstPartySignIn } from '../web/firstPartySignIn.ts';
import { pageLocale, type PageRenderer } from '../web/pages.ts';
import { AccountService, type AccountServiceDependencies } from './accountService.ts';
import { actionParameter, associateProfileAction } from '../provider/provider.ts';

/** The broker's own client, through which the account page signs people in. */
export const accountClientId = 'mbs-account';
export const accountCallbackPath = '/account/callback';

export interface AccountDependencies extends AccountServiceDependencies {
  provider: Provider;
  pages: PageRenderer;
  csrf: CsrfTokens;
  issuer: string;
}

/** What the steps of one request hand on; each field is set by the step named beside it, before any reader. */
interface AccountState {
  accountId: string; // requireAccount
  profile: BoundProfile; // loadBoundProfile
}
type Step = RouterMiddleware<AccountState>;
type StepContext = Parameters<Step>[0];

const formParser = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });
const formBody = (ctx: StepContext): Record<string, unknown> => (ctx.request.body ?? {}) as Record<string, unknown>;
const unlinkPath = (profileId: string): string => `/account/profiles/${encodeURIComponent(profileId)}/unlink`;

/** The small steps the routes are lists of, over the service. */
class AccountSteps {
  readonly #d: AccountDependencies;
  readonly #service: AccountService;
  readonly #signIn: FirstPartySignIn;

  constructor(dependencies: AccountDependencies) {
    this.#d = dependencies;
    this.#service = new AccountService(dependencies);
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
    ctx.set('Cache-Control', 'no-store');
    this.#page(ctx, 'account.eta', {
      titleKey: 'account.title',
      upstreamName: overview.upstreamName,
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
  const router = new Router<AccountState>({ sensitive: true, strict: true });
  router.get('/account/sign-in', startSignIn);
  router.get('/account/associate', startAssociation);
  router.get(accountCallbackPath, finishSignIn);
  router.get('/account', requireAccount, showAccount);
  router.post('/account/profiles/:profileId/unlink', form, requireAccount, requireCsrf, loadBoundProfile, showUnlinkConfirmation);
  router.post('/account/profiles/:profileId/unlink/confirm', form, requireAccount, requireCsrf, loadBoundProfile, unlink);
  router.post('/account/sign-out-everywhere', form, requireAccount, requireCsrf, signOutEverywhere);
  return router;
}
