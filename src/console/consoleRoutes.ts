// The admin console at /admin: signing admins in through the broker itself
// (the console's own first-party client and the shared FirstPartySignIn,
// max_age when a sensitive action needs a recent sign-in), its own session
// (consoleSession.ts), invitations accepted by signing in, a strict
// Content-Security-Policy, and the pages of src/console/pages/ (how to add
// one: consoleSteps.ts). The admin JSON API keeps /admin/api (adminApi.ts);
// no route here matches below it.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { Clock } from '../clock.ts';
import type { Acting } from '../admin/acting.ts';
import type { AdminServices } from '../admin/adminServices.ts';
import { invitationInvalid, invitationPath } from '../admin/adminAccess.ts';
import { BrokerError } from '../errors.ts';
import { secretHash } from '../secrets.ts';
import type { CsrfTokens } from '../web/csrf.ts';
import { FirstPartySignIn } from '../web/firstPartySignIn.ts';
import { pageLocale, type PageRenderer } from '../web/pages.ts';
import { ConsoleSessions, consolePath } from './consoleSession.ts';
import { ConsoleSteps, type ConsolePage, type ConsoleState, type ConsoleStep } from './consoleSteps.ts';
import { adminsPage } from './pages/admins.ts';
import { homePage } from './pages/home.ts';
import { keysPage } from './pages/keys.ts';
import { dashboardPage } from './pages/dashboard.ts';
import { peoplePage } from './pages/people.ts';
import { emailsPage } from './pages/emails.ts';
import { auditPage } from './pages/audit.ts';
import { clientsPage } from './pages/clients.ts';
import { profilesPage } from './pages/profiles.ts';

/** The broker's own client through which admins sign in to the console. */
export const consoleClientId = 'mbs-console';
export const consoleCallbackPath = '/admin/callback';

/** Every page of the console, in navigation order. */
export const consolePages: readonly ConsolePage[] = [homePage, dashboardPage, peoplePage, emailsPage, auditPage, clientsPage, profilesPage, adminsPage, keysPage];

export interface ConsoleDependencies {
  provider: Provider;
  issuer: string;
  clock: Clock;
  pages: PageRenderer;
  csrf: CsrfTokens;
  servicesFor(acting: Acting): AdminServices;
  /** Milliseconds. */
  idleTimeout: number;
  recentSignIn: number;
}

/**
 * Console pages run no inline script and load nothing from elsewhere: their
 * own stylesheet and script files under /static only, forms posting back here.
 */
export const consoleContentSecurityPolicy = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/** Whether a path belongs to the console pages (not the JSON API below /admin/api). */
const isConsolePath = (path: string): boolean => (path === consolePath || path.startsWith(`${consolePath}/`)) && !path.startsWith(`${consolePath}/api/`) && path !== `${consolePath}/api`;

/** The console's security headers on every console answer, refusals and errors included. */
export function consoleHeaders(ctx: Context, next: Next): Promise<void> {
  if (isConsolePath(ctx.path)) ctx.set('Content-Security-Policy', consoleContentSecurityPolicy);
  return next();
}

const pendingInvitationCookie = 'mbs_console_invitation';
const invitationCookieMilliseconds = 15 * 60 * 1000;
const formParser = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });

export function consoleRoutes(dependencies: ConsoleDependencies): Router<ConsoleState> {
  const { csrf, clock } = dependencies;
  const sessions = new ConsoleSessions(clock, dependencies.idleTimeout);
  const signIn = new FirstPartySignIn({ provider: dependencies.provider, issuer: dependencies.issuer, clientId: consoleClientId, basePath: consolePath, callbackPath: consoleCallbackPath });
  const navigation = consolePages.flatMap((page) => (page.navigation ? [page.navigation] : []));
  const steps = new ConsoleSteps({ sessions, clock, pages: dependencies.pages, csrf, servicesFor: dependencies.servicesFor, recentSignIn: dependencies.recentSignIn, navigation });
  const router = new Router<ConsoleState>({ sensitive: true, strict: true });
  const returnTo = (ctx: Context): string | undefined => (typeof ctx.query.return === 'string' ? ctx.query.return : undefined);
  const invitationToken = (ctx: Context): string => String(ctx.params.token ?? '');
  const bare = (ctx: Context, template: string, data: { titleKey: string } & Record<string, unknown>): void => {
    ctx.type = 'html';
    ctx.body = dependencies.pages.render(template, data, { locale: pageLocale(ctx) });
  };

  const startSignIn: ConsoleStep = (ctx) => signIn.start(ctx, { returnTo: returnTo(ctx) });
  // max_age as long as a sign-in counts as recent: the broker signs the admin in again at the
  // upstream when its session is older. (Not 0: a first sign-in's separate consent interaction
  // would then ask for the login once more.)
  const recentMaxAge = { max_age: String(Math.floor(dependencies.recentSignIn / 1000)) };
  const startReauthentication: ConsoleStep = (ctx) => signIn.start(ctx, { returnTo: returnTo(ctx), parameters: recentMaxAge });
  const finishSignIn: ConsoleStep = async (ctx) => {
    const back = signIn.finish(ctx);
    const session = await signIn.session(ctx);
    if (!session) throw new BrokerError('session_expired', 'error.session_expired', { detail: 'console callback without a broker session' });
    // The broker session's sign-in time, carried over to the console's clock.
    const age = Math.max(0, Date.now() - (session.authenticatedAt ?? 0));
    sessions.open(ctx, session.accountId, clock.now() - age);
    const token = ctx.cookies.get(pendingInvitationCookie, { signed: true });
    if (token) {
      ctx.cookies.set(pendingInvitationCookie, null, { path: consolePath });
      await dependencies.servicesFor({ surface: 'console', accountId: session.accountId }).access.acceptInvitation(token, session.accountId);
      return ctx.redirect(consolePath);
    }
    ctx.redirect(back);
  };
  const signOut: ConsoleStep = async (ctx) => {
    const session = sessions.resume(ctx);
    await formParser(ctx, async () => undefined);
    if (session) csrf.require('console', session.accountId, (ctx.request.body as Record<string, unknown> | undefined)?.csrf, 'console');
    sessions.close(ctx);
    bare(ctx, 'console/signed-out.eta', { titleKey: 'console.signed_out.title', signIn: `${consolePath}/sign-in` });
  };

  // Invitations: reading the link never uses it; the button, then signing in, accepts it.
  const showInvitation: ConsoleStep = async (ctx) => {
    const token = invitationToken(ctx);
    const described = await dependencies.servicesFor({ surface: 'console' }).access.describeInvitation(token);
    if (described.status !== 'valid') {
      ctx.status = described.status === 'unknown' ? 404 : 410;
      return bare(ctx, 'console/invitation.eta', { titleKey: 'console.invitation.title', problemKey: `console.invitation.${described.status}` });
    }
    bare(ctx, 'console/invitation.eta', { titleKey: 'console.invitation.title', role: described.invitation.role, email: described.invitation.email, action: invitationPath(token), csrf: csrf.issue('invitation', secretHash(token)) });
  };
  const acceptInvitationBySigningIn: ConsoleStep = async (ctx) => {
    const token = invitationToken(ctx);
    await formParser(ctx, async () => undefined);
    csrf.require('invitation', secretHash(token), (ctx.request.body as Record<string, unknown> | undefined)?.csrf, 'console');
    const described = await dependencies.servicesFor({ surface: 'console' }).access.describeInvitation(token);
    if (described.status !== 'valid') throw invitationInvalid(`invitation ${described.status}`);
    ctx.cookies.set(pendingInvitationCookie, token, { signed: true, httpOnly: true, sameSite: 'lax', path: consolePath, maxAge: invitationCookieMilliseconds });
    // A recent upstream sign-in: the invitation goes to who signs in now, not to a session left open long ago.
    signIn.start(ctx, { parameters: recentMaxAge });
  };

  router.get(`${consolePath}/sign-in`, startSignIn);
  router.get(`${consolePath}/reauthenticate`, startReauthentication);
  router.get(consoleCallbackPath, finishSignIn);
  router.post(`${consolePath}/sign-out`, signOut);
  router.get(`${consolePath}/invitations/:token`, showInvitation);
  router.post(`${consolePath}/invitations/:token`, acceptInvitationBySigningIn);
  for (const page of consolePages) page.routes(router, steps);
  return router;
}
