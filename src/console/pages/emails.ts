// The support desk's "why didn't my email arrive" (support and admin): for
// one address, its profiles, the association emails queued and sent with
// the SMTP server's answer (never the message), and its pending links,
// each of which can be revoked or resent (a new link, within the rate
// limits of the person's own requests; the email in the reader's language).
import type { AddressReport } from '../../admin/emailAdministration.ts';
import { pageLocale } from '../../web/pages.ts';
import { translator } from '../../i18n.ts';
import { attemptChange, noticeOf, redirectWithNotice, type FieldProblems } from '../consoleForms.ts';
import type { ConsoleContext, ConsolePage, ConsoleStep, ConsoleSteps } from '../consoleSteps.ts';

export const emailsPath = '/admin/emails';
const notices = ['revoked', 'resent'] as const;
const { has } = translator('en');

const text = (value: unknown): string => (typeof value === 'string' ? value : '');
const addressPath = (address: string): string => `${emailsPath}?${new URLSearchParams({ address })}`;

export const emailsPage: ConsolePage = {
  navigation: { path: emailsPath, labelKey: 'console.nav.emails', roles: ['support'] },
  routes(router, steps) {
    const { signedIn, form } = steps;
    const support = steps.requireRole('support');
    const page = new EmailSteps(steps);
    router.get(emailsPath, signedIn, support, page.showAddress);
    router.post(`${emailsPath}/links/:linkId/revoke`, signedIn, support, form, page.revokeLink);
    router.post(`${emailsPath}/links/:linkId/resend`, signedIn, support, form, page.resendLink);
  },
};

class EmailSteps {
  readonly #steps: ConsoleSteps;

  constructor(steps: ConsoleSteps) {
    this.#steps = steps;
  }

  readonly showAddress: ConsoleStep = async (ctx) => {
    const typed = text(ctx.query.address);
    if (ctx.query.address === undefined) return this.#render(ctx, typed, {});
    await attemptChange(
      ctx,
      has,
      async () => this.#render(ctx, typed, {}, await ctx.state.services.emails.forAddress(typed)),
      (problems) => this.#render(ctx, typed, problems),
    );
  };

  #render(ctx: ConsoleContext, typed: string, problems: FieldProblems, report?: AddressReport): void {
    this.#steps.render(ctx, 'console/emails.eta', {
      titleKey: 'console.emails.title',
      typed,
      problems: { address: problems.address ?? problems.input },
      report,
      notice: noticeOf(ctx, notices, 'console.emails.done.'),
      when: (time: number | undefined) => this.#steps.time(ctx, time) || '—',
    });
  }

  readonly revokeLink: ConsoleStep = async (ctx) => {
    await ctx.state.services.directory.revokeLink(ctx.params.linkId!, 'console');
    redirectWithNotice(ctx, addressPath(text(ctx.state.form.address)), 'revoked');
  };

  readonly resendLink: ConsoleStep = async (ctx) => {
    await ctx.state.services.emails.resendLink(ctx.params.linkId!, pageLocale(ctx));
    redirectWithNotice(ctx, addressPath(text(ctx.state.form.address)), 'resent');
  };
}
