// How the support pages answer a form: bad input is a message beside each
// field it concerns (from the catalogue, in the reader's language) with a
// 400 and nothing changed; a done change is a redirect back with a notice
// (post/redirect/get, so reloading repeats nothing).
import { isBrokerError } from '../errors.ts';
import type { ConsoleContext } from './consoleSteps.ts';

/** Field name → catalogue key of the message shown beside it. */
export type FieldProblems = Record<string, string>;

/**
 * The fields an invalid_request names, each with its catalogue message
 * (`console.invalid.<field>`, or the general one); undefined for any other
 * failure, which the caller rethrows to the error page.
 */
export function fieldProblems(error: unknown, known: (key: string) => boolean): FieldProblems | undefined {
  if (!isBrokerError(error) || error.code !== 'invalid_request') return undefined;
  const problems: FieldProblems = {};
  for (const path of Object.keys(error.fields ?? { input: '' })) {
    // `body.reason`, `redirectUris.0` and `reason` all concern the field `reason` / `redirectUris`.
    const field = path.split('.').find((part) => part !== 'body' && part !== 'query' && !/^\d+$/.test(part)) ?? 'input';
    problems[field] = known(`console.invalid.${field}`) ? `console.invalid.${field}` : 'console.invalid.input';
  }
  return problems;
}

/**
 * Runs `change`; on bad input calls `showAgain(problems)` with status 400
 * (nothing was changed: the services validate before they write).
 */
export async function attemptChange(ctx: ConsoleContext, known: (key: string) => boolean, change: () => Promise<void>, showAgain: (problems: FieldProblems) => Promise<void> | void): Promise<void> {
  try {
    await change();
  } catch (error) {
    const problems = fieldProblems(error, known);
    if (!problems) throw error;
    ctx.status = 400;
    await showAgain(problems);
  }
}

/** Back to `path` with a notice the page shows once (`done` names a catalogue message of the page). */
export function redirectWithNotice(ctx: ConsoleContext, path: string, done: string): void {
  ctx.redirect(`${path}${path.includes('?') ? '&' : '?'}${new URLSearchParams({ done })}`);
}

/** The notice of a `done` query parameter, when it is one the page knows. */
export function noticeOf(ctx: ConsoleContext, notices: readonly string[], prefix: string): string | undefined {
  const done = typeof ctx.query.done === 'string' ? ctx.query.done : undefined;
  return done && notices.includes(done) ? `${prefix}${done}` : undefined;
}

