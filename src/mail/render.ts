// Renders typed emails from views/emails in the reader's language: an mjml
// body (HTML) and a plain-text body, both filled by Eta with every value
// escaped, and a subject, all worded by the catalogues in views/locales.
// mjml validation errors fail the rendering rather than sending broken mail.
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import { serverError } from '../errors.ts';
import { translator, type Locale, type MessageValues } from '../i18n.ts';
import { MjmlCompiler } from './mjmlCompiler.ts';

const emailsDirectory = fileURLToPath(new URL('../../views/emails/', import.meta.url));

export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
}

export interface EmailRenderer {
  /**
   * Renders `views/emails/<template>.mjml` and `.txt`; the subject is the
   * catalogue message `emails.<template>.subject` (dashes as underscores),
   * filled with `data`.
   */
  render(template: string, locale: Locale, data: MessageValues & { accent?: string }): Promise<RenderedEmail>;
  /** Ends the mjml worker (it also ends by itself when idle). */
  close(): Promise<void>;
}

export function createEmailRenderer(options: { cache: boolean; mjmlIdleMilliseconds?: number }): EmailRenderer {
  const mjml = new MjmlCompiler(options.mjmlIdleMilliseconds === undefined ? {} : { idleMilliseconds: options.mjmlIdleMilliseconds });
  const html = new Eta({ views: emailsDirectory, cache: options.cache, autoEscape: true, autoTrim: false });
  const text = new Eta({ views: emailsDirectory, cache: options.cache, autoEscape: false, autoTrim: false });
  return {
    async render(template, locale, data) {
      const { t } = translator(locale);
      const values = { accent: '#3b3b3b', ...data, t, locale };
      const source = html.render(`${template}.mjml`, values);
      const compiled = await mjml.compile(source);
      if (compiled.errors.length > 0) {
        throw serverError(`mjml errors in ${template}: ${compiled.errors.join('; ')}`, 'error.email_unprepared');
      }
      return { subject: t(`emails.${template.replaceAll('-', '_')}.subject`, data), html: compiled.html, text: text.render(`${template}.txt`, values) };
    },
    close: () => mjml.close(),
  };
}
