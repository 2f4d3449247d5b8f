// The one mapping of any error to what its caller sees: a status, a stable
// code and a safe message, as a page for browsers or JSON for programs. The
// broker's own errors say what they are; oidc-provider's and the body
// parsers' (http-errors: 413 too large, 415 unknown charset, 400 unreadable)
// keep their 4xx status; anything else is a 500 whose detail only the logs
// see — never a stack trace or a file path in an answer. A 503 says when to
// try again.
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { errorMessage, isBrokerError, pageNotFound, type ErrorMessageKey } from '../errors.ts';
import type { Logger } from '../logging.ts';
import { brandingPortal } from '../directory/portals.ts';
import { pageLocale, type PageContext, type PageRenderer } from './pages.ts';
import type { MessageValues } from '../i18n.ts';

export interface PublicFailure {
  status: number;
  code: string;
  /** The English text of `messageKey`: what JSON answers say. */
  message: string;
  /** Absent only for an English literal (src/flows/account.ts, until it moves to the factories). */
  messageKey?: ErrorMessageKey | undefined;
  messageValues?: MessageValues | undefined;
  /** What the logs get (never shown). */
  detail?: string | undefined;
}

interface ProviderError {
  status: number;
  error: string;
  error_description?: string;
  name: string;
}

function isProviderError(error: unknown): error is ProviderError {
  return typeof error === 'object' && error !== null && typeof (error as ProviderError).status === 'number' && typeof (error as ProviderError).error === 'string';
}

/** An http-errors error (body parsers, Koa's ctx.throw) with a client-error status. */
function clientHttpErrorStatus(error: unknown): number | undefined {
  const status = typeof error === 'object' && error !== null ? (error as { status?: unknown }).status : undefined;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}

/** A failure told with a catalogue message (its English text for JSON). */
const failure = (status: number, code: string, messageKey: ErrorMessageKey, detail?: string, messageValues?: MessageValues): PublicFailure => ({
  status,
  code,
  message: errorMessage(messageKey, messageValues),
  messageKey,
  messageValues,
  detail,
});

/** What the caller of a failed request is told; `undefined` detail for 500s (their error is logged whole). */
export function describeFailure(error: unknown): PublicFailure {
  if (isBrokerError(error)) {
    if (!error.messageKey) return { status: error.status, code: error.code, message: error.publicMessage, detail: error.detail };
    return failure(error.status, error.code, error.messageKey, error.detail, error.messageValues);
  }
  // A storage failure inside oidc-provider (see rethrowForProvider) carries our own error.
  const cause = typeof error === 'object' && error !== null ? (error as { cause?: unknown }).cause : undefined;
  if (isProviderError(error) && isBrokerError(cause)) return describeFailure(cause);
  if (isProviderError(error) && error.status < 500) {
    const sessionLost = error.error === 'session_not_found' || error.name === 'SessionNotFound';
    return failure(error.status, error.error, sessionLost ? 'error.session_expired' : 'error.request_refused', error.error_description);
  }
  const status = clientHttpErrorStatus(error) ?? (error instanceof URIError ? 400 : undefined);
  const detail = (error as Error | undefined)?.message;
  if (status === 413) return failure(status, 'payload_too_large', 'error.too_large', detail);
  if (status === 415) return failure(status, 'unsupported_media_type', 'error.unreadable', detail);
  if (status !== undefined) return failure(status, 'invalid_request', 'error.unreadable', detail);
  return failure(500, 'server_error', 'error.server_error');
}

/**
 * How an error page looks inside a sign-in: branded for the asking client's
 * portal and in the language it asked for, when the interaction is known.
 */
export function errorPageContext(provider: Provider) {
  return async (ctx: Context): Promise<PageContext> => {
    if (!ctx.path.startsWith('/interaction/')) return { locale: pageLocale(ctx) };
    try {
      const details = await provider.interactionDetails(ctx.req, ctx.res);
      const client = await provider.Client.find(String(details.params.client_id));
      return { portal: brandingPortal(client), locale: pageLocale(ctx, details.params.ui_locales) };
    } catch {
      return { locale: pageLocale(ctx) };
    }
  };
}

/** Seconds a client should wait before trying a 503 again (a full disk, a lock held by the CLI). */
const retryAfterSeconds = 5;

/**
 * Tells the caller of any 503 when to try again — the broker's own pages and
 * JSON as well as oidc-provider's endpoints, whose storage failures answer
 * 503 too — so a relying party's retry does not hammer a full disk.
 */
export function adviseRetryWhenUnavailable() {
  return async function adviseRetry(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
    } finally {
      if (ctx.status === 503 && !ctx.response.get('Retry-After')) ctx.set('Retry-After', String(retryAfterSeconds));
    }
  };
}

/** Answers every error below it, and a 404 nobody filled, as a page or JSON. */
export function renderErrors(pages: PageRenderer, logger: Logger, contextFor: (ctx: Context) => Promise<PageContext>) {
  return async function renderErrorsMiddleware(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw pageNotFound('no route answered');
    } catch (error) {
      const failure = describeFailure(error);
      if (failure.status >= 500) logger.error({ err: error, path: ctx.path }, 'request failed');
      else logger.warn({ code: failure.code, detail: failure.detail, path: ctx.path }, 'request refused');
      ctx.status = failure.status;
      if (ctx.accepts('html', 'json') === 'json') {
        ctx.body = { error: failure.code, error_description: failure.message };
        return;
      }
      ctx.type = 'html';
      ctx.body = pages.render(
        'error.eta',
        {
          titleKey: failure.status >= 500 ? 'error.title_server' : failure.messageKey === 'error.not_found' ? 'error.not_found.title' : 'error.title',
          message: failure.message,
          ...(failure.messageKey ? { messageKey: failure.messageKey, messageValues: failure.messageValues } : {}),
          code: failure.code,
        },
        await contextFor(ctx),
      );
    }
  };
}
