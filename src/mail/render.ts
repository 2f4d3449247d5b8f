// Renders typed emails from views/emails: an mjml body (HTML) and a plain
// text body, both filled by Eta with every value escaped, and a subject.
// mjml validation errors fail the rendering rather than sending broken mail.
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import mjml2html from 'mjml';
import { BrokerError } from '../errors.ts';

const emailsDirectory = fileURLToPath(new URL('../../views/emails/', import.meta.url));

export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
}

export interface EmailRenderer {
  render(template: string, subject: string, data: Record<string, unknown>): Promise<RenderedEmail>;
}

export function createEmailRenderer(options: { cache: boolean }): EmailRenderer {
  const html = new Eta({ views: emailsDirectory, cache: options.cache, autoEscape: true, autoTrim: false });
  const text = new Eta({ views: emailsDirectory, cache: options.cache, autoEscape: false, autoTrim: false });
  return {
    async render(template, subject, data) {
      const source = html.render(`${template}.mjml`, data);
      const compiled = await mjml2html(source, { validationLevel: 'strict' });
      if (compiled.errors.length > 0) {
        throw new BrokerError('server_error', 'An email could not be prepared.', {
          detail: `mjml errors in ${template}: ${compiled.errors.map((error) => error.formattedMessage).join('; ')}`,
        });
      }
      return { subject, html: compiled.html, text: text.render(`${template}.txt`, data) };
    },
  };
}
