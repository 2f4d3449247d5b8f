// One error type for two audiences: a stable wire code and a safe public
// message for the people and programs calling us, and a private detail that
// only reaches the logs.

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

export interface BrokerErrorOptions {
  /** Private detail for the logs; never shown to users. */
  detail?: string;
  /** Field-level problems for validation errors (safe to show). */
  fields?: Record<string, string>;
  cause?: unknown;
  /** Catalogue key of the public message, for pages shown in the reader's language. */
  messageKey?: string;
  messageValues?: Record<string, string | number>;
}

export class BrokerError extends Error {
  readonly code: BrokerErrorCode;
  readonly status: number;
  readonly publicMessage: string;
  readonly detail: string | undefined;
  readonly fields: Record<string, string> | undefined;
  readonly messageKey: string | undefined;
  readonly messageValues: Record<string, string | number> | undefined;

  constructor(code: BrokerErrorCode, publicMessage: string, options: BrokerErrorOptions = {}) {
    super(publicMessage, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BrokerError';
    this.code = code;
    this.status = statusByCode[code];
    this.publicMessage = publicMessage;
    this.detail = options.detail;
    this.fields = options.fields;
    this.messageKey = options.messageKey;
    this.messageValues = options.messageValues;
  }

  toJSON(): { error: BrokerErrorCode; error_description: string; fields?: Record<string, string> } {
    return this.fields
      ? { error: this.code, error_description: this.publicMessage, fields: this.fields }
      : { error: this.code, error_description: this.publicMessage };
  }
}

export const isBrokerError = (value: unknown): value is BrokerError => value instanceof BrokerError;

export const invalidRequest = (message: string, options?: BrokerErrorOptions): BrokerError =>
  new BrokerError('invalid_request', message, options);

/** What a schema validator (zod) says about one refused value. */
export interface InputIssue {
  path: readonly PropertyKey[];
  message: string;
}

/**
 * The 400 for input a schema refused, the same for the CLI, the admin API
 * and imports: each issue under its field's path (below `where`, such as
 * `body` or `query`, when given) in `fields`, and a message naming them all
 * after "Invalid <what>".
 */
export function invalidInput(what: string, issues: readonly InputIssue[], where?: string): BrokerError {
  const fields: Record<string, string> = {};
  for (const issue of issues) fields[[...(where ? [where] : []), ...issue.path.map(String)].join('.') || 'input'] = issue.message;
  return invalidRequest(`Invalid ${what}: ${Object.entries(fields).map(([field, message]) => `${field}: ${message}`).join('; ')}`, { fields });
}

export const notFound = (message: string, options?: BrokerErrorOptions): BrokerError =>
  new BrokerError('not_found', message, options);

export const conflict = (message: string, options?: BrokerErrorOptions): BrokerError =>
  new BrokerError('conflict', message, options);
