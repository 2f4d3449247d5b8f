// The support desk's people pages (support and admin): find a person by MBS
// email, profile id or upstream subject; see their identities, bound
// profiles, last sign-ins and sessions; unbind a profile, bind one on their
// behalf (a reason is required, and a recent sign-in), revoke their sessions.
// Every change goes through the people service, audited as the signed-in admin.
import { translator } from '../../i18n.ts';
import type { PersonQuery } from '../../admin/peopleAdministration.ts';
import { attemptChange, noticeOf, redirectWithNotice, type FieldProblems } from '../consoleForms.ts';
import type { ConsoleContext, ConsolePage, ConsoleStep, ConsoleSteps } from '../consoleSteps.ts';

export const peoplePath = '/admin/people';
const lookups = ['email', 'profile', 'subject'] as const;
type Lookup = (typeof lookups)[number];
const notices = ['unbound', 'bound', 'revoked'] as const;
const { has } = translator('en');

const text = (value: unknown): string => (typeof value === 'string' ? value : '');
const personPath = (accountId: string): string => `${peoplePath}/${encodeURIComponent(accountId)}`;

export const peoplePage: ConsolePage = {
  navigation: { path: peoplePath, labelKey: 'console.nav.people', roles: ['support'] },
  routes(router, steps) {
    const { signedIn, form } = steps;
    const support = steps.requireRole('support');
    const page = new PeopleSteps(steps);
    router.get(peoplePath, signedIn, support, page.findPeople);
    router.get(`${peoplePath}/:accountId`, signedIn, support, page.showPerson);
    router.post(`${peoplePath}/:accountId/unbind`, signedIn, support, form, page.unbind);
    router.post(`${peoplePath}/:accountId/bind`, signedIn, support, form, (ctx, next) => steps.requireRecentSignIn(personPath(ctx.params.accountId!))(ctx, next), page.bindOnBehalf);
    router.post(`${peoplePath}/:accountId/revoke-sessions`, signedIn, support, form, page.revokeSessions);
  },
};

class PeopleSteps {
  readonly #steps: ConsoleSteps;

  constructor(steps: ConsoleSteps) {
    this.#steps = steps;
  }

  readonly findPeople: ConsoleStep = async (ctx) => {
    const by: Lookup = lookups.find((lookup) => lookup === ctx.query.by) ?? 'email';
    const typed = text(ctx.query.q).trim();
    const data = { titleKey: 'console.people.title', by, typed, lookups };
    // The bare page: just the form.
    if (ctx.query.q === undefined) return this.#steps.render(ctx, 'console/people.eta', data);
    if (!typed) {
      ctx.status = 400;
      return this.#steps.render(ctx, 'console/people.eta', { ...data, problems: { q: 'console.invalid.query' } });
    }
    const query: PersonQuery = { [by]: typed };
    this.#steps.render(ctx, 'console/people.eta', { ...data, found: await ctx.state.services.people.find(query) });
  };

  readonly showPerson: ConsoleStep = (ctx) => this.#showPerson(ctx, {});

  async #showPerson(ctx: ConsoleContext, shown: { problems?: FieldProblems; typed?: Record<string, string> }): Promise<void> {
    const accountId = ctx.params.accountId!;
    const person = await ctx.state.services.people.details(accountId);
    this.#steps.render(ctx, 'console/person.eta', {
      titleKey: 'console.person.title',
      person,
      action: personPath(accountId),
      notice: noticeOf(ctx, notices, 'console.person.done.'),
      problems: shown.problems ?? {},
      typed: shown.typed ?? {},
      when: (time: number | undefined) => this.#steps.time(ctx, time) || '—',
    });
  }

  readonly unbind: ConsoleStep = async (ctx) => {
    const accountId = ctx.params.accountId!;
    await ctx.state.services.people.unbind(accountId, text(ctx.state.form.profileId));
    redirectWithNotice(ctx, personPath(accountId), 'unbound');
  };

  readonly bindOnBehalf: ConsoleStep = async (ctx) => {
    const accountId = ctx.params.accountId!;
    const typed = { profileId: text(ctx.state.form.profileId), reason: text(ctx.state.form.reason) };
    await attemptChange(
      ctx,
      has,
      async () => {
        await ctx.state.services.people.bindOnBehalf(accountId, typed);
        redirectWithNotice(ctx, personPath(accountId), 'bound');
      },
      (problems) => this.#showPerson(ctx, { problems, typed }),
    );
  };

  readonly revokeSessions: ConsoleStep = async (ctx) => {
    const accountId = ctx.params.accountId!;
    await ctx.state.services.people.revokeSessions(accountId);
    redirectWithNotice(ctx, personPath(accountId), 'revoked');
  };
}
