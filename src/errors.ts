// One error type for two audiences: a stable wire code and a safe public
// message for the people and programs calling us, and a private detail that
// only reaches the logs. The public message is never written in code: it is
// a key of the message catalogue (views/locales/*.json), typed from en.json's
// keys, so a page shows it in the reader's language while JSON answers and
// the CLI give the English text of the same key (see README, "Errors").
// The named factories below are the errors that recur; an error said once
// builds a BrokerError with its own key.
import { defaultLocale, translator, type Locale, type MessageKey, type MessageValues } from './i18n.ts';

export type BrokerErrorCode =
  | 'invalid_request'
  | 'invalid_configuration'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'unauthorized'
  | 'forbidden'
  | 'rate_limited'
  | 'session_expired'
  | 'upstream_error'
  | 'temporarily_unavailable'
  | 'account_not_associated'
  | 'server_error';

const statusByCode: Record<BrokerErrorCode, number> = {
  invalid_request: 400,
  invalid_configuration: 400,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  unauthorized: 401,
  forbidden: 403,
  rate_limited: 429,
  session_expired: 400,
  upstream_error: 502,
  temporarily_unavailable: 503,
  account_not_associated: 403,
  server_error: 500,
};

/** The catalogue keys an error may say: the `error.` messages of views/locales/en.json. */
export type ErrorMessageKey = Extract<MessageKey, `error.${string}`>;

/** The text of an error message in `locale` (English unless asked): what JSON answers and the CLI say. */
export const errorMessage = (key: ErrorMessageKey, values?: MessageValues, locale: Locale = defaultLocale): string => translator(locale).t(key, values);

export interface BrokerErrorOptions {
  /** Private detail for the logs; never shown to users. */
  detail?: string | undefined;
  /** Field-level problems for validation errors (safe to show). */
  fields?: Record<string, string> | undefined;
  cause?: unknown;
  /** The values of the message's `{placeholders}`. */
  messageValues?: MessageValues | undefined;
}

export class BrokerError extends Error {
  readonly code: BrokerErrorCode;
  readonly status: number;
  /** The English text of the message: what JSON answers, the CLI and the logs say. */
  readonly publicMessage: string;
  readonly detail: string | undefined;
  readonly fields: Record<string, string> | undefined;
  readonly messageKey: ErrorMessageKey;
  readonly messageValues: MessageValues | undefined;

  constructor(code: BrokerErrorCode, messageKey: ErrorMessageKey, options: BrokerErrorOptions = {}) {
    const publicMessage = errorMessage(messageKey, options.messageValues);
    super(publicMessage, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BrokerError';
    this.code = code;
    this.status = statusByCode[code];
    this.publicMessage = publicMessage;
    this.detail = options.detail;
    this.fields = options.fields;
    this.messageKey = messageKey;
    this.messageValues = options.messageValues;
  }

  /** The public message in `locale`, for pages. */
  messageIn(locale: Locale): string {
    return errorMessage(this.messageKey, this.messageValues, locale);
  }

  toJSON(): { error: BrokerErrorCode; error_description: string; fields?: Record<string, string> } {
    return this.fields
      ? { error: this.code, error_description: this.publicMessage, fields: this.fields }
      : { error: this.code, error_description: this.publicMessage };
  }
}

export const isBrokerError = (value: unknown): value is BrokerError => value instanceof BrokerError;

// ---- requests the broker refuses ----

export const invalidRequest = (messageKey: ErrorMessageKey, options?: BrokerErrorOptions): BrokerError => new BrokerError('invalid_request', messageKey, options);

/** What a schema validator (zod) says about one refused value. */
export interface InputIssue {
  path: readonly PropertyKey[];
  message: string;
}

/** What a schema refused, each with its own headline ("Invalid client: …"). */
export type InputSubject = 'client' | 'api' | 'profile' | 'binding' | 'query' | 'body';

const invalidInputKeys: Record<InputSubject, ErrorMessageKey> = {
  client: 'error.invalid_input.client',
  api: 'error.invalid_input.api',
  profile: 'error.invalid_input.profile',
  binding: 'error.invalid_input.binding',
  query: 'error.invalid_input.query',
  body: 'error.invalid_input.body',
};

/**
 * The 400 for input a schema refused, the same for the CLI, the admin API
 * and imports: each issue under its field's path (below `where`, such as
 * `body` or `query`, when given) in `fields` as the validator words it, and
 * the catalogue's headline for `subject` naming them all.
 */
export function invalidInput(subject: InputSubject, issues: readonly InputIssue[], where?: string): BrokerError {
  const fields: Record<string, string> = {};
  for (const issue of issues) fields[[...(where ? [where] : []), ...issue.path.map(String)].join('.') || 'input'] = issue.message;
  const problems = Object.entries(fields).map(([field, message]) => `${field}: ${message}`).join('; ');
  return invalidRequest(invalidInputKeys[subject], { fields, messageValues: { problems } });
}

/** Where a person gets a fresh form: the portal (sign-in forms), the email's link, or the account page. */
/** Where a person gets a fresh form: the portal (sign-in forms), the email's link, the account page or the admin console. */
export type FreshFormAt = 'portal' | 'link' | 'account' | 'console';

const formExpiredKeys: Record<FreshFormAt, ErrorMessageKey> = {
  portal: 'error.form_expired',
  link: 'error.link_form_expired',
  account: 'error.account_form_expired',
  console: 'error.console_form_expired',
};

/** The 403 for a form whose CSRF token is missing or not ours, saying where to get a fresh one. */
export const formExpired = (freshFormAt: FreshFormAt, detail: string): BrokerError => new BrokerError('forbidden', formExpiredKeys[freshFormAt], { detail });

/** The sign-in this browser holds is not the one asked about (cookie lost, too slow, another browser). */
export const sessionExpired = (detail: string): BrokerError => new BrokerError('session_expired', 'error.session_expired', { detail });

export const pageNotFound = (detail: string): BrokerError => new BrokerError('not_found', 'error.not_found', { detail });

export const methodNotAllowed = (detail: string): BrokerError => new BrokerError('method_not_allowed', 'error.method_not_allowed', { detail });

// ---- records the administration asks for ----

export const notFound = (messageKey: ErrorMessageKey, options?: BrokerErrorOptions): BrokerError => new BrokerError('not_found', messageKey, options);

export const conflict = (messageKey: ErrorMessageKey, options?: BrokerErrorOptions): BrokerError => new BrokerError('conflict', messageKey, options);

export const clientNotFound = (id: string): BrokerError => notFound('error.client_not_found', { messageValues: { id } });

export const clientExists = (id: string, cause?: unknown): BrokerError => conflict('error.client_exists', { messageValues: { id }, detail: id, cause });

export const resourceServerNotFound = (identifier: string): BrokerError => notFound('error.resource_server_not_found', { messageValues: { identifier } });

export const resourceServerExists = (identifier: string, cause?: unknown): BrokerError => conflict('error.resource_server_exists', { messageValues: { identifier }, detail: identifier, cause });

export const profileNotFound = (id: string): BrokerError => notFound('error.profile_not_found', { messageValues: { id } });

/** The admin API without a valid bearer token: `configured` says whether any admin token is set at all. */
export const adminTokenRequired = (configured: boolean): BrokerError =>
  new BrokerError('unauthorized', configured ? 'error.admin_token_required' : 'error.admin_api_off');

// ---- the broker cannot do it now ----

/** A 503 the caller may retry: the storage cannot take the request right now (full disk, lock held). */
export const temporarilyUnavailable = (detail: string, cause?: unknown): BrokerError =>
  new BrokerError('temporarily_unavailable', 'error.temporarily_unavailable', { detail, cause });

/** A 500 with a safe message; the detail says what broke, for the logs. */
export const serverError = (detail: string, messageKey: ErrorMessageKey = 'error.server_error'): BrokerError => new BrokerError('server_error', messageKey, { detail });

/** Settings the broker cannot start with (the operator reads it on the console). */
export const invalidConfiguration = (messageKey: ErrorMessageKey, messageValues?: MessageValues, options?: Omit<BrokerErrorOptions, 'messageValues'>): BrokerError =>
  new BrokerError('invalid_configuration', messageKey, { ...options, messageValues });
