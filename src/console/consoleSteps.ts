// The steps every console route is a list of, and how a console page is
// added. A route reads like its security story:
//
//   router.get('/admin/keys', signedIn, requireRole(), showKeys);
//   router.post('/admin/keys/rotate-signing', signedIn, requireRole(), form, requireRecentSignIn('/admin/keys'), rotateSigningKeys);
//
// - `signedIn`: the console session (else to the sign-in), the admin's role
//   read from the database (no role: refused), and `ctx.state.services`, the
//   admin services acting as this admin (every audit event carries them).
// - `requireRole(...roles)`: the roles besides admin the route admits;
//   `requireRole()` is admin only. Every page and action names one.
// - `form`: parses the form, checks its CSRF token, and refuses read-only
//   roles (auditors change nothing, whatever a route admits).
// - `requireRecentSignIn(returnTo)`: sensitive actions (key and secret
//   rotation, role changes, bind on behalf) need an upstream sign-in newer
//   than CONSOLE_RECENT_SIGN_IN; older, a page offers to sign in again
//   (max_age on the console's authorization request) and come back.
// - `render(ctx, template, data)`: a page of views/pages/console/ in the
//   console layout, with the navigation this role may open and the CSRF token.
//
// To add a page: a file in src/console/pages/ exporting a ConsolePage (its
// navigation entry and its routes over these steps), listed in consolePages
// (consoleRoutes.ts); its template in views/pages/console/; its texts under
// `console.` in views/locales/{en,de,fr}.json.
import { bodyParser } from '@koa/bodyparser';
import type Router from '@koa/router';
import type { RouterMiddleware } from '@koa/router';
import type { Clock } from '../clock.ts';
import { BrokerError } from '../errors.ts';
import type { AdminServices } from '../admin/adminServices.ts';
import type { Acting } from '../admin/acting.ts';
import { readOnlyRoles, roleAdmits } from '../admin/roles.ts';
import type { AdminRole } from '../domain/records.ts';
import type { CsrfTokens } from '../web/csrf.ts';
import { pageLocale, type PageRenderer } from '../web/pages.ts';
import type { ConsoleSession, ConsoleSessions } from './consoleSession.ts';

/** What the steps of one request hand on; each field is set by the step named beside it, before any reader. */
export interface ConsoleState {
  session: ConsoleSession; // signedIn
  role: AdminRole; // signedIn
  services: AdminServices; // signedIn
  form: Record<string, unknown>; // form
}
export type ConsoleStep = RouterMiddleware<ConsoleState>;
export type ConsoleContext = Parameters<ConsoleStep>[0];
export type ConsoleRouter = Router<ConsoleState>;

/** A console page: its place in the navigation (who sees it) and its routes. */
export interface ConsolePage {
  navigation?: NavigationEntry;
  routes(router: ConsoleRouter, steps: ConsoleSteps): void;
}

export interface NavigationEntry {
  path: string;
  /** Catalogue key of the link's text. */
  labelKey: string;
  /** Roles besides admin that see the link (the same the page's GET route admits). */
  roles: readonly AdminRole[];
}

export interface ConsoleStepDependencies {
  sessions: ConsoleSessions;
  clock: Clock;
  pages: PageRenderer;
  csrf: CsrfTokens;
  /** The admin services acting as one signed-in admin. */
  servicesFor(acting: Acting): AdminServices;
  /** Milliseconds within which an upstream sign-in counts as recent. */
  recentSignIn: number;
  /** Filled by consoleRoutes once every page is registered. */
  navigation: NavigationEntry[];
}

const formParser = bodyParser({ enableTypes: ['form'], formLimit: '64kb' });

export const signInPath = (returnTo: string): string => `/admin/sign-in?${new URLSearchParams({ return: returnTo })}`;

export class ConsoleSteps {
  readonly #d: ConsoleStepDependencies;

  constructor(dependencies: ConsoleStepDependencies) {
    this.#d = dependencies;
  }

  readonly signedIn: ConsoleStep = async (ctx, next) => {
    const session = this.#d.sessions.resume(ctx);
    if (!session) {
      // Pages send the admin to sign in and back; a form posted after the session ended is refused.
      if (ctx.method !== 'GET' && ctx.method !== 'HEAD') throw new BrokerError('unauthorized', 'error.console.session_ended', { detail: 'console form without a session' });
      return ctx.redirect(signInPath(ctx.originalUrl));
    }
    const acting: Acting = { surface: 'console', accountId: session.accountId };
    const services = this.#d.servicesFor(acting);
    const role = await services.access.roleOf(session.accountId);
    if (!role) throw new BrokerError('forbidden', 'error.console.no_role', { detail: `account ${session.accountId} has no console role` });
    ctx.state.session = session;
    ctx.state.role = role;
    ctx.state.services = services;
    await next();
  };

  /** Admits admin and the roles named; the others get a 403 whatever they send. */
  requireRole(...admitted: AdminRole[]): ConsoleStep {
    return async (ctx, next) => {
      if (!roleAdmits(ctx.state.role, admitted)) {
        throw new BrokerError('forbidden', 'error.console.role_refused', { detail: `${ctx.state.role} refused at ${ctx.method} ${ctx.path}` });
      }
      await next();
    };
  }

  /** Parses a form, checks its CSRF token and refuses read-only roles. */
  readonly form: ConsoleStep = async (ctx, next) => {
    await formParser(ctx, async () => undefined);
    ctx.state.form = (ctx.request.body ?? {}) as Record<string, unknown>;
    this.#d.csrf.require('console', ctx.state.session.accountId, ctx.state.form.csrf, 'console');
    if (readOnlyRoles.includes(ctx.state.role)) throw new BrokerError('forbidden', 'error.console.role_refused', { detail: `read-only ${ctx.state.role} posted to ${ctx.path}` });
    await next();
  };

  /** Sensitive actions: an upstream sign-in newer than CONSOLE_RECENT_SIGN_IN, else the page offering to sign in again. */
  requireRecentSignIn(returnTo: string): ConsoleStep {
    return async (ctx, next) => {
      if (this.#d.clock.now() - ctx.state.session.authenticatedAt <= this.#d.recentSignIn) return next();
      ctx.status = 403;
      this.render(ctx, 'console/reauthenticate.eta', { titleKey: 'console.reauthenticate.title', reauthenticate: `/admin/reauthenticate?${new URLSearchParams({ return: returnTo })}` });
    };
  }

  /** A time as the reader reads it (UTC, their language). */
  time(ctx: ConsoleContext, milliseconds: number | undefined): string {
    if (milliseconds === undefined) return '';
    return `${new Intl.DateTimeFormat(pageLocale(ctx), { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }).format(new Date(milliseconds))} UTC`;
  }

  /** A console page in the console layout, in the reader's language. */
  render(ctx: ConsoleContext, template: string, data: { titleKey: string } & Record<string, unknown>): void {
    const { role, session } = ctx.state;
    ctx.type = 'html';
    ctx.body = this.#d.pages.render(
      template,
      {
        ...data,
        console: {
          role,
          accountId: session.accountId,
          csrf: this.#d.csrf.issue('console', session.accountId),
          navigation: this.#d.navigation.filter((entry) => roleAdmits(role, entry.roles)).map((entry) => ({ ...entry, current: entry.path === ctx.path })),
        },
      },
      { locale: pageLocale(ctx) },
    );
  }
}
