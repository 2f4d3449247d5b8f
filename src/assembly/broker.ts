// The broker's assembly: opens the store, makes sure keys exist, builds the
// upstream, the provider, the mail and the routes, and wires them into one
// Koa application. The process entry (server.ts) and `mbs-broker serve` both
// start it; tests start it in-process. Behaviour lives in the rooms it wires.
import type { Server } from 'node:http';
import Koa from 'koa';
import mount from 'koa-mount';
import type Provider from 'oidc-provider';
import type { Acting } from '../admin/acting.ts';
import { storedAdminToken } from '../admin/adminAccess.ts';
import { adminServices, type AdminServiceParts, type AdminServices } from '../admin/adminServices.ts';
import { adminApi } from '../admin/adminApi.ts';
import { ClientAdministration } from '../admin/clientAdministration.ts';
import { DirectoryAdministration } from '../admin/directoryAdministration.ts';
import { ProfileImportJobs } from '../admin/profileImportJobs.ts';
import { systemClock, type Clock } from '../clock.ts';
import { adminTokens, demoPortalsEnabled, type Config } from '../config/config.ts';
import { consoleCallbackPath, consoleClientId, consoleHeaders, consoleRoutes } from '../console/consoleRoutes.ts';
import { demoAdminAccountName, grantDemoAdmin } from '../demo/demoAdmin.ts';
import { demoPortalUrl, startDemoPortals, type RunningDemoPortals } from '../demo/demoPortals.ts';
import { devSubject } from '../upstream/devUpstream.ts';
import { accountCallbackPath, accountClientId, accountRoutes } from '../flows/account.ts';
import { associationRoutes } from '../flows/association.ts';
import type { AssociationService } from '../flows/associationService.ts';
import { createCsrfTokens } from '../web/csrf.ts';
import { consoleScript, createPageRenderer, stylesheet, type PageRenderer } from '../web/pages.ts';
import { signInRoutes } from '../flows/signIn.ts';
import { upstreamCallbackPath } from '../flows/interactions.ts';
import { createLogger, type Logger } from '../logging.ts';
import { Outbox } from '../mail/outbox.ts';
import { createEmailRenderer } from '../mail/render.ts';
import { DevMailbox, createSmtpTransport, smtpPool, type MailTransport } from '../mail/transport.ts';
import { OutboxWorker } from '../mail/worker.ts';
import { healthRoutes } from '../operations/health.ts';
import { drain, listenOn, startBackgroundWork } from '../operations/lifecycle.ts';
import { BrokerMetrics } from '../operations/metrics.ts';
import { metricsRoute } from '../operations/metricsRoute.ts';
import { requestLogging } from '../operations/requestLogging.ts';
import { traceRequests, tracingStarted } from '../operations/tracing.ts';
import type { KeyManager } from '../provider/keys.ts';
import { LiveProvider } from '../provider/liveProvider.ts';
import { issueInitialAccessToken, notifyBackchannelLogout } from '../provider/provider.ts';
import { auditLogouts, logProviderEvents } from '../provider/providerEvents.ts';
import { hideStoredClientSecrets } from '../provider/registrationSecrets.ts';
import { createSealer } from '../sealing.ts';
import type { Portal } from '../domain/records.ts';
import { cachedClients } from '../store/clientCache.ts';
import { openDatabase, reportCheckpointFailures, withExclusiveLock, type Database } from '../store/database.ts';
import { pendingMigrations } from '../store/migrations.ts';
import { createOidcAdapter, liveSessionsOfAccount, revokeAccount, sessionsOfAccount } from '../store/oidcAdapter.ts';
import type { Store } from '../store/store.ts';
import { chooseUpstreams, devUpstreamPath, type UpstreamChoice } from '../upstream/choice.ts';
import type { UpstreamFetch } from '../upstream/oidcUpstream.ts';
import type { Upstreams } from '../upstream/upstreams.ts';
import { consoleScriptRoute, devMailboxRoute, stylesheetRoute } from '../web/assetRoutes.ts';
import { adviseRetryWhenUnavailable, errorPageContext, renderErrors } from '../web/errorAnswers.ts';
import { refuseUnimplementedMethods } from '../web/methods.ts';
import { securityHeaders } from '../web/securityHeaders.ts';
import { issuerOf, openStorage, providerBuilder, type Storage } from './parts.ts';

/** oidc-provider routes served without passing the broker's own routes (see composeApp). */
const directProviderRoutes = ['token', 'userinfo', 'introspection', 'revocation', 'jwks', 'authorization', 'end_session'] as const;

/** How long a client read from the database is reused (changes made elsewhere show within it). */
const clientCacheMilliseconds = 2000;

/** How long a sign-in may stay at the upstream. */
const upstreamTransactionMilliseconds = 10 * 60 * 1000;

export interface BrokerOptions {
  config: Config;
  clock?: Clock;
  logger?: Logger;
  /**
   * The HTTP client the upstreams' discovery, token and key requests use
   * (tests: Microsoft's host name routed to a local imitation). Code only:
   * no setting reaches it, so a production configuration cannot turn it on.
   */
  upstreamFetch?: UpstreamFetch;
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
  /** The administration services acting for one actor, as the admin API and the console use them. */
  administration: ServicesFor;
  /** Starts listening on the configured port and host; resolves with the bound address. */
  listen(): Promise<{ port: number; server: Server }>;
  /** Stops listening (when listening) and closes the database. */
  close(): Promise<void>;
}

/** What the assembly functions below pass each other. */
interface Parts {
  config: Config;
  clock: Clock;
  logger: Logger;
  issuer: string;
  database: Database;
  storage: Storage;
  metrics: BrokerMetrics;
  pages: PageRenderer;
  live: LiveProvider;
  signingKeyCount: () => number;
}

type Mail = ReturnType<typeof createMail>;

/** The administration services acting for one actor. */
type ServicesFor = (acting: Acting) => AdminServices;

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
  const logger = options.logger ?? createLogger({ level: config.logLevel, pretty: config.logFormat ? config.logFormat === 'pretty' : config.nodeEnv === 'development' && process.stdout.isTTY });
  const issuer = issuerOf(config);
  let mail: Mail | undefined;
  const metrics = new BrokerMetrics({ outboxDepth: async () => (mail ? mail.outbox.pendingCount() : 0) });
  metrics.observeDatabase(database);
  reportCheckpointFailures(database, logger, () => metrics.checkpointFailed());
  const storage = await openStorage(config, database, { clock, logger, observer: metrics });
  // Read on every request; changes through this process evict at once.
  storage.store.clients = cachedClients(storage.store.clients, clientCacheMilliseconds);
  await prepareStartup(database, storage, issuer);
  const pages = createPageRenderer({ cache: config.nodeEnv !== 'development', supportEmail: config.supportEmail });
  const provided = await startLiveProvider(config, { database, storage, pages, logger });
  const parts: Parts = { config, clock, logger, issuer, database, storage, metrics, pages, ...provided };
  mail = createMail(parts);
  const upstreams = await chooseBrokerUpstreams(parts, options.upstreamFetch);
  const flows = flowRoutes(parts, mail, upstreams.upstreams);
  // The support desk resends association links through the flows' own service.
  const servicesFor = administration(parts, mail, flows.association.service);
  const app = composeApp(parts, mail, flows, upstreams.devUpstream, servicesFor);
  const stopBackgroundWork = await startBackgroundWork({ config, logger, sweepExpired: (sweep) => storage.store.sweepExpired(sweep), live: parts.live, outbox: mail.outbox, outboxWorker: mail.outboxWorker });
  return runningBroker(parts, mail, app, stopBackgroundWork, servicesFor);
}

/** Instances starting together on one database: one at a time creates what is missing. */
async function prepareStartup(database: Database, { keys, store }: Storage, issuer: string): Promise<void> {
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
    // And admins sign in to the console as another: its sign-ins need a console role, not a profile.
    await new ClientAdministration(store.clients).registerOrReplace({
      id: consoleClientId,
      name: 'Microsoft Dynamics admin console',
      portal: 'both',
      public: true,
      firstParty: true,
      redirectUris: [`${issuer}${consoleCallbackPath}`],
      grantTypes: ['authorization_code'],
    });
  });
}

/** The provider, rebuilt whenever the keys in force change, with its events logged and sign-outs audited. */
async function startLiveProvider(config: Config, parts: { database: Database; storage: Storage; pages: PageRenderer; logger: Logger }): Promise<{ live: LiveProvider; signingKeyCount: () => number }> {
  const { storage, logger } = parts;
  const build = providerBuilder(config, { database: parts.database, store: storage.store, keyEncryptionKey: storage.keyEncryptionKey, pages: parts.pages });
  let signingKeyCount = 0;
  const live = await LiveProvider.create({
    keys: storage.keys,
    build(jwks, cookieKeys) {
      signingKeyCount = jwks.keys.length;
      const built = build(jwks, cookieKeys);
      logProviderEvents(built, logger);
      auditLogouts(built, storage.store.auditEvents, logger);
      return built;
    },
    onChange: (change) => logger.info(change, 'keys in force changed'),
  });
  return { live, signingKeyCount: () => signingKeyCount };
}

/** The outbox, its transport (SMTP, else the in-memory dev mailbox) and the worker delivering it. */
function createMail({ config, database, clock, logger, metrics, storage }: Parts) {
  const outbox = new Outbox(database, clock, storage.keyEncryptionKey, { claimMilliseconds: config.outboxClaimTimeout * 1000 });
  const devMailbox = config.smtpUrl ? undefined : new DevMailbox();
  const transport: MailTransport = config.smtpUrl ? createSmtpTransport(config.smtpUrl) : devMailbox!;
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
  const emails = createEmailRenderer({ cache: config.nodeEnv !== 'development' });
  return { outbox, devMailbox, transport, outboxWorker, emails };
}

/** The upstreams configured; one of kind dev embeds the dev upstream, its records in the broker's database. */
async function chooseBrokerUpstreams({ config, issuer, database, storage, live }: Parts, upstreamFetch: UpstreamFetch | undefined): Promise<UpstreamChoice> {
  return chooseUpstreams(
    config,
    {
      issuer,
      redirectUri: `${issuer}${upstreamCallbackPath}`,
      cookieKeys: live.cookieKeys,
      // Sealed: its requests carry the broker's upstream state, its sessions the dev accounts.
      storage: createOidcAdapter(database, { namespace: 'DevUpstream', payloadSealer: createSealer(storage.keyEncryptionKey, 'dev-upstream-payload') }),
    },
    { fetch: upstreamFetch },
  );
}

/** Where each portal lives, for the success page: as configured, else the demo portals. */
function portalUrls(config: Config): Partial<Record<Portal, string>> {
  const configured: Partial<Record<Portal, string>> = {
    ...(config.partnerSourceUrl ? { partnersource: config.partnerSourceUrl } : {}),
    ...(config.customerSourceUrl ? { customersource: config.customerSourceUrl } : {}),
  };
  if (!demoPortalsEnabled(config)) return configured;
  return {
    partnersource: `${demoPortalUrl(config.issuer, config.partnerSourceDemoPort)}/`,
    customersource: `${demoPortalUrl(config.issuer, config.customerSourceDemoPort)}/`,
    ...configured,
  };
}

type FlowRoutes = ReturnType<typeof flowRoutes>;

/** The association, sign-in and account routes over one set of shared parts. */
function flowRoutes(parts: Parts, mail: Mail, upstreams: Upstreams) {
  const { config, clock, logger, issuer, pages } = parts;
  const { store } = parts.storage;
  const provider = parts.live.provider;
  const csrf = createCsrfTokens(parts.live.cookieKeys);
  const shared = { provider, store, pages, csrf, issuer, supportEmail: config.supportEmail };
  const association = associationRoutes({
    ...shared,
    upstreams,
    outbox: mail.outbox,
    emails: mail.emails,
    clock,
    logger,
    flowTtl: config.interactionTtl * 1000,
    linkTtl: config.linkTtl * 1000,
    upstreamTransactionTtl: upstreamTransactionMilliseconds,
    linkRequestsPerHour: config.linkRequestsPerHour,
    portalUrls: portalUrls(config),
  });
  const signIn = signInRoutes({
    ...shared,
    upstreams,
    clock,
    logger,
    upstreamTransactionTtl: upstreamTransactionMilliseconds,
    onNotAssociated: association.onNotAssociated,
    clientsWithoutProfiles: new Set([consoleClientId]),
  });
  const account = accountRoutes({
    ...shared,
    upstreams,
    clock,
    upstreamTransactionTtl: upstreamTransactionMilliseconds,
    outbox: mail.outbox,
    emails: mail.emails,
    revokeAccount: revokeEverywhere(parts),
  });
  return { association, signIn, account };
}

/** Ends an account's sessions, grants and tokens: the account page's "sign out everywhere" and the support desk's revoke. */
function revokeEverywhere({ database, logger, live }: Parts): (accountId: string) => Promise<number> {
  return async (accountId) => {
    // Portals hear of it first (their logout tokens name the sessions), then everything goes.
    await notifyBackchannelLogout(live.provider, await sessionsOfAccount(database, accountId), (error, clientId) =>
      logger.warn({ clientId, err: (error as Error).message }, 'back-channel logout notice failed'),
    );
    return revokeAccount(database, accountId);
  };
}

/** The administration services for one actor (the API's caller, the console's admin), over this broker's parts. */
function administration(broker: Parts, mail: Mail, association: AssociationService): ServicesFor {
  const { config, clock, issuer, storage, live, database } = broker;
  const parts: AdminServiceParts = {
    store: storage.store,
    clock,
    outbox: mail.outbox,
    emails: mail.emails,
    issuer,
    supportEmail: config.supportEmail,
    invitationTtl: config.adminInvitationTtl * 1000,
    issueInitialAccessToken: (portal, expiresIn) => issueInitialAccessToken(live.provider, portal, expiresIn),
    sessions: { list: (accountId) => liveSessionsOfAccount(database, accountId), revoke: revokeEverywhere(broker) },
    resendLink: (linkId, resend) => association.resendLink(linkId, resend),
    importJobs: new ProfileImportJobs(clock),
    keys: {
      list: () => storage.keys.list(),
      listCookieKeys: () => storage.keys.cookieKeyStatuses(),
      // This instance publishes the new keys at once; the others within one refresh interval.
      async rotateSigningKeys() {
        const rotated = await storage.keys.rotate();
        await live.refresh();
        return rotated;
      },
      async rotateCookieKey() {
        await storage.keys.rotateCookieKey();
        await live.refresh();
      },
    },
  };
  return (acting) => adminServices(parts, acting);
}

/** The admin API: ADMIN_TOKEN acts as admin, stored tokens with their role. */
function adminRoutes({ config, logger, issuer, storage }: Parts, servicesFor: ServicesFor) {
  return adminApi({ servicesFor, tokens: adminTokens(config), storedToken: (presented) => storedAdminToken(storage.store, presented), logger }, issuer);
}

/** The admin console, signing admins in through this broker's provider. */
function adminConsole({ config, clock, issuer, pages, live }: Parts, servicesFor: ServicesFor) {
  return consoleRoutes({
    provider: live.provider,
    issuer,
    clock,
    pages,
    csrf: createCsrfTokens(live.cookieKeys),
    servicesFor,
    idleTimeout: config.consoleIdleTimeout * 1000,
    recentSignIn: config.consoleRecentSignIn * 1000,
  });
}

/** Readiness probes: the database, migrations, keys and mail. */
function health({ config, clock, database, signingKeyCount }: Parts, mail: Mail) {
  return healthRoutes({
    probes: {
      databaseReachable: async () => {
        await database.raw('select 1');
      },
      pendingMigrations: () => pendingMigrations(database),
      signingKeys: signingKeyCount,
      oldestOverdueEmail: () => mail.outbox.oldestOverdue(),
      mailServer: () => mail.outboxWorker.mailServerStatus(),
    },
    clock,
    outboxStuckAfter: config.outboxStuckAfter * 1000,
    checkTimeout: 2000,
  });
}

/** The application: one middleware list, in the order a request meets it. */
function composeApp(parts: Parts, mail: Mail, flows: FlowRoutes, devUpstream: UpstreamChoice['devUpstream'], servicesFor: ServicesFor): Koa {
  const { config, logger, metrics, pages, live } = parts;
  const { provider } = live;
  const app = new Koa();
  app.proxy = config.trustProxy;
  app.silent = true;
  // Mounted oidc-provider signs its cookies with the host application's keys
  // (the live array: rotations land in place).
  app.keys = live.cookieSigner;
  const admin = adminRoutes(parts, servicesFor);
  const adminConsoleRoutes = adminConsole(parts, servicesFor);
  // Answers anyone may cache: everything else is no-store (see src/web/securityHeaders.ts).
  const publicPaths = new Set(['/.well-known/openid-configuration', new URL(provider.urlFor('jwks')).pathname, `${devUpstreamPath}/.well-known/openid-configuration`, `${devUpstreamPath}/jwks`]);
  // The token, userinfo, introspection and other endpoints that relying parties
  // call most go straight to the provider, right after the middleware every
  // answer needs: none of the broker's own routes (health and metrics
  // included) answers them, and none of them is a registration (/reg, whose
  // stored secrets hideStoredClientSecrets hides).
  const providerChain = live.middleware();
  const providerPaths = new Set(directProviderRoutes.map((route) => new URL(provider.urlFor(route)).pathname));
  // Only when the process exports traces: otherwise not even a no-op span per request.
  if (tracingStarted()) app.use(traceRequests());
  app.use(requestLogging(logger, metrics));
  app.use(securityHeaders({ isPublic: (path) => publicPaths.has(path) || path.startsWith('/static/'), mayBeFramed: (path) => path.startsWith(devUpstreamPath) }));
  app.use(adviseRetryWhenUnavailable());
  app.use(renderErrors(pages, logger, errorPageContext(provider)));
  app.use(refuseUnimplementedMethods);
  app.use((ctx, next) => (providerPaths.has(ctx.path) ? providerChain(ctx, next) : next()));
  app.use(health(parts, mail));
  app.use(metricsRoute(metrics, config.metricsToken));
  app.use(stylesheetRoute(stylesheet()));
  app.use(consoleScriptRoute(consoleScript()));
  app.use(flows.account.routes());
  app.use(admin.router.routes());
  app.use(admin.notFound);
  app.use(consoleHeaders);
  app.use(adminConsoleRoutes.routes());
  app.use(flows.association.router.routes());
  app.use(flows.signIn.routes());
  app.use(flows.signIn.allowedMethods());
  if (mail.devMailbox && config.nodeEnv !== 'production') app.use(devMailboxRoute(pages, mail.devMailbox));
  if (devUpstream) app.use(mount(devUpstreamPath, devUpstream.app));
  app.use(hideStoredClientSecrets);
  app.use(live.middleware());
  return app;
}

/** The broker handed to its caller: listening starts the demo portals first; closing drains, then releases everything. */
function runningBroker(parts: Parts, mail: Mail, app: Koa, stopBackgroundWork: () => void, servicesFor: ServicesFor): Broker {
  const { config, logger, issuer, database, storage, live } = parts;
  let server: Server | undefined;
  let demoPortals: RunningDemoPortals | undefined;
  return {
    app,
    provider: live.provider,
    store: storage.store,
    database,
    keys: storage.keys,
    cookieKeys: live.cookieKeys,
    logger,
    outbox: mail.outbox,
    outboxWorker: mail.outboxWorker,
    devMailbox: mail.devMailbox,
    administration: servicesFor,
    async listen() {
      // The demo portals first: once the broker answers, everything a newcomer opens does.
      if (demoPortalsEnabled(config)) {
        demoPortals = await startDemoPortals({
          issuer,
          host: config.host,
          ports: { partnersource: config.partnerSourceDemoPort, customersource: config.customerSourceDemoPort },
          clients: new ClientAdministration(storage.store.clients),
          directory: new DirectoryAdministration(storage.store),
          mailboxUrl: mail.devMailbox ? `${issuer}/dev/mail` : undefined,
          logger,
        });
        // The dev upstream's `admin` account may open the console at once.
        if (config.upstream === 'dev') await grantDemoAdmin(servicesFor({ surface: 'demo' }).access, { issuer: `${issuer}${devUpstreamPath}`, subject: devSubject(demoAdminAccountName) });
      }
      const listening = await listenOn(app, config.port, config.host);
      server = listening.server;
      return listening;
    },
    async close() {
      // Stop taking work, let requests and the email batch in hand finish, then close the database.
      stopBackgroundWork();
      await drain(server, [mail.outboxWorker.stop(), demoPortals?.close()], { gracePeriodSeconds: config.shutdownGracePeriod, logger });
      mail.transport.close();
      await mail.emails.close();
      await database.destroy();
    },
  };
}
