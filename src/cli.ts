#!/usr/bin/env -S node --max-semi-space-size=8
// Composition root of the `mbs-broker` command: parses the command line,
// opens the store named by the configuration and hands each command to the
// same administration services the admin API uses.
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig, productionProblems, type Config } from './config/config.ts';
import { resolveKeyEncryptionKey } from './config/keyEncryptionKey.ts';
import { maskedConfiguration } from './config/reference.ts';
import { ClientAdministration, grantTypes, type GrantType } from './admin/clientAdministration.ts';
import { DirectoryAdministration } from './admin/directoryAdministration.ts';
import { isBrokerError } from './errors.ts';
import { KeyManager } from './provider/keys.ts';
import { clientMetadata, createProvider, issueInitialAccessToken } from './provider/provider.ts';
import { createOidcAdapter } from './store/oidcAdapter.ts';
import { createPageRenderer } from './web/pages.ts';
import { createBroker, devUpstreamPath } from './server.ts';
import { devSubject } from './upstream/devUpstream.ts';
import { openDatabase, type Database } from './store/database.ts';
import { createStore } from './store/knexStore.ts';
import { migrateToLatest, pendingMigrations } from './store/migrations.ts';
import type { ClientPortal, ClientRecord } from './store/records.ts';
import type { Store } from './store/store.ts';
import { systemClock } from './clock.ts';
import { Outbox } from './mail/outbox.ts';

interface GlobalOptions {
  json?: boolean;
}

type Output = (value: unknown, human: () => string) => void;

function outputFor(command: Command): Output {
  const { json } = command.optsWithGlobals<GlobalOptions>();
  return (value, human) => {
    process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
  };
}

async function withStore<Result>(work: (context: { config: Config; store: Store; database: Database; keyEncryptionKey: string }) => Promise<Result>): Promise<Result> {
  const config = loadConfig();
  const database = openDatabase({ url: config.databaseUrl, poolMax: config.databasePoolMax });
  try {
    const keyEncryptionKey = resolveKeyEncryptionKey(config).key;
    await migrateToLatest(database, { keyEncryptionKey });
    return await work({ config, store: createStore(database, systemClock), database, keyEncryptionKey });
  } finally {
    await database.destroy();
  }
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function parseTime(value: string): number {
  const time = Date.parse(value);
  if (Number.isNaN(time) || !/^\d{4}-\d{2}-\d{2}/.test(value)) throw new InvalidArgumentError('expected an ISO 8601 time such as 2026-11-25T10:00:00Z');
  return time;
}

function describeClient(client: ClientRecord): string {
  const metadata = client.metadata;
  const list = (value: unknown): string => (Array.isArray(value) && value.length > 0 ? value.join(', ') : '—');
  return [
    `client_id:                 ${client.id}`,
    `name:                      ${typeof metadata.client_name === 'string' ? metadata.client_name : '—'}`,
    `portal:                    ${client.portal}`,
    `first party:               ${client.firstParty ? 'yes' : 'no'}`,
    `type:                      ${client.secretHash ? 'confidential (client_secret_basic)' : 'public (PKCE)'}`,
    `redirect URIs:             ${list(metadata.redirect_uris)}`,
    `post-logout redirect URIs: ${list(metadata.post_logout_redirect_uris)}`,
    `grant types:               ${list(metadata.grant_types)}`,
    `back-channel logout URI:   ${typeof metadata.backchannel_logout_uri === 'string' ? metadata.backchannel_logout_uri : '—'}`,
  ].join('\n');
}

const clientJson = (client: ClientRecord) => ({
  client_id: client.id,
  portal: client.portal,
  first_party: client.firstParty,
  public: !client.secretHash,
  ...client.metadata,
  created_at: new Date(client.createdAt).toISOString(),
});

export function buildProgram(): Command {
  const program = new Command('mbs-broker')
    .description('MBS identity broker: OpenID Connect in front of PartnerSource and CustomerSource')
    .option('--json', 'machine-readable output')
    .showHelpAfterError();

  program
    .command('serve')
    .description('run the broker (migrates the database first)')
    .action(async () => {
      const config = loadConfig();
      const broker = await createBroker({ config });
      const { port } = await broker.listen();
      broker.logger.info({ port, issuer: config.issuer }, `MBS identity broker listening on port ${port}`);
      const stop = (signal: string) => {
        broker.logger.info({ signal, gracePeriodSeconds: config.shutdownGracePeriod }, 'shutting down: finishing requests and the email batch in hand');
        // Should closing hang past the grace period (and a little), leave anyway.
        setTimeout(() => {
          broker.logger.error('shutdown did not finish in time');
          process.exit(1);
        }, config.shutdownGracePeriod * 1000 + 5000).unref();
        broker.close().then(
          () => {
            broker.logger.info('stopped');
            process.exit(0);
          },
          (error: unknown) => {
            broker.logger.error({ err: error }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });

  program
    .command('config')
    .description('print the effective configuration, secrets masked')
    .action((_options, command: Command) => {
      const output = outputFor(command);
      const effective = maskedConfiguration(loadConfig());
      output(effective, () =>
        Object.entries(effective)
          .map(([name, value]) => `${name}=${value === null ? '' : String(value)}`)
          .join('\n'),
      );
    });

  program
    .command('doctor')
    .description('check the configuration against the production rules, and that the database answers')
    .action(async (_options, command: Command) => {
      const output = outputFor(command);
      const problems: string[] = [];
      let config: Config | undefined;
      try {
        // Validate as production would, without refusing: list every rule broken.
        config = loadConfig({ ...process.env, NODE_ENV: 'development' });
        problems.push(...productionProblems({ ...config, nodeEnv: 'production' }));
      } catch (error) {
        problems.push(isBrokerError(error) ? error.publicMessage : String(error));
      }
      if (config) {
        const database = openDatabase({ url: config.databaseUrl, poolMax: 1 });
        try {
          await database.raw('select 1');
          const pending = await pendingMigrations(database);
          if (pending.length > 0) problems.push(`${pending.length} database migration(s) pending: run \`mbs-broker migrate\``);
        } catch (error) {
          problems.push(`DATABASE_URL: the database does not answer (${(error as Error).message.split('\n')[0]})`);
        } finally {
          await database.destroy();
        }
      }
      output({ ok: problems.length === 0, problems }, () =>
        problems.length === 0 ? 'ready for production: no problems found' : `fix before production:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`,
      );
      if (problems.length > 0) process.exitCode = 1;
    });

  program
    .command('migrate')
    .description('apply pending database migrations')
    .action(async (_options, command: Command) => {
      const output = outputFor(command);
      const config = loadConfig();
      const database = openDatabase({ url: config.databaseUrl, poolMax: config.databasePoolMax });
      try {
        const applied = await migrateToLatest(database, { keyEncryptionKey: resolveKeyEncryptionKey(config).key });
        output({ applied }, () => (applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date'));
      } finally {
        await database.destroy();
      }
    });

  const clients = program.command('clients').description('register and manage relying parties');
  clients
    .command('add')
    .description('register a client; a confidential client’s secret is printed once')
    .requiredOption('--redirect-uri <uri>', 'redirect URI (repeatable)', collect)
    .addOption(new Option('--portal <portal>', 'portal of the client').choices(['partnersource', 'customersource', 'both']).makeOptionMandatory())
    .option('--id <clientId>', 'client id (default: a random UUID)')
    .option('--name <name>', 'display name')
    .option('--post-logout-redirect-uri <uri>', 'post-logout redirect URI (repeatable)', collect)
    .addOption(new Option('--grant-type <grant>', 'grant type (repeatable; default authorization_code and refresh_token)').choices([...grantTypes]).argParser(collect as (value: string, previous: string[]) => string[]))
    .option('--public', 'public client (no secret, PKCE required)')
    .option('--first-party', 'first-party client (no consent screen)')
    .option('--backchannel-logout-uri <uri>', 'where the client hears of sign-outs (OpenID Connect Back-Channel Logout)')
    .action(async (options: { redirectUri: string[]; portal: 'partnersource' | 'customersource' | 'both'; id?: string; name?: string; postLogoutRedirectUri?: string[]; grantType?: GrantType[]; public?: boolean; firstParty?: boolean; backchannelLogoutUri?: string }, command: Command) => {
      const output = outputFor(command);
      await withStore(async ({ store }) => {
        const { client, clientSecret } = await new ClientAdministration(store.clients, store.auditEvents).register({
          id: options.id,
          name: options.name,
          portal: options.portal,
          redirectUris: options.redirectUri,
          postLogoutRedirectUris: options.postLogoutRedirectUri ?? [],
          grantTypes: options.grantType,
          public: options.public ?? false,
          firstParty: options.firstParty ?? false,
          ...(options.backchannelLogoutUri ? { backchannelLogoutUri: options.backchannelLogoutUri } : {}),
        });
        output({ ...clientJson(client), ...(clientSecret ? { client_secret: clientSecret } : {}) }, () =>
          [describeClient(client), ...(clientSecret ? [`client_secret:             ${clientSecret}`, '', 'Store the secret now: it is shown only once.'] : [])].join('\n'),
        );
      });
    });
  clients
    .command('list')
    .description('list registered clients')
    .action(async (_options, command: Command) => {
      const output = outputFor(command);
      await withStore(async ({ store }) => {
        const list = await new ClientAdministration(store.clients, store.auditEvents).list();
        output(list.map(clientJson), () =>
          list.length === 0 ? 'no clients' : list.map((client) => `${client.id}\t${client.portal}\t${client.secretHash ? 'confidential' : 'public'}\t${String(client.metadata.client_name ?? '')}`).join('\n'),
        );
      });
    });
  clients
    .command('show <clientId>')
    .description('show one client')
    .action(async (clientId: string, _options, command: Command) => {
      const output = outputFor(command);
      await withStore(async ({ store }) => {
        const client = await new ClientAdministration(store.clients, store.auditEvents).show(clientId);
        output(clientJson(client), () => describeClient(client));
      });
    });
  clients
    .command('remove <clientId>')
    .description('remove a client; its tokens stop working')
    .action(async (clientId: string, _options, command: Command) => {
      const output = outputFor(command);
      await withStore(async ({ store }) => {
        await new ClientAdministration(store.clients, store.auditEvents).remove(clientId);
        output({ removed: clientId }, () => `removed ${clientId}`);
      });
    });
  clients
    .command('rotate-secret <clientId>')
    .description('replace a confidential client’s secret (printed once)')
    .action(async (clientId: string, _options, command: Command) => {
      const output = outputFor(command);
      await withStore(async ({ store }) => {
        const { client, clientSecret } = await new ClientAdministration(store.clients, store.auditEvents).rotateSecret(clientId);
        output({ client_id: client.id, client_secret: clientSecret }, () => `client_secret: ${clientSecret}\n\nStore the secret now: it is shown only once.`);
      });
    });

  clients
    .command('initial-access-token')
    .description('issue an initial access token for dynamic client registration (RFC 7591); printed once')
    .addOption(new Option('--portal <portal>', 'portal of the clients registered with it').choices(['partnersource', 'customersource', 'both']).makeOptionMandatory())
    .option('--expires-in <seconds>', 'lifetime in seconds', (value) => Number.parseInt(value, 10), 86_400)
    .action(async (options: { portal: ClientPortal; expiresIn: number }, command: Command) => {
      const output = outputFor(command);
      if (!Number.isInteger(options.expiresIn) || options.expiresIn < 60) throw new InvalidArgumentError('--expires-in must be at least 60 seconds');
      await withStore(async ({ store, config, database, keyEncryptionKey }) => {
        const manager = keyManager(store, keyEncryptionKey);
        await manager.ensureKeys();
        const provider = createProvider({
          issuer: config.issuer.replace(/\/$/, ''),
          adapter: createOidcAdapter(database, { clients: store.clients, clientMetadata }),
          jwks: await manager.privateJwks(),
          cookieKeys: await manager.cookieKeys(),
          ttl: { accessToken: config.accessTokenTtl, idToken: config.idTokenTtl, refreshToken: config.refreshTokenTtl, session: config.sessionTtl, interaction: config.interactionTtl },
          accounts: store.accounts,
          profileBindings: store.profileBindings,
          pages: createPageRenderer({ cache: true, supportEmail: config.supportEmail }),
          trustProxy: config.trustProxy,
        });
        const issued = await issueInitialAccessToken(provider, options.portal, options.expiresIn);
        await store.auditEvents.record({ type: 'registration.initial_access_token_issued', outcome: 'success', actor: 'cli', details: { portal: options.portal, expiresInSeconds: options.expiresIn } });
        const expiresAt = new Date(issued.expiresAt).toISOString();
        output({ initial_access_token: issued.token, portal: options.portal, expires_at: expiresAt }, () =>
          [`initial access token (shown once): ${issued.token}`, `portal: ${options.portal}`, `expires: ${expiresAt}`, `register at ${config.issuer.replace(/\/$/, '')}/reg with Authorization: Bearer <token>`].join('\n'),
        );
      });
    });

  const profiles = program.command('profiles').description('the MBS profile directory');
  profiles
    .command('import <file>')
    .description('import profiles from CSV (header: id,portal,email,display_name,organization,roles) or JSON; upserts by id')
    .action(async (file: string, _options, command: Command) => {
      const output = outputFor(command);
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        throw new CliError(`cannot read ${file}`);
      }
      await withStore(async ({ store }) => {
        const report = await new DirectoryAdministration(store).importProfiles(file, text);
        output(report, () =>
          [
            `created ${report.created}, updated ${report.updated}, unchanged ${report.unchanged}, rejected ${report.rejected.length}`,
            ...report.rejected.map((row) => `  line ${row.line}: ${row.reason}`),
          ].join('\n'),
        );
        if (report.rejected.length > 0) process.exitCode = 2;
      });
    });
  profiles
    .command('list')
    .description('list profiles')
    .option('--email <email>', 'only profiles registered to this email')
    .option('--limit <n>', 'page size', (value) => Number.parseInt(value, 10), 50)
    .option('--offset <n>', 'skip this many', (value) => Number.parseInt(value, 10), 0)
    .action(async (options: { email?: string; limit: number; offset: number }, command: Command) => {
      const output = outputFor(command);
      await withStore(async ({ store }) => {
        const page = await new DirectoryAdministration(store).listProfiles({ ...(options.email ? { email: options.email.trim().toLowerCase() } : {}), limit: options.limit, offset: options.offset });
        output(page, () =>
          [...page.items.map((profile) => `${profile.id}\t${profile.portal}\t${profile.email}\t${profile.organization}\t${profile.displayName}`), `(${page.items.length} of ${page.total})`].join('\n'),
        );
      });
    });

  const bindings = program.command('bindings').description('which upstream identity each profile is bound to');
  bindings
    .command('list')
    .description('list bindings')
    .option('--account <accountId>', 'only this broker account')
    .option('--profile <profileId>', 'only this profile')
    .option('--email <email>', 'only profiles registered to this email')
    .action(async (options: { account?: string; profile?: string; email?: string }, command: Command) => {
      const output = outputFor(command);
      await withStore(async ({ store }) => {
        const page = await new DirectoryAdministration(store).listBindings({
          ...(options.account ? { accountId: options.account } : {}),
          ...(options.profile ? { profileId: options.profile } : {}),
          ...(options.email ? { email: options.email.trim().toLowerCase() } : {}),
        });
        output(page, () =>
          [...page.items.map((bound) => `${bound.id}\t${bound.portal}\t${bound.email}\taccount ${bound.binding.accountId}\t${bound.binding.method}`), `(${page.items.length} of ${page.total})`].join('\n'),
        );
      });
    });
  bindings
    .command('add')
    .description('bind an upstream identity (issuer + subject) to a profile (admins and tests)')
    .requiredOption('--profile <profileId>', 'MBS profile id')
    .requiredOption('--issuer <issuer>', 'upstream issuer')
    .requiredOption('--subject <subject>', 'upstream subject (sub)')
    .action(async (options: { profile: string; issuer: string; subject: string }, command: Command) => {
      const output = outputFor(command);
      await withStore(async ({ store }) => {
        const result = await new DirectoryAdministration(store).bind({ profileId: options.profile, issuer: options.issuer, subject: options.subject });
        output({ account_id: result.accountId, profile_id: result.profile.id, moved_from: result.movedFrom ?? null }, () =>
          `bound profile ${result.profile.id} to account ${result.accountId}${result.movedFrom ? ` (moved from account ${result.movedFrom})` : ''}`,
        );
      });
    });
  bindings
    .command('remove <profileId>')
    .description('unbind a profile')
    .action(async (profileId: string, _options, command: Command) => {
      const output = outputFor(command);
      await withStore(async ({ store }) => {
        await new DirectoryAdministration(store).unbind(profileId);
        output({ removed: profileId }, () => `unbound profile ${profileId}`);
      });
    });

  const keys = program.command('keys').description('token signing keys');
  const keyManager = (store: Store, keyEncryptionKey: string) => new KeyManager({ signingKeys: store.signingKeys, cookieKeys: store.cookieKeys, keyEncryptionKey });
  const keyJson = (key: { kid: string; alg: string; status: string; createdAt: number }) => ({ kid: key.kid, alg: key.alg, status: key.status, created_at: new Date(key.createdAt).toISOString() });
  keys
    .command('list')
    .description('list signing keys (active keys sign, retired keys still verify)')
    .action(async (_options, command: Command) => {
      const output = outputFor(command);
      await withStore(async ({ store, keyEncryptionKey }) => {
        const manager = keyManager(store, keyEncryptionKey);
        await manager.ensureKeys();
        const list = (await manager.list()).map(keyJson);
        output(list, () => list.map((key) => `${key.kid}\t${key.alg}\t${key.status}\t${key.created_at}`).join('\n'));
      });
    });
  keys
    .command('rotate')
    .description('add a new signing key per algorithm: every instance publishes it within KEY_REFRESH_INTERVAL and signs with it after twice that; old keys stay published so issued tokens keep verifying')
    .action(async (_options, command: Command) => {
      const output = outputFor(command);
      await withStore(async ({ store, keyEncryptionKey }) => {
        const manager = keyManager(store, keyEncryptionKey);
        await manager.ensureKeys();
        const list = (await manager.rotate()).map(keyJson);
        output(list, () => list.map((key) => `${key.kid}\t${key.alg}\t${key.status}\t${key.created_at}`).join('\n'));
      });
    });

  keys
    .command('rotate-cookie-key')
    .description('add a new cookie key: it signs cookies after twice KEY_REFRESH_INTERVAL; older keys keep verifying, so nobody is signed out')
    .action(async (_options, command: Command) => {
      const output = outputFor(command);
      await withStore(async ({ store, keyEncryptionKey }) => {
        await keyManager(store, keyEncryptionKey).rotateCookieKey();
        await store.auditEvents.record({ type: 'cookie_keys.rotated', outcome: 'success', actor: 'cli' });
        output({ rotated: 'cookie_key' }, () => 'added a new cookie key');
      });
    });

  const audit = program.command('audit').description('the audit log');
  audit
    .command('list')
    .description('audit events, newest first')
    .option('--type <type>', 'only this event type (e.g. sign_in, binding.created, client.created)')
    .option('--account <accountId>', 'only events of this account')
    .option('--profile <profileId>', 'only events of this profile')
    .option('--client <clientId>', 'only events of this client')
    .option('--since <time>', 'from this ISO 8601 time', parseTime)
    .option('--until <time>', 'before this ISO 8601 time', parseTime)
    .option('--limit <n>', 'page size', (value) => Number.parseInt(value, 10), 50)
    .option('--offset <n>', 'events to skip', (value) => Number.parseInt(value, 10), 0)
    .action(async (options: { type?: string; account?: string; profile?: string; client?: string; since?: number; until?: number; limit: number; offset: number }, command: Command) => {
      const output = outputFor(command);
      await withStore(async ({ store }) => {
        const page = await new DirectoryAdministration(store).listAuditEvents({
          limit: options.limit,
          offset: options.offset,
          ...(options.type ? { type: options.type } : {}),
          ...(options.account ? { accountId: options.account } : {}),
          ...(options.profile ? { profileId: options.profile } : {}),
          ...(options.client ? { clientId: options.client } : {}),
          ...(options.since === undefined ? {} : { since: options.since }),
          ...(options.until === undefined ? {} : { until: options.until }),
        });
        const items = page.items.map((event) => ({ ...event, occurredAt: new Date(event.occurredAt).toISOString() }));
        output({ items, total: page.total }, () =>
          [
            ...items.map((event) =>
              [event.occurredAt, event.type, event.outcome, event.actor ?? '-', event.accountId ?? '-', event.profileId ?? '-', event.clientId ?? '-', event.ip ?? '-'].join('\t'),
            ),
            `(${items.length} of ${page.total})`,
          ].join('\n'),
        );
      });
    });

  const outboxCommand = program.command('outbox').description('emails waiting for delivery, and retries');
  outboxCommand
    .command('list')
    .description('list queued and sent emails (newest first; bodies are not shown: they hold secret links)')
    .option('--pending', 'only unsent emails')
    .option('--limit <n>', 'page size', (value) => Number.parseInt(value, 10), 50)
    .action(async (options: { pending?: boolean; limit: number }, command: Command) => {
      const output = outputFor(command);
      await withStore(async ({ database, keyEncryptionKey }) => {
        const page = await new Outbox(database, systemClock, keyEncryptionKey).list({ pending: options.pending ?? false, limit: options.limit });
        const items = page.items;
        output({ items, total: page.total }, () =>
          [
            ...items.map((item) => `${item.id}\t${item.kind}\t${item.recipient}\t${item.sentAt ? `sent ${new Date(item.sentAt).toISOString()}` : `pending (attempts ${item.attempts}${item.lastError ? `, last error: ${item.lastError}` : ''})`}`),
            `(${items.length} of ${page.total})`,
          ].join('\n'),
        );
      });
    });
  outboxCommand
    .command('retry <id>')
    .description('make an unsent email due now')
    .action(async (id: string, _options, command: Command) => {
      const output = outputFor(command);
      await withStore(async ({ database, keyEncryptionKey }) => {
        await new Outbox(database, systemClock, keyEncryptionKey).retry(id);
        output({ retried: id }, () => `email ${id} is due now`);
      });
    });

  program
    .command('dev-subject <accountName>')
    .description('the subject the dev upstream gives an account name (for `bindings add` in development)')
    .action((accountName: string, _options, command: Command) => {
      const config = loadConfig();
      const subject = devSubject(accountName);
      const issuer = `${config.issuer.replace(/\/$/, '')}${devUpstreamPath}`;
      outputFor(command)({ issuer, subject }, () => `issuer:  ${issuer}\nsubject: ${subject}`);
    });

  return program;
}

class CliError extends Error {}

export async function runCli(argv: string[]): Promise<void> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('commander.')) {
      process.exitCode = (error as { exitCode?: number }).exitCode ?? 1;
      return;
    }
    const message = isBrokerError(error) || error instanceof CliError ? (isBrokerError(error) ? error.publicMessage : error.message) : 'unexpected failure (see the log above)';
    if (!isBrokerError(error) && !(error instanceof CliError)) console.error(error);
    if (program.opts<GlobalOptions>().json) {
      process.stderr.write(`${JSON.stringify({ error: isBrokerError(error) ? error.code : 'error', error_description: message })}\n`);
    } else {
      process.stderr.write(`mbs-broker: ${message}\n`);
    }
    process.exitCode = 1;
  }
}

const invokedDirectly = process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  await runCli(process.argv);
}
