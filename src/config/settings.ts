// Every setting of the broker in one place: its environment variable, type,
// default and description. The loader, `mbs-broker config` and the README's
// configuration table are all derived from this list.
import { z } from 'zod';

export interface SettingDefinition<Schema extends z.ZodType = z.ZodType> {
  /** Environment variable (and key in the optional JSON config file). */
  env: string;
  schema: Schema;
  /** Default as it would be written in the environment, or undefined for none. */
  defaultValue?: string;
  description: string;
  /** Masked in `mbs-broker config` output and never logged. */
  secret?: boolean;
}

const positiveInteger = z.coerce.number().int().positive();
const booleanFlag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');
const optionalUrl = z.string().url().optional();

const tenantId = z.string().regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'must be an Entra ID tenant id (a GUID)');
const emailDomain = z.string().regex(/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/, 'must be a domain such as contoso.com');

/** One entry of UPSTREAMS. */
export const upstreamEntry = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'must be lower-case letters, digits, - or _ (at most 64)'),
    kind: z.enum(['dev', 'oidc', 'microsoft', 'microsoft-work']),
    name: z.string().min(1).max(100).optional(),
    issuer: z.string().url().optional(),
    clientId: z.string().min(1).optional(),
    clientSecret: z.string().min(1).optional(),
    tenants: z.array(tenantId).optional(),
    domains: z.array(emailDomain).optional(),
    signUpUrl: z.string().url().optional(),
    passwordResetUrl: z.string().url().optional(),
  })
  .strict();

export type UpstreamEntry = z.output<typeof upstreamEntry>;

/** A JSON list of upstreams: a string in the environment, a list in the config file (the loader passes it as JSON). */
const upstreamList = z
  .string()
  .transform((text, context) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      context.addIssue({ code: 'custom', message: 'must be a JSON list of upstreams' });
      return z.NEVER;
    }
  })
  .pipe(z.array(upstreamEntry).min(1, 'must list at least one upstream'))
  .optional();

export const settings = {
  nodeEnv: {
    env: 'NODE_ENV',
    schema: z.enum(['development', 'production', 'test']),
    defaultValue: 'development',
    description: '`production` enforces the production rules: https issuer, no dev upstream, explicit secrets.',
  },
  port: {
    env: 'PORT',
    schema: z.coerce.number().int().min(0).max(65535),
    defaultValue: '3000',
    description: 'TCP port the broker listens on (0 picks a free port).',
  },
  host: {
    env: 'HOST',
    schema: z.string().optional(),
    description: 'Interface to bind; unset binds every interface.',
  },
  issuer: {
    env: 'ISSUER',
    schema: z.string().url(),
    defaultValue: 'http://localhost:3000',
    description: 'Public base URL of the broker; the `iss` of every token. Must be https in production (loopback excepted).',
  },
  trustProxy: {
    env: 'TRUST_PROXY',
    schema: booleanFlag,
    defaultValue: 'false',
    description: 'Trust `X-Forwarded-*` headers from a TLS-terminating load balancer.',
  },
  databaseUrl: {
    env: 'DATABASE_URL',
    schema: z.string().regex(/^(sqlite:|postgres:\/\/|postgresql:\/\/)/, 'must start with sqlite: or postgres://'),
    defaultValue: 'sqlite:var/broker.sqlite',
    description: '`sqlite:PATH` (default, one instance) or `postgres://…` (several instances).',
    secret: true,
  },
  databasePoolMax: {
    env: 'DATABASE_POOL_MAX',
    schema: positiveInteger,
    defaultValue: '10',
    description: 'Largest number of PostgreSQL connections per instance (SQLite always uses one): a third of them, at most 4, carry the pipelined token and session statements, the rest are the pool.',
  },
  upstream: {
    env: 'UPSTREAM',
    schema: z.enum(['dev', 'oidc', 'microsoft']),
    defaultValue: 'dev',
    description: 'The one upstream identity provider, unless `UPSTREAMS` lists several: `dev` (embedded, development only), `oidc` (any OpenID provider) or `microsoft` (Microsoft personal accounts).',
  },
  upstreams: {
    env: 'UPSTREAMS',
    schema: upstreamList,
    description:
      'Several upstreams, as a JSON list (in `CONFIG_FILE`, a list under this key); replaces `UPSTREAM` and the `UPSTREAM_*` settings. Each entry: `id` (stored with every identity it signs in: do not rename), `kind` (`microsoft`, `microsoft-work`, `oidc`, `dev`), `clientId`, `clientSecret`, and as needed `issuer`, `name` (the button’s text, required for `oidc`), `tenants` (allowed Entra ID tenant ids, required for `microsoft-work`), `domains` (email domains whose `login_hint` picks it), `signUpUrl`, `passwordResetUrl`. See [Several upstreams](#several-upstreams).',
    secret: true,
  },
  upstreamIssuer: {
    env: 'UPSTREAM_ISSUER',
    schema: optionalUrl,
    description: 'Issuer of the `oidc` upstream (discovered through `/.well-known/openid-configuration`). The `microsoft` preset defaults to `https://login.microsoftonline.com/consumers/v2.0`.',
  },
  upstreamClientId: {
    env: 'UPSTREAM_CLIENT_ID',
    schema: z.string().min(1).optional(),
    description: 'Client id of the broker at the upstream (the app registration).',
  },
  upstreamClientSecret: {
    env: 'UPSTREAM_CLIENT_SECRET',
    schema: z.string().min(1).optional(),
    description: 'Client secret of the broker at the upstream.',
    secret: true,
  },
  upstreamSignUpUrl: {
    env: 'UPSTREAM_SIGN_UP_URL',
    schema: optionalUrl,
    description: 'Where the sign-in page sends people who need a Microsoft account (guide step 1).',
  },
  upstreamPasswordResetUrl: {
    env: 'UPSTREAM_PASSWORD_RESET_URL',
    schema: optionalUrl,
    description: 'Where the sign-in page sends people who forgot their password (guide step 1).',
  },
  smtpUrl: {
    env: 'SMTP_URL',
    schema: z.string().regex(/^smtps?:\/\//, 'must start with smtp:// or smtps://').optional(),
    description: 'SMTP server for outgoing mail, over a pool of up to 5 kept-open connections (URL parameters such as `?pool=false` or `?maxConnections=2` override); unset keeps mail in the dev mailbox.',
    secret: true,
  },
  mailFrom: {
    env: 'MAIL_FROM',
    schema: z.string().min(3),
    defaultValue: 'MBS Identity <no-reply@localhost>',
    description: 'Sender of the emails the broker sends.',
  },
  supportEmail: {
    env: 'SUPPORT_EMAIL',
    schema: z.string().regex(/^[^\s@]+@[^\s@]+$/, 'must be an email address'),
    defaultValue: 'support@localhost',
    description: 'Address people write to when they do not know their MBS email (guide step 4).',
  },
  adminToken: {
    env: 'ADMIN_TOKEN',
    schema: z.string().min(1).optional(),
    description: 'Bearer token(s) for the admin API, comma-separated to allow rotation. Required in production.',
    secret: true,
  },
  adminInvitationTtl: {
    env: 'ADMIN_INVITATION_TTL',
    schema: positiveInteger,
    defaultValue: '259200',
    description: 'Lifetime of an admin console invitation link, in seconds (3 days).',
  },
  consoleIdleTimeout: {
    env: 'CONSOLE_IDLE_TIMEOUT',
    schema: positiveInteger,
    defaultValue: '900',
    description: 'The admin console signs an admin out after this many seconds without a request (15 minutes).',
  },
  consoleRecentSignIn: {
    env: 'CONSOLE_RECENT_SIGN_IN',
    schema: positiveInteger,
    defaultValue: '300',
    description: 'Sensitive console actions (key and secret rotation, role changes, bind on behalf) need an upstream sign-in at most this many seconds old; older, the console asks the broker to re-authenticate (`max_age`).',
  },
  keyEncryptionKey: {
    env: 'KEY_ENCRYPTION_KEY',
    schema: z.string().min(32, 'must be at least 32 characters').optional(),
    description: 'Secret under which the broker seals what it keeps at rest and must read back: queued emails’ bodies, private signing keys, cookie keys (AES-256-GCM, one HKDF-derived key per purpose); the secret of [pairwise subjects](#pairwise-subjects) is derived from it too, so changing it changes them. Required in production; unset elsewhere, a development key is generated (see [Secrets at rest](#secrets-at-rest)).',
    secret: true,
  },
  accessTokenTtl: {
    env: 'ACCESS_TOKEN_TTL',
    schema: positiveInteger,
    defaultValue: '3600',
    description: 'Access token lifetime in seconds.',
  },
  idTokenTtl: {
    env: 'ID_TOKEN_TTL',
    schema: positiveInteger,
    defaultValue: '3600',
    description: 'ID token lifetime in seconds.',
  },
  refreshTokenTtl: {
    env: 'REFRESH_TOKEN_TTL',
    schema: positiveInteger,
    defaultValue: '1209600',
    description: 'Refresh token lifetime in seconds (14 days).',
  },
  sessionTtl: {
    env: 'SESSION_TTL',
    schema: positiveInteger,
    defaultValue: '1209600',
    description: 'Broker session lifetime in seconds (14 days).',
  },
  interactionTtl: {
    env: 'INTERACTION_TTL',
    schema: positiveInteger,
    defaultValue: '3600',
    description: 'How long a sign-in may take, in seconds, before the user has to start again.',
  },
  keyRefreshInterval: {
    env: 'KEY_REFRESH_INTERVAL',
    schema: positiveInteger,
    defaultValue: '30',
    description: 'Seconds between checks for signing and cookie keys rotated by another instance; the most a rotation takes to reach every instance.',
  },
  sweepInterval: {
    env: 'SWEEP_INTERVAL',
    schema: positiveInteger,
    defaultValue: '300',
    description: 'Seconds between sweeps of expired tokens, sessions and flows.',
  },
  partnerSourceUrl: {
    env: 'PARTNERSOURCE_URL',
    schema: optionalUrl,
    description: 'Address of the PartnerSource portal, linked from the association success page.',
  },
  customerSourceUrl: {
    env: 'CUSTOMERSOURCE_URL',
    schema: optionalUrl,
    description: 'Address of the CustomerSource portal, linked from the association success page.',
  },
  demoPortals: {
    env: 'DEMO_PORTALS',
    schema: booleanFlag.optional(),
    description: 'Run the PartnerSource and CustomerSource demo portals beside the broker and seed the demo profiles on first start. Unset: on when `NODE_ENV=development` and an upstream is the dev upstream (`UPSTREAM=dev`, the default). Refused in production.',
  },
  partnerSourceDemoPort: {
    env: 'PARTNERSOURCE_DEMO_PORT',
    schema: z.coerce.number().int().min(1).max(65535),
    defaultValue: '3001',
    description: 'Port of the PartnerSource demo portal (on the issuer’s host name).',
  },
  customerSourceDemoPort: {
    env: 'CUSTOMERSOURCE_DEMO_PORT',
    schema: z.coerce.number().int().min(1).max(65535),
    defaultValue: '3002',
    description: 'Port of the CustomerSource demo portal (on the issuer’s host name).',
  },
  auditRetention: {
    env: 'AUDIT_RETENTION_DAYS',
    schema: positiveInteger,
    defaultValue: '365',
    description: 'Days audit events are kept; older ones are deleted by the sweeper.',
  },
  metricsToken: {
    env: 'METRICS_TOKEN',
    schema: z.string().min(16, 'must be at least 16 characters').optional(),
    description: 'When set, `/metrics` answers only requests with `Authorization: Bearer <token>`.',
    secret: true,
  },
  shutdownGracePeriod: {
    env: 'SHUTDOWN_GRACE_PERIOD',
    schema: positiveInteger,
    defaultValue: '10',
    description: 'Seconds SIGTERM waits for in-flight requests and the email batch in hand before the process exits anyway.',
  },
  outboxStuckAfter: {
    env: 'OUTBOX_STUCK_AFTER',
    schema: positiveInteger,
    defaultValue: '900',
    description: 'Seconds an email may be overdue before `/readyz` reports the outbox stuck.',
  },
  logFormat: {
    env: 'LOG_FORMAT',
    schema: z.enum(['json', 'pretty']).optional(),
    description: '`json` (one JSON object per line) or `pretty` (for people). Unset: pretty in development on a terminal, JSON otherwise.',
  },
  linkTtl: {
    env: 'LINK_TTL',
    schema: positiveInteger,
    defaultValue: '86400',
    description: 'Lifetime of an association link, in seconds (24 hours).',
  },
  linkRequestsPerHour: {
    env: 'LINK_REQUESTS_PER_HOUR',
    schema: positiveInteger,
    defaultValue: '5',
    description: 'Association emails a person may ask for per hour, counted per upstream identity and per email address (four times as many per client IP).',
  },
  outboxClaimTimeout: {
    env: 'OUTBOX_CLAIM_TIMEOUT',
    schema: positiveInteger,
    defaultValue: '5',
    description: 'Seconds a claim on emails taken for delivery lasts unless renewed; the instance renews it every third of this while it delivers, however long SMTP takes. Emails held by an instance that died go out through another (or the restarted one on PostgreSQL) once it lapses; a broker restarted on SQLite takes its predecessor’s at once.',
  },
  outboxRetryFirst: {
    env: 'OUTBOX_RETRY_FIRST',
    schema: positiveInteger,
    defaultValue: '10',
    description: 'Seconds before a failed email is tried again the first time; each next wait doubles, up to `OUTBOX_RETRY_LONGEST`. An email that first failed N s before the mail server came back goes out within min(N + this, `OUTBOX_RETRY_LONGEST`) s of its return.',
  },
  outboxRetryLongest: {
    env: 'OUTBOX_RETRY_LONGEST',
    schema: positiveInteger,
    defaultValue: '300',
    description: 'Longest wait, in seconds, between two attempts at a failed email. An email is given up (`outbox retry` sends it again) after 40 failed attempts: about 3 hours with the defaults.',
  },
  outboxInterval: {
    env: 'OUTBOX_INTERVAL',
    schema: positiveInteger,
    defaultValue: '1000',
    description: 'Milliseconds between outbox rounds, which pick up mail queued by other instances and retries; mail this instance queues goes out as soon as it is committed.',
  },
  logLevel: {
    env: 'LOG_LEVEL',
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    defaultValue: 'info',
    description: 'Log level.',
  },
} satisfies Record<string, SettingDefinition>;

export type SettingName = keyof typeof settings;
