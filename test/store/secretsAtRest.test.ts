// Nothing in the database lets its reader act as someone: the whole journey
// on each database (first login with association through a real SMTP
// server, code redemption, refresh, userinfo, SSO to the other portal,
// client credentials, clients registered with secrets, dynamic registration
// with an initial access token), every secret it handled collected from
// the emails, the redirects, the token responses, the cookies and the
// forms; then the raw database searched for each of them and their
// encoded forms: on SQLite the file, its -wal and -shm read as bytes,
// before and after a checkpoint and after the broker closed; on PostgreSQL
// every row of every table as text.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { expect } from 'chai';
import * as client from 'openid-client';
import type { Database } from '../../src/store/database.ts';
import { Browser, hiddenField, type Page } from '../support/browser.ts';
import { freePort, startBroker, type RunningBroker } from '../support/broker.ts';
import { runCliJson } from '../support/cli.ts';
import { createPostgresDatabase } from '../support/databases.ts';
import { buildProfile } from '../support/factories.ts';
import { linkOf, mailFor, Person, redirectUri, registerPortal } from '../support/journey.ts';
import { TestSmtpServer } from '../support/smtp.ts';

/**
 * Cookies whose value is an identifier that also travels in URLs (an
 * interaction's uid, an association flow's id): a row has to be found by
 * it. Such a cookie cannot be presented without its signature (counted
 * below as a secret) made with a cookie key (sealed at rest). Searched and
 * reported, not required absent.
 */
const identifierCookies = new Set(['_interaction', '_interaction_resume', 'mbs_dev_upstream_interaction', 'mbs_dev_upstream_resume', 'mbs_association', 'mbs_association_shown']);

/** Every secret the journey handled, by kind. */
class SecretLedger {
  readonly byKind = new Map<string, Set<string>>();
  add(kind: string, value: string | undefined | null): void {
    if (!value || value.length < 8) return;
    if (!this.byKind.has(kind)) this.byKind.set(kind, new Set());
    this.byKind.get(kind)!.add(value);
  }
}

/** A browser that notes every secret passing through it: cookies, CSRF fields, codes and states in URLs, link tokens. */
class RecordingBrowser extends Browser {
  readonly ledger: SecretLedger;
  constructor(ledger: SecretLedger) {
    super();
    this.ledger = ledger;
  }

  override async request(url: string, init: Parameters<Browser['request']>[1] = {}): Promise<Page> {
    this.#noteUrl(new URL(url));
    const page = await super.request(url, init);
    for (const header of page.headers.getSetCookie()) {
      const pair = header.split(';')[0]!;
      const name = pair.slice(0, pair.indexOf('=')).trim();
      const value = decodeURIComponent(pair.slice(pair.indexOf('=') + 1).trim());
      if (name.endsWith('.sig')) this.ledger.add('cookie signature', value);
      else this.ledger.add(identifierCookies.has(name) ? 'identifier cookie value (not a secret)' : `cookie value (${name})`, value);
    }
    this.ledger.add('CSRF token', hiddenField(page.body, 'csrf'));
    const location = page.headers.get('location');
    if (location) this.#noteUrl(new URL(location, url));
    return page;
  }

  #noteUrl(url: URL): void {
    const link = /\/link\/([A-Za-z0-9_-]{20,})/.exec(url.pathname);
    if (link) this.ledger.add('link token', link[1]);
    const code = url.searchParams.get('code');
    const state = url.searchParams.get('state');
    const toPortal = url.href.startsWith(redirectUri);
    if (code) this.ledger.add(toPortal ? 'authorization code' : 'upstream authorization code', code);
    // The portal's own state is the portal's; the broker's state toward the upstream is the broker's secret.
    if (state && !toPortal && !url.pathname.endsWith('/auth')) this.ledger.add('upstream state', state);
    if (state && url.pathname.endsWith('/dev/upstream/auth')) this.ledger.add('upstream state', state);
  }
}

class RecordingPerson extends Person {
  override readonly browser: RecordingBrowser;
  constructor(accountName: string, ledger: SecretLedger) {
    super(accountName);
    this.browser = new RecordingBrowser(ledger);
  }
}

/** The forms a stored copy of `secret` could take. */
function encodedForms(secret: string): Array<{ form: string; bytes: Buffer }> {
  const forms = [
    { form: 'as is', bytes: Buffer.from(secret, 'utf8') },
    { form: 'percent-encoded', bytes: Buffer.from(encodeURIComponent(secret), 'utf8') },
    { form: 'base64', bytes: Buffer.from(Buffer.from(secret, 'utf8').toString('base64'), 'utf8') },
    { form: 'base64url', bytes: Buffer.from(Buffer.from(secret, 'utf8').toString('base64url'), 'utf8') },
  ];
  if (/^[A-Za-z0-9_-]{22,}$/.test(secret)) {
    // A random value in base64url: its bytes, raw or in hex, would be it too.
    const decoded = Buffer.from(secret, 'base64url');
    forms.push({ form: 'decoded bytes', bytes: decoded }, { form: 'decoded hex', bytes: Buffer.from(decoded.toString('hex'), 'utf8') });
  }
  return forms.filter((entry, index) => forms.findIndex((other) => other.bytes.equals(entry.bytes)) === index);
}

function occurrences(haystack: Buffer, needle: Buffer): number {
  let count = 0;
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + 1)) count += 1;
  return count;
}

interface Finding {
  kind: string;
  where: string;
  form: string;
  count: number;
}

function search(ledger: SecretLedger, places: Array<{ where: string; bytes: Buffer }>): Finding[] {
  const findings: Finding[] = [];
  for (const [kind, values] of ledger.byKind) {
    for (const value of values) {
      for (const { form, bytes } of encodedForms(value)) {
        for (const place of places) {
          const count = occurrences(place.bytes, bytes);
          if (count > 0) findings.push({ kind, where: place.where, form, count });
        }
      }
    }
  }
  return findings;
}

function sqliteFiles(path: string, phase: string): Array<{ where: string; bytes: Buffer }> {
  return ['', '-wal', '-shm'].filter((suffix) => existsSync(path + suffix)).map((suffix) => ({ where: `${phase}: broker.sqlite${suffix}`, bytes: readFileSync(path + suffix) }));
}

async function postgresRows(database: Database): Promise<Array<{ where: string; bytes: Buffer }>> {
  const tables = (await database('pg_tables').select('tablename').where({ schemaname: database.raw('current_schema()') })) as Array<{ tablename: string }>;
  const places: Array<{ where: string; bytes: Buffer }> = [];
  for (const { tablename } of tables) {
    const rows = (await database.raw(`select t::text as row from "${tablename}" t`)) as { rows: Array<{ row: string }> };
    places.push({ where: `table ${tablename}`, bytes: Buffer.from(rows.rows.map((row) => row.row).join('\n'), 'utf8') });
  }
  return places;
}

const postgresUrl = process.env.TEST_POSTGRES_URL;

for (const databaseName of postgresUrl ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const)) {
  describe(`secrets at rest on ${databaseName}`, function () {
    this.timeout(120_000);
    let smtp: TestSmtpServer;
    let running: RunningBroker;
    let dropPostgres: (() => Promise<void>) | undefined;
    const ledger = new SecretLedger();
    let stopped = false;
    const offline = { scope: 'openid email profile mbs_profiles offline_access', prompt: 'consent' };

    before(async () => {
      smtp = new TestSmtpServer(await freePort());
      await smtp.start();
      const overrides: Record<string, string> = { SMTP_URL: smtp.url, OUTBOX_INTERVAL: '25' };
      if (databaseName === 'postgres') {
        const created = await createPostgresDatabase(postgresUrl!);
        dropPostgres = created.drop;
        // As in production: an explicit key (SQLite runs with the development key file).
        Object.assign(overrides, { DATABASE_URL: created.url, KEY_ENCRYPTION_KEY: 'secrets-at-rest-test-key-encryption-key-0123456789' });
      }
      running = await startBroker(overrides);
    });
    after(async () => {
      if (!stopped) await running?.stop();
      await smtp?.stop();
      await dropPostgres?.();
    });

    it('walks the whole journey and leaves none of the secrets it handled in the raw database', async () => {
      const email = 'jane.at-rest@contoso.example';
      const partnerProfile = buildProfile({ portal: 'partnersource', email, organization: 'Contoso Partners' });
      const customerProfile = buildProfile({ portal: 'customersource', email, organization: 'Contoso Retail' });
      for (const profile of [partnerProfile, customerProfile]) await running.broker.store.profiles.upsert(profile);

      // Clients registered with secrets (CLI), and one through dynamic registration.
      const partnerSource = await registerPortal(running, 'partnersource');
      const customerSource = await registerPortal(running, 'customersource');
      for (const portal of [partnerSource, customerSource]) ledger.add('client secret', portal.clientSecret);
      const service = await runCliJson<{ client_id: string; client_secret: string }>(['clients', 'add', '--portal', 'both', '--redirect-uri', redirectUri, '--grant-type', 'client_credentials'], running.environment);
      ledger.add('client secret', service.client_secret);
      const initial = await runCliJson<{ initial_access_token: string }>(['clients', 'initial-access-token', '--portal', 'customersource'], running.environment);
      ledger.add('initial access token', initial.initial_access_token);
      const registered = await client.dynamicClientRegistration(
        new URL(running.issuer),
        { redirect_uris: [redirectUri], token_endpoint_auth_method: 'client_secret_basic', client_name: 'Fabrikam Reports' } as Partial<client.ClientMetadata>,
        undefined,
        { initialAccessToken: initial.initial_access_token, execute: [client.allowInsecureRequests] },
      );
      const registration = registered.clientMetadata() as Record<string, string>;
      ledger.add('client secret', registration.client_secret);
      ledger.add('registration access token', registration.registration_access_token);

      // First login with association: the emails really go through SMTP.
      const jane = new RecordingPerson('jane-at-rest', ledger);
      const signIn = await jane.startSignIn(partnerSource, offline);
      expect(signIn.page?.body).to.contain('Enter your MBS email address');
      const sent = await jane.submitEmail(signIn.page!, email);
      await jane.browser.get(new URL(sent.headers.get('location')!, sent.url).href);
      const mails = await mailFor(smtp, 2);
      expect(mails).to.have.length(2);
      for (const mail of mails) ledger.add('link token', /\/link\/([A-Za-z0-9_-]+)/.exec(linkOf(mail))![1]);
      // Every message delivered: the worker marked them sent.
      for (let attempt = 0; attempt < 100 && (await running.broker.outbox.pendingCount()) > 0; attempt += 1) await new Promise((resolve) => setTimeout(resolve, 25));

      const partnerMail = mails.find((mail) => mail.text.includes('Contoso Partners'))!;
      // Through the success page (guide step 9) and on into the portal.
      const resumed = await jane.confirmLink(linkOf(partnerMail));
      expect(resumed.success, 'the success page').to.not.equal(undefined);
      expect(resumed.location, resumed.page?.body).to.not.equal(undefined);
      ledger.add('authorization code', resumed.location!.searchParams.get('code'));
      const tokens = await signIn.tokens(resumed.location!);
      ledger.add('access token', tokens.access_token);
      ledger.add('refresh token', tokens.refresh_token);
      ledger.add('ID token', tokens.id_token);
      const userinfo = await client.fetchUserInfo(partnerSource.configuration, tokens.access_token, client.skipSubjectCheck);
      expect(userinfo).to.include({ email });
      const refreshed = await client.refreshTokenGrant(partnerSource.configuration, tokens.refresh_token!);
      for (const [kind, value] of [['access token', refreshed.access_token], ['refresh token', refreshed.refresh_token], ['ID token', refreshed.id_token]] as const) ledger.add(kind, value);

      // The other link, then SSO to CustomerSource without another upstream sign-in.
      const customerMail = mails.find((mail) => mail.text.includes('Contoso Retail'))!;
      await jane.confirmLink(linkOf(customerMail));
      const sso = await jane.startSignIn(customerSource, offline);
      expect(sso.location, sso.page?.body).to.not.equal(undefined);
      const customerTokens = await sso.tokens(sso.location!);
      for (const [kind, value] of [['access token', customerTokens.access_token], ['refresh token', customerTokens.refresh_token], ['ID token', customerTokens.id_token]] as const) ledger.add(kind, value);
      await client.fetchUserInfo(customerSource.configuration, customerTokens.access_token, client.skipSubjectCheck);

      // Client credentials.
      const serviceConfiguration = await client.discovery(new URL(running.issuer), service.client_id, { token_endpoint_auth_method: 'client_secret_basic' }, client.ClientSecretBasic(service.client_secret), {
        execute: [client.allowInsecureRequests],
      });
      ledger.add('access token (client credentials)', (await client.clientCredentialsGrant(serviceConfiguration, {})).access_token);

      // What the broker itself holds: were these readable, a copy could sign tokens and forge cookies.
      for (const key of running.broker.cookieKeys) ledger.add('cookie key', key);
      for (const key of (await running.broker.keys.privateJwks()).keys) for (const part of ['d', 'p', 'q'] as const) ledger.add('private signing key part', key[part]);
      const keyFile = `${running.config.databaseUrl.slice('sqlite:'.length)}-key`;
      ledger.add('key-encryption key', running.config.keyEncryptionKey ?? (existsSync(keyFile) ? readFileSync(keyFile, 'utf8').trim() : undefined));

      const findings: Finding[] = [];
      if (databaseName === 'sqlite') {
        const path = running.config.databaseUrl.slice('sqlite:'.length);
        findings.push(...search(ledger, sqliteFiles(path, 'live')));
        await running.broker.database.raw('PRAGMA wal_checkpoint(FULL)');
        findings.push(...search(ledger, sqliteFiles(path, 'after a checkpoint')));
        await running.broker.close();
        stopped = true;
        findings.push(...search(ledger, sqliteFiles(path, 'after closing')));
        rmSync(dirname(path), { recursive: true, force: true });
      } else {
        findings.push(...search(ledger, await postgresRows(running.broker.database)));
        await running.stop();
        stopped = true;
      }

      const report = [...ledger.byKind].map(([kind, values]) => {
        const found = findings.filter((finding) => finding.kind === kind);
        return `${kind}: ${values.size} searched, ${found.reduce((sum, finding) => sum + finding.count, 0)} occurrences${found.length ? ` (${[...new Set(found.map((finding) => `${finding.where} ${finding.form}`))].join('; ')})` : ''}`;
      });
      console.log(`      secrets at rest on ${databaseName}:\n${report.map((line) => `        ${line}`).join('\n')}`);
      const secretFindings = findings.filter((finding) => !finding.kind.startsWith('identifier'));
      expect(secretFindings, report.join('\n')).to.deep.equal([]);
      // The journey did handle every kind it claims to search.
      for (const kind of ['link token', 'authorization code', 'access token', 'refresh token', 'client secret', 'initial access token', 'registration access token', 'cookie value (_session)', 'cookie signature', 'CSRF token', 'upstream state', 'upstream authorization code', 'cookie key', 'private signing key part', 'key-encryption key']) {
        expect(ledger.byKind.get(kind)?.size ?? 0, kind).to.be.greaterThan(0);
      }
    });
  });
}
