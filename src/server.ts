// Composition root of the broker: opens the store, makes sure keys exist,
// builds the upstream, the provider and the interaction routes, and wires
// them into one Koa application. No logic of its own beyond the wiring.
import type { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa, { type Context, type Next } from 'koa';
import compose from 'koa-compose';
import mount from 'koa-mount';
import type Provider from 'oidc-provider';
import { systemClock, type Clock } from './clock.ts';
import { adminTokens, demoPortalsEnabled, type Config } from './config/config.ts';
import { resolveKeyEncryptionKey } from './config/keyEncryptionKey.ts';
import { adminApi } from './admin/adminApi.ts';
import { ClientAdministration } from './admin/clientAdministration.ts';
import { DirectoryAdministration } from './admin/directoryAdministration.ts';
import { demoPortalUrl, startDemoPortals, type RunningDemoPortals } from './demo/demoPortals.ts';
import { createCsrfTokens } from './flows/csrf.ts';
import { createPageRenderer, pageLocale, stylesheet } from './web/pages.ts';
import { signInRoutes, upstreamCallbackPath } from './flows/signIn.ts';
import { associationRoutes } from './flows/association.ts';
import { Outbox } from './mail/outbox.ts';
import { createEmailRenderer } from './mail/render.ts';
import { DevMailbox, createSmtpTransport, smtpPool, type MailTransport } from './mail/transport.ts';
import { OutboxWorker } from './mail/worker.ts';
import { createLogger, type Logger } from './logging.ts';
import { KeyManager } from './provider/keys.ts';
import { LiveProvider } from './provider/liveProvider.ts';
import { clientMetadata, createProvider, issueInitialAccessToken, notifyBackchannelLogout } from './provider/provider.ts';
import { brandingPortal } from './directory/portals.ts';
import { openDatabase, reportCheckpointFailures, withExclusiveLock, type Database } from './store/database.ts';
import { createStore } from './store/knexStore.ts';
import { cachedClients } from './store/clientCache.ts';
import { migrateToLatest, pendingMigrations } from './store/migrations.ts';
import { BrokerMetrics } from './operations/metrics.ts';
import { healthRoutes } from './operations/health.ts';
import { requestLogging } from './operations/requestLogging.ts';
import { constantTimeEqual, isSecretHash } from './secrets.ts';
import { createSealer } from './sealing.ts';
import { createOidcAdapter, revokeAccount, sessionsOfAccount } from './store/oidcAdapter.ts';
import { accountCallbackPath, accountClientId, accountRoutes } from './flows/account.ts';
import type { Store } from './store/store.ts';
import type { Portal } from './store/records.ts';
import { createDevUpstream } from './upstream/devUpstream.ts';
import { createUpstream } from './upstream/index.ts';
import { adviseRetryWhenUnavailable, errorPageContext, renderErrors } from './web/errorAnswers.ts';
import { refuseUnimplementedMethods } from './web/methods.ts';
import { securityHeaders } from './web/securityHeaders.ts';
import type { Upstream } from './upstream/upstream.ts';

/** oidc-provider routes served without passing the broker's own routes (see the app below). */
const directProviderRoutes = ['token', 'userinfo', 'introspection', 'revocation', 'jwks', 'authorization', 'end_session'] as const;

/** How long a client read from the database is reused (changes made elsewhere show within it). */
const clientCacheMilliseconds = 2000;

/** Where the dev upstream lives inside the broker when UPSTREAM=dev. */
export const devUpstreamPath = '/dev/upstream';
export const devUpstreamClientId = 'mbs-broker';
// The dev upstream runs only outside production and inside this process, so a
// fixed secret protects nothing and keeps several dev instances consistent.
const devUpstreamClientSecret = 'dev-upstream-secret-not-for-production';

export interface BrokerOptions {
  config: Config;
  clock?: Clock;
  logger?: Logger;
  /** Replaces the upstream named by the configuration (tests). */
  upstream?: Upstream;
}

export interface Broker {
  app: Koa;
  provider: Provider;
  store: Store;
  database: Database;
  keys: KeyManager;
  /** The cookie keys this instance uses now, the first one signing (they follow rotations in place). */
  cookieKeys: readonly string[];
  logger: Logger;
  outbox: Outbox;
  outboxWorker: OutboxWorker;
  /** Mail kept in memory when SMTP_URL is unset (development, tests). */
  devMailbox: DevMailbox | undefined;
  /** Starts listening on the configured port and host; resolves with the bound address. */
  listen(): Promise<{ port: number; server: Server }>;
  /** Stops listening (when listening) and closes the database. */
  close(): Promise<void>;
}

/** Where each portal lives, for the success page: as configured, else the demo portals. */
function portalUrls(config: Config, demos: boolean): Partial<Record<Portal, string>> {
  const configured: Partial<Record<Portal, string>> = {
    ...(config.partnerSourceUrl ? { partnersource: config.partnerSourceUrl } : {}),
    ...(config.customerSourceUrl ? { customersource: config.customerSourceUrl } : {}),
  };
  if (!demos) return configured;
  return {
    partnersource: `${demoPortalUrl(config.issuer, config.partnerSourceDemoPort)}/`,
    customersource: `${demoPortalUrl(config.issuer, config.customerSourceDemoPort)}/`,
    ...configured,
  };
}

/** oidc-provider's events as log lines: errors at warn (server errors at error), the rest at debug. */
function logProviderEvents(provider: Provider, logger: Logger): void {
  provider.on('server_error', (_ctx, error) => logger.error({ err: error }, 'oidc-provider server error'));
  const errorEvents = [
    'authorization.error',
    'grant.error',
    'end_session.error',
    'userinfo.error',
    'introspection.error',
    'revocation.error',
    'registration_create.error',
    'registration_read.error',
    'registration_update.error',
    'registration_delete.error',
    'backchannel.error',
    'discovery.error',
    'jwks.error',
    'pushed_authorization_request.error',
  ] as const;
  const events = provider as unknown as EventEmitter;
  for (const event of errorEvents) {
    events.on(event, (ctx: { oidc?: { client?: { clientId?: string } } }, error: { error?: string; error_description?: string; error_detail?: string; message?: string }) => {
      logger.warn({ event, clientId: ctx?.oidc?.client?.clientId, error: error?.error, description: error?.error_description ?? error?.message, detail: error?.error_detail }, `oidc-provider ${event}`);
    });
  }
  provider.on('grant.success', (ctx: { oidc?: { client?: { clientId?: string } } }) => logger.debug({ event: 'grant.success', clientId: ctx?.oidc?.client?.clientId }, 'token issued'));
  provider.on('end_session.success', (ctx: { oidc?: { client?: { clientId?: string } } }) => logger.info({ event: 'end_session.success', clientId: ctx?.oidc?.client?.clientId }, 'signed out'));
  provider.on('grant.revoked', (_ctx: unknown, grantId: string) => logger.info({ event: 'grant.revoked', grantId }, 'grant revoked'));
}

/**
 * Client secrets are stored hashed: RFC 7592 reads and updates of a
 * registration must not echo the stored hash as if it were the secret (the
 * secret itself was returned once, at registration).
 */
async function hideStoredClientSecrets(ctx: Context, next: Next): Promise<void> {
  await next();
  if (!ctx.path.startsWith('/reg/') || typeof ctx.body !== 'object' || ctx.body === null) return;
  const body = ctx.body as Record<string, unknown>;
  if (typeof body.client_secret === 'string' && isSecretHash(body.client_secret)) {
    delete body.client_secret;
    delete body.client_secret_expires_at;
  }
}

/** GET /metrics in Prometheus text format, behind a bearer token when one is configured. */
function metricsRoute(metrics: BrokerMetrics, token: string | undefined) {
  return async function serveMetrics(ctx: Context, next: Next): Promise<void> {
    if (ctx.path !== '/metrics' || ctx.method !== 'GET') return next();
    if (token) {
      const presented = /^Bearer (.+)$/.exec(ctx.get('authorization'))?.[1] ?? '';
      if (!constantTimeEqual(presented, token)) {
        ctx.status = 401;
        ctx.set('WWW-Authenticate', 'Bearer realm="metrics"');
        ctx.body = { error: 'unauthorized', error_description: 'This endpoint needs the metrics token.' };
        return;
      }
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.type = metrics.contentType();
    ctx.body = await metrics.text();
  };
}

export async function createBroker(options: BrokerOptions): Promise<Broker> {
  const database = openDatabase({ url: options.config.databaseUrl, poolMax: options.config.databasePoolMax });
  try {
    return await assembleBroker(options, database);
  } catch (error) {
    // A broker that failed to start holds no connections: the process can exit.
    await database.destroy().catch(() => undefined);
    throw error;
  }
}

async function assembleBroker(options: BrokerOptions, database: Database): Promise<Broker> {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const logger =
    options.logger ?? createLogger({ level: config.logLevel, pretty: config.logFormat ? config.logFormat === 'pretty' : config.nodeEnv === 'development' && process.stdout.isTTY });
  const issuer = config.issuer.replace(/\/$/, '');

  // Secrets at rest are sealed under it; outside production one is made if none is set.
  const keyEncryption = resolveKeyEncryptionKey(config);
  if (typeof keyEncryption.source === 'object' && keyEncryption.source.created) {
    logger.warn({ file: keyEncryption.source.file }, 'KEY_ENCRYPTION_KEY is not set: generated a development key in this file (production refuses to start without KEY_ENCRYPTION_KEY)');
  }
  await migrateToLatest(database, { keyEncryptionKey: keyEncryption.key });
  let outboxForMetrics: Outbox | undefined;
  const metrics = new BrokerMetrics({ outboxDepth: async () => (outboxForMetrics ? outboxForMetrics.pendingCount() : 0) });
  metrics.observeDatabase(database);
  reportCheckpointFailures(database, logger, () => metrics.checkpointFailed());
  const store = createStore(database, clock, metrics);
  // Read on every request; changes through this process evict at once.
  store.clients = cachedClients(store.clients, clientCacheMilliseconds);
  // A key rotated on any instance is read by all within one refresh interval;
  // it signs only after two, so that no instance meets a token or cookie it
  // cannot verify yet.
  const keys = new KeyManager({
    signingKeys: store.signingKeys,
    cookieKeys: store.cookieKeys,
    keyEncryptionKey: keyEncryption.key,
    clock,
    activationDelay: 2 * config.keyRefreshInterval * 1000,
  });
  // Instances starting together on one database: one at a time creates what is missing.
  await withExclusiveLock(database, 'mbs-broker:startup', async () => {
    await keys.ensureKeys();
    // The account page signs people in as the broker's own first-party client.
    await new ClientAdministration(store.clients).registerOrReplace({
      id: accountClientId,
      name: 'Microsoft Dynamics account',
      portal: 'both',
      public: true,
      firstParty: true,
      redirectUris: [`${issuer}${accountCallbackPath}`],
      grantTypes: ['authorization_code'],
    });
  });
  const pages = createPageRenderer({ cache: config.nodeEnv !== 'development', supportEmail: config.supportEmail });

  const adapter = createOidcAdapter(database, { clients: store.clients, clientMetadata });
  let signingKeyCount = 0;
  const live = await LiveProvider.create({
    keys,
    build(jwks, cookieKeys) {
      signingKeyCount = jwks.keys.length;
      const built = createProvider({
        issuer,
        adapter,
        jwks,
        cookieKeys,
        ttl: {
          accessToken: config.accessTokenTtl,
          idToken: config.idTokenTtl,
          refreshToken: config.refreshTokenTtl,
          session: config.sessionTtl,
          interaction: config.interactionTtl,
        },
        accounts: store.accounts,
        profileBindings: store.profileBindings,
        pages,
        trustProxy: config.trustProxy,
        allowLoopbackRequests: config.nodeEnv !== 'production',
      });
      logProviderEvents(built, logger);
      // Sign-outs are audit events like sign-ins.
      built.on('end_session.success', (ctx) => {
        const accountId = ctx.oidc.session?.accountId;
        store.auditEvents
          .record({ type: 'logout', outcome: 'success', actor: 'user', ...(accountId ? { accountId } : {}), ...(ctx.oidc.client ? { clientId: ctx.oidc.client.clientId } : {}), ip: ctx.ip })
          .catch((error: unknown) => logger.error({ err: error }, 'recording a logout failed'));
      });
      return built;
    },
    onChange: (change) => logger.info(change, 'keys in force changed'),
  });
  const { provider } = live;

  const app = new Koa();
  app.proxy = config.trustProxy;
  app.silent = true;
  // Mounted oidc-provider signs its cookies with the host application's keys
  // (the live array: rotations land in place).
  app.keys = live.cookieSigner;

  let upstream = options.upstream;
  let devUpstream: Awaited<ReturnType<typeof createDevUpstream>> | undefined;
  if (!upstream) {
    if (config.upstream === 'dev') {
      const devIssuer = `${issuer}${devUpstreamPath}`;
      devUpstream = await createDevUpstream({
        issuer: devIssuer,
        cookieKeys: live.cookieKeys,
        // In the broker's database, so that every instance serves one dev upstream.
        // Sealed: its requests carry the broker's upstream state, its sessions the dev accounts.
        storage: createOidcAdapter(database, { namespace: 'DevUpstream', payloadSealer: createSealer(keyEncryption.key, 'dev-upstream-payload', 'the dev upstream’s records') }),
        clients: [{ clientId: devUpstreamClientId, clientSecret: devUpstreamClientSecret, redirectUris: [`${issuer}${upstreamCallbackPath}`] }],
      });
      upstream = createUpstream({
        kind: 'dev',
        issuer: devIssuer,
        clientId: devUpstreamClientId,
        clientSecret: devUpstreamClientSecret,
        signUpUrl: config.upstreamSignUpUrl ?? `${devIssuer}/help/sign-up`,
        passwordResetUrl: config.upstreamPasswordResetUrl ?? `${devIssuer}/help/password-reset`,
      });
    } else {
      upstream = createUpstream({
        kind: config.upstream,
        issuer: config.upstreamIssuer,
        clientId: config.upstreamClientId,
        clientSecret: config.upstreamClientSecret,
        signUpUrl: config.upstreamSignUpUrl,
        passwordResetUrl: config.upstreamPasswordResetUrl,
      });
    }
  }

  const demos = demoPortalsEnabled(config);
  const outbox = new Outbox(database, clock, keyEncryption.key, { claimMilliseconds: config.outboxClaimTimeout * 1000 });
  const devMailbox = config.smtpUrl ? undefined : new DevMailbox();
  const transport: MailTransport = config.smtpUrl ? createSmtpTransport(config.smtpUrl) : devMailbox!;
  outboxForMetrics = outbox;
  const outboxWorker = new OutboxWorker({
    outbox,
    transport,
    clock,
    logger,
    from: config.mailFrom,
    observer: metrics,
    concurrency: smtpPool.maxConnections,
    retry: { firstMilliseconds: config.outboxRetryFirst * 1000, longestMilliseconds: config.outboxRetryLongest * 1000 },
  });
  const csrf = createCsrfTokens(live.cookieKeys);
  const emailRenderer = createEmailRenderer({ cache: config.nodeEnv !== 'development' });
  const association = associationRoutes({
    provider,
    upstream,
    store,
    outbox,
    emails: emailRenderer,
    pages,
    csrf,
    clock,
    logger,
    issuer,
    supportEmail: config.supportEmail,
    flowTtl: config.interactionTtl * 1000,
    linkTtl: config.linkTtl * 1000,
    upstreamTransactionTtl: 10 * 60 * 1000,
    linkRequestsPerHour: config.linkRequestsPerHour,
    portalUrls: portalUrls(config, demos),
  });

  const signIn = signInRoutes({
    provider,
    upstream,
    store,
    pages,
    csrf,
    clock,
    logger,
    issuer,
    supportEmail: config.supportEmail,
    upstreamTransactionTtl: 10 * 60 * 1000,
    onNotAssociated: association.onNotAssociated,
  });

  const css = stylesheet();
  // Answers anyone may cache: everything else is no-store (see src/web/securityHeaders.ts).
  const publicPaths = new Set(['/.well-known/openid-configuration', new URL(provider.urlFor('jwks')).pathname, `${devUpstreamPath}/.well-known/openid-configuration`, `${devUpstreamPath}/jwks`]);
  app.use(requestLogging(logger, metrics));
  app.use(securityHeaders({ isPublic: (path) => publicPaths.has(path) || path.startsWith('/static/'), mayBeFramed: (path) => path.startsWith(devUpstreamPath) }));
  app.use(adviseRetryWhenUnavailable());
  app.use(renderErrors(pages, logger, errorPageContext(provider)));
  app.use(refuseUnimplementedMethods);
  app.use(
    healthRoutes({
      probes: {
        databaseReachable: async () => {
          await database.raw('select 1');
        },
        pendingMigrations: () => pendingMigrations(database),
        signingKeys: () => signingKeyCount,
        oldestOverdueEmail: () => outbox.oldestOverdue(),
        mailServer: () => outboxWorker.mailServerStatus(),
      },
      clock,
      outboxStuckAfter: config.outboxStuckAfter * 1000,
      checkTimeout: 2000,
    }),
  );
  app.use(metricsRoute(metrics, config.metricsToken));
  // The token, userinfo, introspection and other endpoints that relying parties
  // call most go straight to the provider: none of the broker's own routes
  // below answers them.
  const providerChain = compose([hideStoredClientSecrets, live.middleware()]);
  const providerPaths = new Set(directProviderRoutes.map((route) => new URL(provider.urlFor(route)).pathname));
  app.use((ctx, next) => (providerPaths.has(ctx.path) ? providerChain(ctx, next) : next()));
  app.use(async (ctx, next) => {
    if (ctx.path !== '/static/broker.css') return next();
    ctx.type = 'text/css';
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = css;
  });
  const account = accountRoutes({
    provider,
    store,
    outbox,
    emails: emailRenderer,
    pages,
    csrf,
    issuer,
    supportEmail: config.supportEmail,
    async revokeAccount(accountId) {
      // Portals hear of it first (their logout tokens name the sessions), then everything goes.
      await notifyBackchannelLogout(provider, await sessionsOfAccount(database, accountId), (error, clientId) =>
        logger.warn({ clientId, err: (error as Error).message }, 'back-channel logout notice failed'),
      );
      return revokeAccount(database, accountId);
    },
  });
  app.use(account.routes());
  const admin = adminApi(
    {
      tokens: adminTokens(config),
      clients: store.clients,
      audit: store.auditEvents,
      directory: new DirectoryAdministration(store),
      outbox,
      logger,
      issueInitialAccessToken: (portal, expiresIn) => issueInitialAccessToken(provider, portal, expiresIn),
      keys: {
        list: () => keys.list(),
        // This instance publishes the new keys at once; the others within one refresh interval.
        async rotateSigningKeys() {
          const rotated = await keys.rotate();
          await live.refresh();
          return rotated;
        },
        async rotateCookieKey() {
          await keys.rotateCookieKey();
          await live.refresh();
        },
      },
    },
    issuer,
  );
  app.use(admin.router.routes());
  app.use(admin.notFound);
  app.use(association.router.routes());
  app.use(signIn.routes());
  app.use(signIn.allowedMethods());
  if (devMailbox && config.nodeEnv !== 'production') {
    app.use(async (ctx, next) => {
      if (ctx.path !== '/dev/mail') return next();
      ctx.type = 'html';
      ctx.body = pages.render(
        'dev-mailbox.eta',
        {
          titleKey: 'dev_mailbox.title',
          messages: devMailbox.messages().map((message) => ({ ...message, links: [...message.text.matchAll(/https?:\/\/\S+/g)].map((match) => match[0]), delivered: new Date(message.deliveredAt).toISOString() })),
        },
        { locale: pageLocale(ctx) },
      );
    });
  }
  if (devUpstream) app.use(mount(devUpstreamPath, devUpstream.app));
  app.use(hideStoredClientSecrets);
  app.use(live.middleware());

  const sweeper = setInterval(() => {
    store.sweepExpired({ auditRetentionMilliseconds: config.auditRetention * 24 * 60 * 60 * 1000 }).catch((error: unknown) => logger.error({ err: error }, 'sweeping expired rows failed'));
  }, config.sweepInterval * 1000);
  sweeper.unref();
  live.start(config.keyRefreshInterval, (error) => logger.error({ err: error }, 'reading the keys in force failed'));
  const released = await outbox.releaseClaimsOfPredecessor();
  if (released > 0) logger.warn({ emails: released }, 'took over the emails the previous process had claimed');
  outboxWorker.start(config.outboxInterval);

  let server: Server | undefined;
  let demoPortals: RunningDemoPortals | undefined;
  return {
    app,
    provider,
    store,
    database,
    keys,
    cookieKeys: live.cookieKeys,
    logger,
    outbox,
    outboxWorker,
    devMailbox,
    async listen() {
      // The demo portals first: once the broker answers, everything a newcomer opens does.
      if (demos) {
        demoPortals = await startDemoPortals({
          issuer,
          host: config.host,
          ports: { partnersource: config.partnerSourceDemoPort, customersource: config.customerSourceDemoPort },
          clients: new ClientAdministration(store.clients),
          directory: new DirectoryAdministration(store),
          mailboxUrl: devMailbox ? `${issuer}/dev/mail` : undefined,
          logger,
        });
      }
      server = createServer(app.callback());
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(config.port, config.host, () => resolve());
      });
      return { port: (server.address() as AddressInfo).port, server };
    },
    async close() {
      // Stop taking work, let requests and the email batch in hand finish
      // (cut short after the grace period), then close the database.
      clearInterval(sweeper);
      live.stop();
      const closing = server;
      const requestsDone = closing ? new Promise<void>((resolve) => closing.close(() => resolve())) : Promise.resolve();
      closing?.closeIdleConnections();
      const grace = setTimeout(() => {
        logger.warn({ gracePeriodSeconds: config.shutdownGracePeriod }, 'grace period over: closing the connections still open');
        closing?.closeAllConnections();
      }, config.shutdownGracePeriod * 1000);
      grace.unref();
      await Promise.all([requestsDone, outboxWorker.stop(), demoPortals?.close()]);
      clearTimeout(grace);
      transport.close();
      await emailRenderer.close();
      await database.destroy();
    },
  };
}
