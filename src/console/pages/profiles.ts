// The profiles pages (admin only): find MBS profiles by email, id or
// organization; view one (and who it is bound to) and edit it; import a CSV
// or JSON file with a preview first — created, updated, unchanged and
// rejected rows with their line numbers, nothing written — then apply it,
// which reports the same counts. The file travels back with the preview's
// form (no server-side state), so any instance can apply it. A large file
// (importJobRows profiles or more) is imported as a job of this broker
// process: applying sends the admin to its progress page, which refreshes
// itself (a meta refresh: no script) until the final report.
import { bodyParser } from '@koa/bodyparser';
import { translator } from '../../i18n.ts';
import { BrokerError, notFound } from '../../errors.ts';
import { importJobRows, type ImportJob } from '../../admin/profileImportJobs.ts';
import { portals } from '../../domain/records.ts';
import { attemptChange, noticeOf, redirectWithNotice, type FieldProblems } from '../consoleForms.ts';
import type { ConsoleContext, ConsolePage, ConsoleStep, ConsoleSteps } from '../consoleSteps.ts';

export const profilesPath = '/admin/profiles';
const importPath = `${profilesPath}/import`;
const progressPath = `${importPath}/progress`;
/** Seconds between two looks of the progress page at a running import. */
const progressRefreshSeconds = 2;
const lookups = ['email', 'id', 'organization'] as const;
const notices = ['saved'] as const;
const { has } = translator('en');
/** The largest profile file the console takes (the admin API's limit). */
const uploadLimit = 5 * 1024 * 1024;

const text = (value: unknown): string => (typeof value === 'string' ? value.trim() : '');
const profilePath = (id: string): string => `${profilesPath}/${encodeURIComponent(id)}`;

/**
 * Reads a multipart upload (the file and the form's fields) into the
 * request body before the shell's `form` step, which then checks its CSRF
 * token as for any form; bodies over the limit get 413.
 */
const readUpload: ConsoleStep = async (ctx, next) => {
  if (!ctx.is('multipart/form-data')) return next();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    // The same 413 as the body parsers' (src/web/errorAnswers.ts reads the status).
    if (size > uploadLimit + 64 * 1024) throw Object.assign(new Error(`upload over ${uploadLimit} bytes`), { status: 413 });
    chunks.push(chunk);
  }
  const raw = Buffer.concat(chunks);
  const fields = await new Response(raw, { headers: { 'content-type': ctx.get('content-type') } }).formData();
  const file = fields.get('file');
  ctx.request.body = {
    csrf: fields.get('csrf'),
    fileName: file instanceof File ? file.name : '',
    content: file instanceof File ? await file.text() : '',
  };
  await next();
};

/** The apply form carries the previewed file back: a larger limit than the shell's forms. */
const fileFormParser = bodyParser({ enableTypes: ['form'], formLimit: '6mb' });
const readFileForm: ConsoleStep = (ctx, next) => fileFormParser(ctx, next);

export const profilesPage: ConsolePage = {
  navigation: { path: profilesPath, labelKey: 'console.nav.profiles', roles: [] },
  routes(router, steps) {
    const { signedIn, form } = steps;
    const adminOnly = steps.requireRole();
    const page = new ProfileSteps(steps);
    router.get(profilesPath, signedIn, adminOnly, page.findProfiles);
    router.get(importPath, signedIn, adminOnly, page.showUpload);
    router.post(`${importPath}/preview`, signedIn, adminOnly, readUpload, form, page.previewImport);
    router.post(importPath, signedIn, adminOnly, readFileForm, form, page.applyImport);
    router.get(progressPath, signedIn, adminOnly, page.showProgress);
    router.get(`${profilesPath}/:profileId`, signedIn, adminOnly, page.showProfile);
    router.post(`${profilesPath}/:profileId`, signedIn, adminOnly, form, page.saveProfile);
  },
};

class ProfileSteps {
  readonly #steps: ConsoleSteps;

  constructor(steps: ConsoleSteps) {
    this.#steps = steps;
  }

  readonly findProfiles: ConsoleStep = async (ctx) => {
    const by = lookups.find((lookup) => lookup === ctx.query.by) ?? 'email';
    const typed = text(ctx.query.q).slice(0, 320);
    const data = { titleKey: 'console.profiles.title', by, typed, lookups, problems: {} as FieldProblems };
    if (ctx.query.q === undefined) return this.#steps.render(ctx, 'console/profiles.eta', data);
    if (!typed) {
      ctx.status = 400;
      return this.#steps.render(ctx, 'console/profiles.eta', { ...data, problems: { q: 'console.invalid.query' } });
    }
    const { directory } = ctx.state.services;
    const found =
      by === 'id'
        ? await directory.showProfile(typed).then(
            ({ profile }) => ({ items: [profile], total: 1 }),
            () => ({ items: [], total: 0 }),
          )
        : await directory.listProfiles({ ...(by === 'email' ? { email: typed } : { organization: typed }), limit: 200 });
    this.#steps.render(ctx, 'console/profiles.eta', { ...data, found });
  };

  readonly showProfile: ConsoleStep = async (ctx) => {
    const { profile } = await ctx.state.services.directory.showProfile(ctx.params.profileId!);
    await this.#showProfile(ctx, { ...profile, roles: profile.roles.join(', ') }, {});
  };

  async #showProfile(ctx: ConsoleContext, typed: Record<string, unknown>, problems: FieldProblems): Promise<void> {
    const { profile, binding } = await ctx.state.services.directory.showProfile(ctx.params.profileId!);
    this.#steps.render(ctx, 'console/profile.eta', {
      titleKey: 'console.profile.title',
      titleValues: { profile: profile.id },
      profile,
      binding,
      typed,
      problems,
      portals,
      action: profilePath(profile.id),
      notice: noticeOf(ctx, notices, 'console.profile.done.'),
      when: (time: number | undefined) => this.#steps.time(ctx, time) || '—',
    });
  }

  readonly saveProfile: ConsoleStep = async (ctx) => {
    const body = ctx.state.form;
    const typed = { portal: text(body.portal), email: text(body.email), displayName: text(body.displayName), organization: text(body.organization), roles: text(body.roles) };
    const id = ctx.params.profileId!;
    // Editing, not creating: the profile must exist (a 404 otherwise).
    await ctx.state.services.directory.showProfile(id);
    await attemptChange(
      ctx,
      has,
      async () => {
        await ctx.state.services.directory.upsertProfile({ ...typed, id, roles: typed.roles.split(/[,;]/).map((role) => role.trim()).filter(Boolean) }, 'console');
        redirectWithNotice(ctx, profilePath(id), 'saved');
      },
      (problems) => this.#showProfile(ctx, typed, problems),
    );
  };

  readonly showUpload: ConsoleStep = (ctx) => this.#steps.render(ctx, 'console/profile-import.eta', { titleKey: 'console.import.title', problems: {} });

  readonly previewImport: ConsoleStep = async (ctx) => {
    const { fileName, content } = this.#file(ctx);
    if (!content.trim()) {
      ctx.status = 400;
      return this.#steps.render(ctx, 'console/profile-import.eta', { titleKey: 'console.import.title', problems: { file: 'console.invalid.file' } });
    }
    const report = await ctx.state.services.directory.previewImport(fileName, content);
    this.#steps.render(ctx, 'console/profile-import.eta', { titleKey: 'console.import.preview_title', problems: {}, report, fileName, content, previewing: true });
  };

  readonly applyImport: ConsoleStep = async (ctx) => {
    const { fileName, content } = this.#file(ctx);
    if (!content.trim()) throw new BrokerError('invalid_request', 'error.console.file_missing');
    const { directory, importJobs } = ctx.state.services;
    if (directory.importRowCount(fileName, content) >= importJobRows) {
      importJobs.start(ctx.state.session.accountId, directory, fileName, content, 'console');
      ctx.status = 303;
      return ctx.redirect(progressPath);
    }
    const report = await ctx.state.services.directory.importProfiles(fileName, content, 'console');
    this.#steps.render(ctx, 'console/profile-import.eta', { titleKey: 'console.import.done_title', problems: {}, report, fileName, applied: true });
  };

  /** The admin's import job: its counts so far, refreshing while it runs; the final report once done. */
  readonly showProgress: ConsoleStep = (ctx) => {
    const job = ctx.state.services.importJobs.current(ctx.state.session.accountId);
    if (!job) throw notFound('error.console.import_unknown', { detail: 'no import job of this admin in this process' });
    const report = { created: job.created, updated: job.updated, unchanged: job.unchanged, rejected: job.rejected };
    ctx.set('Cache-Control', 'no-store');
    this.#steps.render(ctx, 'console/profile-import.eta', {
      titleKey: job.status === 'done' ? 'console.import.done_title' : job.status === 'failed' ? 'console.import.failed_title' : 'console.import.progress_title',
      problems: {},
      report,
      fileName: job.fileName,
      job: progressOf(job),
      applied: job.status === 'done',
      ...(job.status === 'running' ? { refreshSeconds: progressRefreshSeconds } : {}),
    });
  };

  /** The file of an upload or of the preview's apply form; its name says whether it is CSV or JSON. */
  #file(ctx: ConsoleContext): { fileName: string; content: string } {
    const fileName = text(ctx.state.form.fileName) || 'profiles.csv';
    return { fileName: /\.json$/i.test(fileName) ? fileName : fileName.replace(/(\.[^.]*)?$/, (extension) => (extension.toLowerCase() === '.csv' ? extension : '.csv')), content: typeof ctx.state.form.content === 'string' ? ctx.state.form.content : '' };
  }
}

/** What the progress page shows of a job: its state, rows done of all, and the share done in whole percent. */
function progressOf(job: ImportJob): { status: ImportJob['status']; processed: number; total: number; percent: number } {
  return { status: job.status, processed: job.processed, total: job.total, percent: job.total === 0 ? 100 : Math.floor((job.processed * 100) / job.total) };
}
