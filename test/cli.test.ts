// The `mbs-broker` command as an admin runs it: serve, migrate, clients,
// profiles, bindings, keys, dev-subject, each with --json.
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { translator } from '../src/i18n.ts';
import { devSubject } from '../src/upstream/devUpstream.ts';
import { freePort } from './support/broker.ts';
import { runCli, runCliJson } from './support/cli.ts';
import { buildProfile, profileCsv } from './support/factories.ts';

describe('mbs-broker command line', function () {
  this.timeout(60_000);
  let environment: Record<string, string>;
  let directory: string;

  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'mbs-cli-'));
    environment = { DATABASE_URL: `sqlite:${join(directory, 'broker.sqlite')}`, LOG_LEVEL: 'silent' };
  });

  it('serve: answers discovery on the configured issuer, runs the demo portals in development, and stops cleanly on SIGTERM', async () => {
    const [port, partnerPort, customerPort] = [await freePort(), await freePort(), await freePort()];
    const issuer = `http://localhost:${port}`;
    const child = spawn(process.execPath, [fileURLToPath(new URL('../src/cli.ts', import.meta.url)), 'serve'], {
      env: { PATH: process.env.PATH ?? '', ...environment, PORT: String(port), ISSUER: issuer, PARTNERSOURCE_DEMO_PORT: String(partnerPort), CUSTOMERSOURCE_DEMO_PORT: String(customerPort) },
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    let discovery: { issuer?: string } | undefined;
    for (let attempt = 0; attempt < 100 && !discovery; attempt += 1) {
      discovery = await fetch(`${issuer}/.well-known/openid-configuration`)
        .then((response) => response.json() as Promise<{ issuer: string }>)
        .catch(() => new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 100)));
    }
    expect(discovery?.issuer).to.equal(issuer);
    for (const demoPort of [partnerPort, customerPort]) expect((await fetch(`http://localhost:${demoPort}/`)).status).to.equal(200);
    child.kill('SIGTERM');
    expect(await exited).to.equal(0);
  });

  it('serve: on SIGTERM finishes the request in flight, then exits 0', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [fileURLToPath(new URL('../src/cli.ts', import.meta.url)), 'serve'], {
      env: { PATH: process.env.PATH ?? '', ...environment, LOG_LEVEL: 'info', NODE_ENV: 'test', PORT: String(port), HOST: '127.0.0.1', ISSUER: `http://127.0.0.1:${port}`, SHUTDOWN_GRACE_PERIOD: '30' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    let output = '';
    const logged = (text: string) =>
      new Promise<void>((resolve) => {
        const look = () => (output.includes(text) ? resolve() : child.stdout!.once('data', look));
        look();
      });
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    await logged('listening on port');
    // A token request whose body arrives in two parts, with SIGTERM in between.
    const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: 'nobody', client_secret: 'nothing' }).toString();
    const answered = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const request = httpRequest(
        { host: '127.0.0.1', port, path: '/token', method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), accept: 'application/json' } },
        (response) => {
          let text = '';
          response.on('data', (chunk: Buffer) => (text += chunk.toString()));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
        },
      );
      request.on('error', reject);
      request.write(body.slice(0, 10));
      setTimeout(() => {
        child.kill('SIGTERM');
        void logged('shutting down').then(() => request.end(body.slice(10)));
      }, 200);
    });
    const response = await answered;
    expect(response.status).to.equal(401);
    expect(JSON.parse(response.text)).to.have.property('error', 'invalid_client');
    expect(await exited).to.equal(0);
    expect(output).to.contain('"msg":"stopped"');
  });

  it('config: prints the effective configuration with every secret masked', async () => {
    const secretEnvironment = { ...environment, ADMIN_TOKEN: 'admin-token-that-must-not-show', UPSTREAM_CLIENT_SECRET: 'upstream-secret-that-must-not-show', SMTP_URL: 'smtp://mailer:smtp-password@mail.example:587' };
    const effective = await runCliJson<Record<string, unknown>>(['config'], secretEnvironment);
    expect(effective.ADMIN_TOKEN).to.equal('********');
    expect(effective.UPSTREAM_CLIENT_SECRET).to.equal('********');
    expect(effective.SMTP_URL).to.equal('smtp://mailer:********@mail.example:587');
    expect(effective.PORT).to.equal(3000);
    expect(effective.LINK_TTL).to.equal(86400);
    const human = await runCli(['config'], secretEnvironment);
    expect(human.stdout).to.contain('ISSUER=http://localhost:3000').and.not.contain('must-not-show').and.not.contain('smtp-password');
  });

  it('doctor: lists what to fix before production, and passes a production-ready configuration', async () => {
    const development = await runCli(['doctor', '--json'], environment);
    expect(development.exitCode).to.equal(1);
    const report = JSON.parse(development.stdout) as { ok: boolean; problems: string[] };
    expect(report.ok).to.equal(false);
    expect(report.problems.join('\n')).to.contain('UPSTREAM=dev is for development only').and.to.contain('ADMIN_TOKEN must be set').and.to.contain('SMTP_URL must be set');
    await runCliJson(['migrate'], environment);
    const ready = await runCli(['doctor'], {
      ...environment,
      ISSUER: 'https://login.example.com',
      UPSTREAM: 'microsoft',
      UPSTREAM_CLIENT_ID: 'app-id',
      UPSTREAM_CLIENT_SECRET: 'app-secret',
      ADMIN_TOKEN: 'a-long-admin-token',
      KEY_ENCRYPTION_KEY: 'k'.repeat(40),
      SMTP_URL: 'smtp://mail.example:587',
    });
    expect(ready.stdout + ready.stderr).to.contain('no problems found');
    expect(ready.exitCode).to.equal(0);
  });

  it('audit list: admin changes are audit events, filtered by type and time', async () => {
    await runCliJson(['clients', 'add', '--id', 'audited-portal', '--portal', 'partnersource', '--redirect-uri', 'https://ps.example/cb'], environment);
    await runCliJson(['clients', 'rotate-secret', 'audited-portal'], environment);
    const created = await runCliJson<{ items: Array<{ type: string; actor: string; clientId: string; occurredAt: string }>; total: number }>(['audit', 'list', '--type', 'client.created'], environment);
    expect(created.items[0]).to.include({ type: 'client.created', actor: 'cli', clientId: 'audited-portal' });
    const all = await runCliJson<{ total: number }>(['audit', 'list', '--client', 'audited-portal', '--since', '2020-01-01T00:00:00Z'], environment);
    expect(all.total).to.equal(2);
    expect((await runCliJson<{ total: number }>(['audit', 'list', '--until', '2020-01-01T00:00:00Z'], environment)).total).to.equal(0);
    const bad = await runCli(['audit', 'list', '--since', 'yesterday'], environment);
    expect(bad.exitCode).to.not.equal(0);
    expect(bad.stderr).to.contain('ISO 8601');
  });

  it('migrate: applies the schema once, then reports it current', async () => {
    expect((await runCliJson<{ applied: string[] }>(['migrate'], environment)).applied).to.have.length.greaterThan(0);
    expect((await runCliJson<{ applied: string[] }>(['migrate'], environment)).applied).to.deep.equal([]);
  });

  it('clients: add shows the secret once, list/show never do, rotate-secret replaces it, remove deletes', async () => {
    const added = await runCliJson<{ client_id: string; client_secret: string; portal: string; redirect_uris: string[] }>(
      ['clients', 'add', '--id', 'customer-portal', '--portal', 'customersource', '--redirect-uri', 'https://cs.example/cb', '--redirect-uri', 'https://cs.example/cb2'],
      environment,
    );
    expect(added).to.deep.include({ client_id: 'customer-portal', portal: 'customersource', redirect_uris: ['https://cs.example/cb', 'https://cs.example/cb2'] });
    expect(added.client_secret).to.have.length.greaterThan(40);
    const listed = await runCli(['clients', 'list'], environment);
    const shown = await runCli(['--json', 'clients', 'show', 'customer-portal'], environment);
    expect(listed.stdout + shown.stdout).to.not.contain(added.client_secret);
    // The admin API's client shape, from the one record-to-JSON function.
    expect(JSON.parse(shown.stdout)).to.include({ client_id: 'customer-portal', disabled: false, public: false }).and.to.have.property('updated_at');
    const rotated = await runCliJson<{ client_secret: string }>(['clients', 'rotate-secret', 'customer-portal'], environment);
    expect(rotated.client_secret).to.not.equal(added.client_secret);
    const publicClient = await runCliJson<{ client_secret?: string; token_endpoint_auth_method: string }>(['clients', 'add', '--portal', 'both', '--public', '--redirect-uri', 'http://localhost:8080/cb'], environment);
    expect(publicClient.client_secret).to.equal(undefined);
    expect(publicClient.token_endpoint_auth_method).to.equal('none');
    expect((await runCliJson<{ removed: string }>(['clients', 'remove', 'customer-portal'], environment)).removed).to.equal('customer-portal');
    const missing = await runCli(['clients', 'show', 'customer-portal'], environment);
    expect(missing.exitCode).to.equal(1);
    // The CLI prints the catalogue's English text, as the admin API's JSON does.
    expect(missing.stderr).to.equal(`mbs-broker: ${translator('en').t('error.client_not_found', { id: 'customer-portal' })}\n`);
  });

  it('profiles and bindings: import is idempotent, bindings add creates the account, remove unbinds', async () => {
    const profile = buildProfile({ email: 'jane@contoso.example' });
    const file = join(directory, 'profiles.csv');
    writeFileSync(file, profileCsv([profile]));
    expect(await runCliJson(['profiles', 'import', file], environment)).to.deep.equal({ created: 1, updated: 0, unchanged: 0, rejected: [] });
    expect(await runCliJson(['profiles', 'import', file], environment)).to.deep.equal({ created: 0, updated: 0, unchanged: 1, rejected: [] });
    const listed = await runCliJson<{ total: number; items: Array<{ id: string }> }>(['profiles', 'list', '--email', ' Jane@Contoso.example'], environment);
    expect(listed.items.map((item) => item.id)).to.deep.equal([profile.id]);

    const { subject, issuer } = await runCliJson<{ subject: string; issuer: string }>(['dev-subject', 'Jane'], environment);
    expect(subject).to.equal(devSubject('jane'));
    const bound = await runCliJson<{ account_id: string }>(['bindings', 'add', '--profile', profile.id, '--issuer', issuer, '--subject', subject], environment);
    const bindings = await runCliJson<{ items: Array<{ id: string; binding: { accountId: string } }> }>(['bindings', 'list', '--profile', profile.id], environment);
    expect(bindings.items[0]!.binding.accountId).to.equal(bound.account_id);
    await runCliJson(['bindings', 'remove', profile.id], environment);
    expect((await runCliJson<{ total: number }>(['bindings', 'list'], environment)).total).to.equal(0);
    const unknown = await runCli(['bindings', 'add', '--profile', 'nope', '--issuer', issuer, '--subject', subject], environment);
    expect(unknown.exitCode).to.equal(1);
    expect(unknown.stderr).to.contain(translator('en').t('error.profile_not_found', { id: 'nope' }));
  });

  it('admins: grant by MBS email, list, refuse the last admin’s revocation, issue a token with a role once, invite into the outbox', async () => {
    const profile = buildProfile({ email: 'first.admin@contoso.example' });
    const file = join(directory, 'admins.csv');
    writeFileSync(file, profileCsv([profile]));
    await runCliJson(['profiles', 'import', file], environment);
    const { subject, issuer } = await runCliJson<{ subject: string; issuer: string }>(['dev-subject', 'first-admin'], environment);
    const bound = await runCliJson<{ account_id: string }>(['bindings', 'add', '--profile', profile.id, '--issuer', issuer, '--subject', subject], environment);

    expect(await runCliJson(['admins', 'grant', 'First.Admin@contoso.example', '--role', 'admin'], environment)).to.deep.equal({ account_id: bound.account_id, role: 'admin' });
    const listed = await runCliJson<Array<{ account_id: string; role: string }>>(['admins', 'list'], environment);
    expect(listed.map((admin) => [admin.account_id, admin.role])).to.deep.equal([[bound.account_id, 'admin']]);
    const lastAdmin = await runCli(['admins', 'revoke', bound.account_id], environment);
    expect(lastAdmin.exitCode).to.equal(1);
    expect(lastAdmin.stderr).to.contain('The last admin cannot be removed');
    const badRole = await runCli(['admins', 'grant', bound.account_id, '--role', 'owner'], environment);
    expect(badRole.exitCode).to.not.equal(0);

    const issued = await runCliJson<{ id: string; role: string; token: string }>(['admins', 'tokens', 'issue', '--role', 'support', '--label', 'help desk'], environment);
    expect(issued).to.include({ role: 'support' });
    expect(issued.token).to.match(/^mbs_/);
    const tokens = await runCliJson<Array<Record<string, unknown>>>(['admins', 'tokens', 'list'], environment);
    expect(JSON.stringify(tokens)).to.not.contain(issued.token);

    const invited = await runCliJson<{ email: string; role: string }>(['admins', 'invite', 'New.Auditor@Contoso.example', '--role', 'auditor', '--locale', 'de'], environment);
    expect(invited).to.include({ email: 'new.auditor@contoso.example', role: 'auditor' });
    const queued = await runCliJson<{ items: Array<{ kind: string; recipient: string; subject: string }> }>(['outbox', 'list', '--pending'], environment);
    expect(queued.items.find((item) => item.kind === 'admin_invitation')).to.include({ recipient: 'new.auditor@contoso.example', subject: 'Ihre Einladung zur MBS-Broker-Konsole' });
    const events = await runCliJson<{ items: Array<{ type: string; actor: string }> }>(['audit', 'list', '--type', 'admin.role_granted'], environment);
    expect(events.items.map((event) => event.actor)).to.deep.equal(['cli']);
  });

  it('keys: list shows one active key per algorithm; rotate adds new active keys and retires the old', async () => {
    const before = await runCliJson<Array<{ kid: string; alg: string; status: string }>>(['keys', 'list'], environment);
    expect(before.map((key) => key.alg).sort()).to.deep.equal(['ES256', 'EdDSA', 'RS256']);
    const after = await runCliJson<Array<{ kid: string; status: string }>>(['keys', 'rotate'], environment);
    expect(after.filter((key) => key.status === 'active')).to.have.length(3);
    expect(after.filter((key) => key.status === 'retired').map((key) => key.kid).sort()).to.deep.equal(before.map((key) => key.kid).sort());
    // Audited by the same key service as the admin API's rotation, with the CLI as actor.
    const events = await runCliJson<{ items: Array<{ type: string; actor: string; details: { active: string[] } }> }>(['audit', 'list', '--type', 'signing_keys.rotated'], environment);
    expect(events.items).to.have.length(1);
    expect(events.items[0]).to.include({ actor: 'cli' });
    expect(events.items[0]!.details.active.sort()).to.deep.equal(after.filter((key) => key.status === 'active').map((key) => key.kid).sort());
  });

  it('keys: rotate-cookie-key adds a cookie key and audits it', async () => {
    expect(await runCliJson(['keys', 'rotate-cookie-key'], environment)).to.deep.equal({ rotated: 'cookie_key' });
    const events = await runCliJson<{ items: Array<{ type: string; actor: string }> }>(['audit', 'list', '--type', 'cookie_keys.rotated'], environment);
    expect(events.items.map((event) => event.actor)).to.include('cli');
  });

  it('outbox: lists queued email without bodies and makes one due again', async () => {
    await runCliJson(['migrate'], environment);
    const { openDatabase } = await import('../src/store/database.ts');
    const { Outbox } = await import('../src/mail/outbox.ts');
    const { systemClock } = await import('../src/clock.ts');
    const { resolveKeyEncryptionKey } = await import('../src/config/keyEncryptionKey.ts');
    const database = openDatabase({ url: environment.DATABASE_URL! });
    // The development key `migrate` made beside the database file.
    const { key, source } = resolveKeyEncryptionKey({ databaseUrl: environment.DATABASE_URL!, nodeEnv: 'development', keyEncryptionKey: undefined });
    expect(source).to.deep.equal({ file: `${environment.DATABASE_URL!.slice('sqlite:'.length)}-key`, created: false });
    const id = await new Outbox(database, systemClock, key).queue(database, { kind: 'association_link', recipient: 'jane@contoso.example', subject: 'Associate', html: '<p>secret-link</p>', text: 'secret-link' });
    await database.destroy();
    const listed = await runCli(['--json', 'outbox', 'list', '--pending'], environment);
    expect(JSON.parse(listed.stdout)).to.deep.include({ total: 1 });
    expect(listed.stdout).to.not.contain('secret-link');
    expect((await runCliJson<{ retried: string }>(['outbox', 'retry', id], environment)).retried).to.equal(id);
    expect((await runCli(['outbox', 'retry', 'nope'], environment)).exitCode).to.equal(1);
  });

  it('refuses unknown commands and invalid configuration with a message', async () => {
    const unknown = await runCli(['frobnicate'], environment);
    expect(unknown.exitCode).to.not.equal(0);
    const badConfig = await runCli(['clients', 'list'], { ...environment, DATABASE_URL: 'mysql://nope' });
    expect(badConfig.exitCode).to.equal(1);
    expect(badConfig.stderr).to.contain('DATABASE_URL');
  });
});
