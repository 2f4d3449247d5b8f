// `npm run bench`: starts the broker (SQLite by default, `--db postgres` with
// TEST_POSTGRES_URL) and a bare oidc-provider (in-memory adapter, same
// client, algorithms and TTLs) as child processes, drives both over loopback
// HTTP from this process (autocannon for single requests, a cookie-jar client
// for the browser round trips) with a warm-up and several rounds, and
// reports throughput, p50/p95/p99 latency, the broker/bare ratio, CPU seconds
// per 1,000 operations and peak RSS. Results go to bench/results/<date>.json.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, freemem, totalmem, tmpdir, release, platform } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import knex from 'knex';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { openDatabase } from '../src/store/database.ts';
import { Browser, formAction, hiddenField, signInContinueLink, successContinueLink } from '../test/support/browser.ts';
import { freePort } from '../test/support/broker.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: options } = parseArgs({
  options: {
    db: { type: 'string', default: 'sqlite' },
    connections: { type: 'string', default: '32' },
    duration: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '2' },
    sessions: { type: 'string', default: '100000' },
    only: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    upstream: { type: 'string', default: 'process' },
  },
});
const connections = Number(options.connections);
const duration = Number(options.duration);
const rounds = Number(options.rounds);
const warmup = Number(options.warmup);
const clientSecret = 'bench-secret-0123456789-0123456789-0123';
const adminToken = 'bench-admin-token-0123456789';
const redirectUri = 'http://127.0.0.1:9/callback';
const clockTicks = 100; // Linux USER_HZ

// ---------------------------------------------------------------- processes

function spawnNode(script: string, args: string[], env: Record<string, string>, nodeFlags: string[] = []): ChildProcess {
  return spawn(process.execPath, [...nodeFlags, join(root, script), ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
}

/** The first JSON line a child process prints: its address and whatever else it hands over. */
function readyLine(child: ChildProcess, what: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const line = buffer.split('\n').find((candidate) => candidate.startsWith('{'));
      if (line) resolve(JSON.parse(line) as Record<string, unknown>);
    });
    child.once('exit', (code) => reject(new Error(`${what} exited with ${code}`)));
  });
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

function memory(pid: number): { rssMb: number; peakRssMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMb: Math.round(kb('VmRSS') / 1024), peakRssMb: Math.round(kb('VmHWM') / 1024) };
}

// ---------------------------------------------------------------- measuring

interface Measurement {
  scenario: string;
  target: 'broker' | 'bare';
  operations: number;
  errors: number;
  seconds: number;
  perSecond: number;
  roundsPerSecond: number[];
  p50: number;
  p95: number;
  p99: number;
  cpuSecondsPer1000: number;
  /** CPU seconds of this process (the load generator: autocannon or the browsers, and the SMTP server) per 1,000 operations. */
  loadCpuSecondsPer1000: number;
  /** CPU seconds of the dev upstream's own process per 1,000 operations, when it runs apart. */
  upstreamCpuSecondsPer1000?: number;
  rssMb: number;
  peakRssMb: number;
  notes?: Record<string, unknown>;
}

const percentile = (sorted: number[], fraction: number): number => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]! : 0);
const round1 = (value: number) => Math.round(value * 10) / 10;

async function measure(
  scenario: string,
  target: 'broker' | 'bare',
  pid: number,
  runRound: (seconds: number) => Promise<{ operations: number; errors: number; latencies: number[]; notes?: Record<string, number> }>,
): Promise<Measurement> {
  if (warmup > 0) await runRound(warmup);
  const latencies: number[] = [];
  const roundsPerSecond: number[] = [];
  let operations = 0;
  let errors = 0;
  let seconds = 0;
  const noteTotals: Record<string, number> = {};
  const cpuBefore = cpuSeconds(pid);
  const loadCpuBefore = process.cpuUsage();
  const upstreamCpuBefore = target === 'broker' && upstreamPid ? cpuSeconds(upstreamPid) : undefined;
  for (let index = 0; index < rounds; index += 1) {
    const started = performance.now();
    const result = await runRound(duration);
    const elapsed = (performance.now() - started) / 1000;
    seconds += elapsed;
    operations += result.operations;
    errors += result.errors;
    roundsPerSecond.push(Math.round(result.operations / elapsed));
    for (const latency of result.latencies) latencies.push(latency);
    for (const [name, value] of Object.entries(result.notes ?? {})) noteTotals[name] = (noteTotals[name] ?? 0) + value;
  }
  const cpu = cpuSeconds(pid) - cpuBefore;
  const loadCpuUsage = process.cpuUsage(loadCpuBefore);
  const loadCpu = (loadCpuUsage.user + loadCpuUsage.system) / 1e6;
  const upstreamCpu = upstreamCpuBefore === undefined ? undefined : cpuSeconds(upstreamPid!) - upstreamCpuBefore;
  const per1000 = (seconds: number) => (operations ? Math.round((seconds / operations) * 1000 * 100) / 100 : 0);
  latencies.sort((left, right) => left - right);
  const measurement: Measurement = {
    scenario,
    target,
    operations,
    errors,
    seconds: round1(seconds),
    perSecond: Math.round(operations / seconds),
    roundsPerSecond,
    p50: round1(percentile(latencies, 0.5)),
    p95: round1(percentile(latencies, 0.95)),
    p99: round1(percentile(latencies, 0.99)),
    cpuSecondsPer1000: per1000(cpu),
    loadCpuSecondsPer1000: per1000(loadCpu),
    ...(upstreamCpu !== undefined && upstreamCpu > 0 ? { upstreamCpuSecondsPer1000: per1000(upstreamCpu) } : {}),
    ...memory(pid),
    ...(Object.keys(noteTotals).length ? { notes: Object.fromEntries(Object.entries(noteTotals).map(([name, total]) => [name, round1(total / Math.max(operations, 1))])) } : {}),
  };
  process.stderr.write(`  ${scenario} on ${target}: ${measurement.perSecond}/s, p99 ${measurement.p99} ms, errors ${errors}\n`);
  return measurement;
}

/** One autocannon round of the same request, body per connection from `bodies`. */
function autocannonRound(request: { url: string; method: 'GET' | 'POST'; headers: Record<string, string>; bodies?: string[]; headersPerConnection?: Array<Record<string, string>> }) {
  return (seconds: number) =>
    new Promise<{ operations: number; errors: number; latencies: number[] }>((resolve, reject) => {
      const latencies: number[] = [];
      let assigned = 0;
      let failures = 0;
      const statuses: Record<number, number> = {};
      const instance = autocannon(
        {
          url: request.url,
          method: request.method,
          headers: request.headers,
          connections,
          duration: seconds,
          setupClient(client) {
            const index = assigned++;
            if (request.bodies) client.setBody(request.bodies[index % request.bodies.length]!);
            if (request.headersPerConnection) client.setHeaders({ ...request.headers, ...request.headersPerConnection[index % request.headersPerConnection.length] });
          },
        },
        (error, result) => {
          if (error) reject(error);
          else {
            if (failures) process.stderr.write(`    failed responses by status: ${JSON.stringify(statuses)}\n`);
            resolve({ operations: result.requests.total, errors: failures + result.errors + result.timeouts, latencies });
          }
        },
      );
      instance.on('response', (_client, statusCode, _bytes, responseTime) => {
        latencies.push(responseTime);
        if (statusCode >= 400) {
          failures += 1;
          statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
        }
      });
    });
}

/** `concurrency` workers repeating `iteration` for `seconds`. */
async function loopRound(seconds: number, iteration: (worker: number) => Promise<{ latency: number; notes?: Record<string, number> }>) {
  const deadline = performance.now() + seconds * 1000;
  const latencies: number[] = [];
  const notes: Record<string, number> = {};
  let operations = 0;
  let errors = 0;
  let firstError: unknown;
  await Promise.all(
    Array.from({ length: connections }, async (_, worker) => {
      while (performance.now() < deadline) {
        try {
          const result = await iteration(worker);
          latencies.push(result.latency);
          for (const [name, value] of Object.entries(result.notes ?? {})) notes[name] = (notes[name] ?? 0) + value;
          operations += 1;
        } catch (error) {
          errors += 1;
          firstError ??= error;
        }
      }
    }),
  );
  if (firstError && operations === 0) throw firstError;
  if (firstError) process.stderr.write(`    first error: ${(firstError as Error).message}\n`);
  return { operations, errors, latencies, notes };
}

// ---------------------------------------------------------------- journeys

const basicFor = (secret: string) => `Basic ${Buffer.from(`bench-portal:${secret}`).toString('base64')}`;
/** The broker's client secret, shown once at registration. */
let basic = '';

/** Where the dev upstream answers (its issuer). */
let upstreamOrigin = '';
/** The dev upstream's process, when it runs apart from the broker. */
let upstreamPid: number | undefined;

/** A browser whose time spent at the dev upstream is counted apart. */
function timedBrowser(): { browser: Browser; upstreamMs: () => number } {
  const browser = new Browser();
  let upstream = 0;
  const request = browser.request.bind(browser);
  browser.request = async (url, init) => {
    const started = performance.now();
    try {
      return await request(url, init);
    } finally {
      if (url.startsWith(upstreamOrigin)) upstream += performance.now() - started;
    }
  };
  return { browser, upstreamMs: () => upstream };
}

async function pkce() {
  const verifier = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url');
  const challenge = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))).toString('base64url');
  return { verifier, challenge };
}

async function signInAtUpstream(browser: Browser, page: { body: string; url: string }, accountName: string) {
  const submitted = await browser.post(new URL(formAction(page.body), page.url).href, { account: accountName, email: `${accountName}@hotmail.example` });
  return browser.follow(new URL(submitted.headers.get('location')!, submitted.url).href, (location) => location.href.startsWith(redirectUri));
}

/** authorize → landing → dev upstream sign-in → callback → code → token; returns the tokens. */
async function returningSignIn(issuer: string, accountName: string, extra: Record<string, string> = {}) {
  const { browser, upstreamMs } = timedBrowser();
  const started = performance.now();
  const { verifier, challenge } = await pkce();
  const authorize = new URL('/auth', issuer);
  authorize.search = new URLSearchParams({ client_id: 'bench-portal', response_type: 'code', scope: 'openid', redirect_uri: redirectUri, state: 'bench', code_challenge: challenge, code_challenge_method: 'S256', ...extra }).toString();
  let { page, location } = await browser.follow(authorize.href, (next) => next.href.startsWith(redirectUri));
  const landing = page ? signInContinueLink(page.body) : undefined;
  if (landing) ({ page, location } = await browser.follow(new URL(landing, page!.url).href, (next) => next.href.startsWith(redirectUri)));
  if (!location && page?.body.includes('Account name')) ({ location } = await signInAtUpstream(browser, page, accountName));
  const code = location?.searchParams.get('code');
  if (!code) throw new Error(`no code (${page?.status} ${page?.url})`);
  const tokens = await tokenRequest(issuer, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier });
  return { tokens, latency: performance.now() - started, upstreamMs: upstreamMs() };
}

async function tokenRequest(issuer: string, body: Record<string, string>): Promise<Record<string, string>> {
  const response = await fetch(`${issuer}/token`, { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body) });
  const json = (await response.json()) as Record<string, string>;
  if (!response.ok) throw new Error(`token endpoint: ${response.status} ${json.error}`);
  return json;
}

/** Links the in-process SMTP server received, by recipient. */
class Mailbox {
  readonly #waiting = new Map<string, (link: string) => void>();
  readonly #arrived = new Map<string, string>();
  readonly server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData: (stream, session, callback) => {
      simpleParser(stream)
        .then((mail) => {
          const link = /https?:\/\/\S+\/link\/[A-Za-z0-9_-]+/.exec(mail.text ?? '')?.[0];
          for (const recipient of session.envelope.rcptTo.map((address) => address.address)) {
            if (!link) continue;
            const waiter = this.#waiting.get(recipient);
            if (waiter) {
              this.#waiting.delete(recipient);
              waiter(link);
            } else this.#arrived.set(recipient, link);
          }
          callback();
        })
        .catch(callback);
    },
  });

  linkFor(recipient: string): Promise<string> {
    const arrived = this.#arrived.get(recipient);
    if (arrived) {
      this.#arrived.delete(recipient);
      return Promise.resolve(arrived);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no email for ${recipient}`)), 30_000);
      this.#waiting.set(recipient, (link) => {
        clearTimeout(timer);
        resolve(link);
      });
    });
  }
}

/** The first-login association: email form → email over SMTP → link → re-authentication → bind → token. */
async function firstLogin(issuer: string, mailbox: Mailbox, person: number) {
  const { browser, upstreamMs } = timedBrowser();
  const started = performance.now();
  const accountName = `bench-new-${person}`;
  const email = `bench.person${person}@contoso.example`;
  const { verifier, challenge } = await pkce();
  const authorize = new URL('/auth', issuer);
  authorize.search = new URLSearchParams({ client_id: 'bench-portal', response_type: 'code', scope: 'openid', redirect_uri: redirectUri, state: 'bench', code_challenge: challenge, code_challenge_method: 'S256' }).toString();
  let { page } = await browser.follow(authorize.href);
  ({ page } = await browser.follow(new URL(signInContinueLink(page!.body)!, page!.url).href));
  const afterUpstream = await signInAtUpstream(browser, page!, accountName);
  const form = afterUpstream.page!;
  if (!form.body.includes('name="email"')) throw new Error(`no email form (${form.status} ${form.url})`);
  const sent = await browser.post(new URL(formAction(form.body), form.url).href, { email, csrf: hiddenField(form.body, 'csrf')! });
  if (sent.status !== 303) throw new Error(`email form answered ${sent.status}`);
  const mailStarted = performance.now();
  const link = await mailbox.linkFor(email);
  const mailMs = performance.now() - mailStarted;
  const confirmation = await browser.get(link);
  const reauthentication = await browser.post(new URL(formAction(confirmation.body), link).href, { csrf: hiddenField(confirmation.body, 'csrf')! });
  const upstreamPage = await browser.follow(new URL(reauthentication.headers.get('location')!, link).href);
  const bound = await signInAtUpstream(browser, upstreamPage.page!, accountName);
  // The success page (guide step 9); its button continues the sign-in in this browser.
  const next = bound.page ? successContinueLink(bound.page.body) : undefined;
  if (!next) throw new Error(`no success page after binding (${bound.page?.status} ${bound.page?.url})`);
  const { location } = await browser.follow(new URL(next, bound.page!.url).href, (target) => target.href.startsWith(redirectUri));
  const code = location?.searchParams.get('code');
  if (!code) throw new Error('no code after binding');
  await tokenRequest(issuer, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier });
  return { latency: performance.now() - started, notes: { upstreamMs: upstreamMs(), mailMs } };
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'mbs-bench-'));
  let databaseUrl = `sqlite:${join(work, 'broker.sqlite')}`;
  let dropDatabase: (() => Promise<void>) | undefined;
  if (options.db === 'postgres') {
    const adminUrl = process.env.TEST_POSTGRES_URL;
    if (!adminUrl) throw new Error('--db postgres needs TEST_POSTGRES_URL');
    const name = `mbs_bench_${Date.now()}`;
    const admin = knex({ client: 'pg', connection: adminUrl });
    await admin.raw(`create database ${name}`);
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    databaseUrl = url.href;
    dropDatabase = async () => {
      await admin.raw(`drop database if exists ${name} with (force)`);
      await admin.destroy();
    };
  }

  const mailbox = new Mailbox();
  const smtpPort = await freePort();
  await new Promise<void>((resolve) => mailbox.server.listen(smtpPort, '127.0.0.1', resolve));

  const brokerPort = await freePort();
  const brokerUrl = `http://127.0.0.1:${brokerPort}`;
  // The dev upstream in a process of its own (the default), reached over HTTP
  // as Microsoft's would be, or embedded in the broker (`--upstream embedded`).
  let upstreamProcess: ChildProcess | undefined;
  let upstreamIssuer = `${brokerUrl}/dev/upstream`;
  let upstreamEnvironment: Record<string, string> = {};
  if (options.upstream === 'process') {
    const upstreamClient = { id: 'bench-broker', secret: 'bench-upstream-secret-0123456789' };
    upstreamProcess = spawnNode('bench/devUpstreamServer.ts', [], {
      PORT: String(await freePort()),
      BENCH_UPSTREAM_CLIENT_ID: upstreamClient.id,
      BENCH_UPSTREAM_CLIENT_SECRET: upstreamClient.secret,
      BENCH_UPSTREAM_REDIRECT_URI: `${brokerUrl}/upstream/callback`,
    });
    upstreamIssuer = (await readyLine(upstreamProcess, 'the dev upstream')).issuer as string;
    upstreamPid = upstreamProcess.pid;
    upstreamEnvironment = { UPSTREAM: 'oidc', UPSTREAM_ISSUER: upstreamIssuer, UPSTREAM_CLIENT_ID: upstreamClient.id, UPSTREAM_CLIENT_SECRET: upstreamClient.secret };
  } else if (options.upstream !== 'embedded') throw new Error('--upstream is process or embedded');
  upstreamOrigin = new URL(upstreamIssuer).href;
  const brokerEnvironment = {
    ...upstreamEnvironment,
    NODE_ENV: 'test',
    PORT: String(brokerPort),
    HOST: '127.0.0.1',
    ISSUER: brokerUrl,
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'warn',
    ADMIN_TOKEN: adminToken,
    SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
    LINK_REQUESTS_PER_HOUR: '100000000',
    DATABASE_POOL_MAX: '10',
    // Traces when the bench's caller asks for them (OTEL_EXPORTER_OTLP_ENDPOINT and the rest): the cost of tracing on.
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith('OTEL_'))),
  };
  const profileDirectory = join(work, 'profiles');
  mkdirSync(profileDirectory);
  // As `npm start` and the mbs-broker command run it: V8's young generation
  // capped at 8 MB per semi-space (RSS under load about 210 MB instead of 330).
  const brokerNodeFlags = ['--max-semi-space-size=8', ...(options['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${join(root, 'bench/results/tmp')}`] : [])];
  const broker = spawnNode('src/cli.ts', ['serve'], brokerEnvironment, brokerNodeFlags);
  await waitFor(async () => (await fetch(`${brokerUrl}/readyz`)).ok, 'the broker');

  const barePort = await freePort();
  const bare = spawnNode('bench/bareProvider.ts', [], { PORT: String(barePort), BENCH_CONNECTIONS: String(connections), BENCH_CLIENT_SECRET: clientSecret });
  const bareReady = await readyLine(bare, 'the bare provider');

  // The broker's side of the fixtures: the same client, profiles, one bound account.
  const admin = (path: string, body: unknown, contentType = 'application/json') =>
    fetch(`${brokerUrl}/admin/api${path}`, { method: path.startsWith('/profiles/') && path !== '/profiles/import' ? 'PUT' : 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': contentType }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const registered = await admin('/clients', { id: 'bench-portal', portal: 'partnersource', firstParty: true, redirectUris: [redirectUri], grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'] });
  if (registered.status !== 201) throw new Error(`registering the bench client: ${registered.status} ${await registered.text()}`);
  basic = basicFor(((await registered.json()) as { client_secret: string }).client_secret);
  const people = 20_000;
  const csv = ['id,portal,email,display_name,organization,roles', 'PS-BENCH,partnersource,bench.returning@contoso.example,Bench User,Contoso,member'];
  for (let person = 0; person < people; person += 1) csv.push(`PS-B${person},partnersource,bench.person${person}@contoso.example,Person ${person},Contoso,member`);
  // In parts: on a busy machine a PostgreSQL import of all 20,000 at once
  // outlasts fetch's 300 s wait for the answer.
  for (let start = 1; start < csv.length; start += 2000) {
    const imported = await admin('/profiles/import', [csv[0], ...csv.slice(start, start + 2000)].join('\n'), 'text/csv');
    if (!imported.ok) throw new Error(`importing profiles: ${imported.status}`);
  }
  const bind = spawnNode('src/cli.ts', ['--json', 'bindings', 'add', '--profile', 'PS-BENCH', '--issuer', upstreamIssuer, '--subject', (await import('../src/upstream/devUpstream.ts')).devSubject('bench-returning')], brokerEnvironment);
  await new Promise((resolve) => bind.once('exit', resolve));

  // Refresh and access tokens on the broker come from real sign-ins.
  const brokerRefresh: string[] = [];
  const brokerAccess: string[] = [];
  for (let index = 0; index < connections; index += 1) {
    const { tokens } = await returningSignIn(brokerUrl, 'bench-returning', { scope: 'openid offline_access', prompt: 'consent' });
    brokerRefresh.push(tokens.refresh_token!);
    brokerAccess.push(tokens.access_token!);
  }
  const bareRefresh = bareReady.refreshTokens as string[];
  const bareAccess = bareReady.accessTokens as string[];
  const targets = [
    { name: 'broker' as const, url: brokerUrl, pid: broker.pid!, refresh: brokerRefresh, access: brokerAccess, authorization: basic },
    { name: 'bare' as const, url: bareReady.issuer as string, pid: bare.pid!, refresh: bareRefresh, access: bareAccess, authorization: basicFor(clientSecret) },
  ];

  const want = (scenario: string) => !options.only || options.only.split(',').includes(scenario);
  const results: Measurement[] = [];

  process.stderr.write(`benchmark: ${connections} connections, warm-up ${warmup} s, ${rounds} rounds of ${duration} s, ${options.db}\n`);
  for (const target of targets) {
    const form = { authorization: target.authorization, 'content-type': 'application/x-www-form-urlencoded' };
    if (want('client_credentials')) {
      results.push(await measure('client_credentials', target.name, target.pid, autocannonRound({ url: `${target.url}/token`, method: 'POST', headers: form, bodies: ['grant_type=client_credentials'] })));
    }
    if (want('refresh')) {
      results.push(
        await measure('refresh', target.name, target.pid, autocannonRound({ url: `${target.url}/token`, method: 'POST', headers: form, bodies: target.refresh.map((token) => `grant_type=refresh_token&refresh_token=${token}`) })),
      );
    }
    if (want('userinfo')) {
      results.push(
        await measure('userinfo', target.name, target.pid, autocannonRound({ url: `${target.url}/me`, method: 'GET', headers: {}, headersPerConnection: target.access.map((token) => ({ authorization: `Bearer ${token}` })) })),
      );
    }
    if (want('introspection')) {
      results.push(
        await measure('introspection', target.name, target.pid, autocannonRound({ url: `${target.url}/token/introspection`, method: 'POST', headers: form, bodies: target.access.map((token) => `token=${token}`) })),
      );
    }
  }
  // Memory: 100,000 active sessions with refresh tokens in the store. It runs
  // before the browser scenarios, so that the figure is the broker's own and
  // not the mjml worker's, which the first emails load (and a minute without
  // mail unloads); those scenarios then run with the 100,000 sessions in place.
  let memoryScenario: Record<string, unknown> | undefined;
  if (want('memory')) {
    const sessions = Number(options.sessions);
    const startedAt = performance.now();
    await knexFor(databaseUrl, async (database) => {
      const now = Date.now();
      const expires = now + 14 * 86_400_000;
      const batch: Array<Record<string, unknown>> = [];
      const flush = async () => {
        if (batch.length) await database.batchInsert('oidc_payloads', batch.splice(0), 500);
      };
      for (let index = 0; index < sessions; index += 1) {
        const accountId = `memory-account-${index}`;
        const grantId = `memory-grant-${index}`;
        const uid = `memory-session-uid-${index}`;
        batch.push({ type: 'Session', id: `memory-session-${index}`, uid, grant_id: null, account_id: accountId, expires_at: expires, payload: JSON.stringify({ accountId, uid, loginTs: Math.floor(now / 1000), kind: 'Session', exp: Math.floor(expires / 1000), iat: Math.floor(now / 1000), authorizations: { 'bench-portal': { sid: `sid-${index}`, grantId, persistsLogout: false } } }) });
        batch.push({ type: 'Grant', id: grantId, uid: null, grant_id: null, account_id: accountId, expires_at: expires, payload: JSON.stringify({ accountId, clientId: 'bench-portal', kind: 'Grant', openid: { scope: 'openid offline_access' }, exp: Math.floor(expires / 1000), iat: Math.floor(now / 1000), jti: grantId }) });
        batch.push({ type: 'RefreshToken', id: `sha256:memory-refresh-${index}`.padEnd(50, 'x'), uid: null, grant_id: grantId, account_id: accountId, expires_at: expires, payload: JSON.stringify({ accountId, clientId: 'bench-portal', grantId, kind: 'RefreshToken', scope: 'openid offline_access', gty: 'authorization_code', authTime: Math.floor(now / 1000), sessionUid: uid, exp: Math.floor(expires / 1000), iat: Math.floor(now / 1000), rotations: 0, iiat: Math.floor(now / 1000) }) });
        if (batch.length >= 3000) await flush();
      }
      await flush();
    });
    const inserted = (performance.now() - startedAt) / 1000;
    // Work the store with the rows in place, then read the broker's memory.
    const after = await measure('refresh_with_100k_sessions', 'broker', broker.pid!, autocannonRound({ url: `${brokerUrl}/token`, method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, bodies: brokerRefresh.map((token) => `grant_type=refresh_token&refresh_token=${token}`) }));
    results.push(after);
    const databaseBytes =
      options.db === 'postgres'
        ? await knexFor(databaseUrl, async (database) => Number(((await database.raw('select pg_database_size(current_database()) as size')) as { rows: Array<{ size: string }> }).rows[0]!.size))
        : ['', '-wal', '-shm'].map((suffix) => join(work, `broker.sqlite${suffix}`)).filter(existsSync).reduce((total, file) => total + statSync(file).size, 0);
    memoryScenario = { sessions, rowsInserted: sessions * 3, insertSeconds: round1(inserted), ...memory(broker.pid!), databaseMb: Math.round(databaseBytes / 1024 / 1024) };
    process.stderr.write(`  memory: ${JSON.stringify(memoryScenario)}\n`);
  }

  if (want('import_beside') && options.db === 'sqlite') {
    results.push(await importBesideBroker(brokerUrl, brokerEnvironment, work, broker.pid!));
  }

  if (want('sign_in')) {
    results.push(
      await measure('sign_in', 'broker', broker.pid!, (seconds) =>
        loopRound(seconds, async () => {
          const { latency, upstreamMs } = await returningSignIn(brokerUrl, 'bench-returning');
          return { latency, notes: { upstreamMs } };
        }),
      ),
    );
  }
  if (want('first_login')) {
    let next = 0;
    results.push(await measure('first_login', 'broker', broker.pid!, (seconds) => loopRound(seconds, () => firstLogin(brokerUrl, mailbox, next++ % people))));
  }

  broker.kill('SIGTERM');
  bare.kill('SIGTERM');
  upstreamProcess?.kill('SIGTERM');
  await Promise.all([broker, bare, ...(upstreamProcess ? [upstreamProcess] : [])].map((child) => new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(undefined)))));
  mailbox.server.close();
  await dropDatabase?.();
  rmSync(work, { recursive: true, force: true });

  report(results, memoryScenario);
}

/**
 * The CLI's `profiles import` of 50,000 new profiles, in its own process on
 * the broker's SQLite file, while the broker serves client_credentials token
 * requests at a steady 200 a second: the latency of the requests answered
 * while the import runs, and the same load's latency without it just before.
 */
async function importBesideBroker(brokerUrl: string, brokerEnvironment: Record<string, string>, work: string, pid: number): Promise<Measurement> {
  const rate = 200;
  const profiles = 50_000;
  const file = join(work, 'import-beside.csv');
  const csv = ['id,portal,email,display_name,organization,roles'];
  for (let index = 0; index < profiles; index += 1) csv.push(`CS-IMPORT${index},customersource,import.person${index}@fabrikam.example,Import Person ${index},Fabrikam,member`);
  writeFileSync(file, csv.join('\n'));
  const load = (until: Promise<unknown>) =>
    new Promise<{ latencies: number[]; operations: number; errors: number; statuses: Record<number, number> }>((resolve, reject) => {
      const latencies: number[] = [];
      const statuses: Record<number, number> = {};
      let errors = 0;
      const instance = autocannon(
        { url: `${brokerUrl}/token`, method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials', connections: 16, overallRate: rate, duration: 600 },
        (error, result) => (error ? reject(error) : resolve({ latencies, operations: result.requests.total, errors: errors + result.errors + result.timeouts, statuses })),
      );
      instance.on('response', (_client, statusCode, _bytes, responseTime) => {
        latencies.push(responseTime);
        statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
        if (statusCode >= 400) errors += 1;
      });
      void until.finally(() => instance.stop());
    });
  const sorted = (values: number[]) => [...values].sort((left, right) => left - right);
  const baseline = await load(new Promise((resolve) => setTimeout(resolve, 5000)));
  const cpuBefore = cpuSeconds(pid);
  const started = performance.now();
  const importer = spawnNode('src/cli.ts', ['--json', 'profiles', 'import', file], brokerEnvironment);
  let importOutput = '';
  importer.stdout!.on('data', (chunk: Buffer) => (importOutput += chunk.toString()));
  const exited = new Promise<number>((resolve) => importer.once('exit', (code) => resolve(code ?? 1)));
  const during = await load(exited);
  const exitCode = await exited;
  const seconds = (performance.now() - started) / 1000;
  const latencies = sorted(during.latencies);
  const baselineLatencies = sorted(baseline.latencies);
  const report = exitCode === 0 ? (JSON.parse(importOutput) as { created: number; updated: number }) : undefined;
  const measurement: Measurement = {
    scenario: 'import_beside',
    target: 'broker',
    operations: during.operations,
    errors: during.errors,
    seconds: round1(seconds),
    perSecond: Math.round(during.operations / seconds),
    roundsPerSecond: [Math.round(during.operations / seconds)],
    p50: round1(percentile(latencies, 0.5)),
    p95: round1(percentile(latencies, 0.95)),
    p99: round1(percentile(latencies, 0.99)),
    cpuSecondsPer1000: during.operations ? Math.round(((cpuSeconds(pid) - cpuBefore) / during.operations) * 1000 * 100) / 100 : 0,
    loadCpuSecondsPer1000: 0,
    ...memory(pid),
    notes: {
      importExitCode: exitCode,
      importSeconds: round1(seconds),
      imported: report ? report.created + report.updated : 0,
      statuses: during.statuses,
      baselineP50: round1(percentile(baselineLatencies, 0.5)),
      baselineP99: round1(percentile(baselineLatencies, 0.99)),
      max: round1(latencies.at(-1) ?? 0),
      over100ms: latencies.filter((latency) => latency > 100).length,
    },
  };
  process.stderr.write(`  import_beside: import exit ${exitCode} in ${round1(seconds)} s; ${during.operations} requests at ${rate}/s, p50 ${measurement.p50} ms, p99 ${measurement.p99} ms max ${round1(latencies.at(-1) ?? 0)} ms, ${latencies.filter((latency) => latency > 100).length} over 100 ms (without the import: p99 ${measurement.notes!.baselineP99} ms), errors ${during.errors}\n`);
  return measurement;
}

async function knexFor<Result>(databaseUrl: string, work: (database: ReturnType<typeof knex>) => Promise<Result>): Promise<Result> {
  // The broker's own SQLite client (node:sqlite, WAL, busy timeout) beside the running broker.
  const database = databaseUrl.startsWith('sqlite:') ? openDatabase({ url: databaseUrl }) : knex({ client: 'pg', connection: databaseUrl });
  try {
    return await work(database);
  } finally {
    await database.destroy();
  }
}

function report(results: Measurement[], memoryScenario: Record<string, unknown> | undefined): void {
  const bareOf = (scenario: string) => results.find((result) => result.scenario === scenario && result.target === 'bare');
  const rows = results.map((result) => {
    const bare = result.target === 'broker' ? bareOf(result.scenario) : undefined;
    return {
      scenario: result.scenario,
      target: result.target,
      'ops/s': result.perSecond,
      'p50 ms': result.p50,
      'p95 ms': result.p95,
      'p99 ms': result.p99,
      'broker/bare': bare ? Math.round((result.perSecond / bare.perSecond) * 100) / 100 : '',
      'CPU s/1000': result.cpuSecondsPer1000,
      'load CPU s/1000': result.loadCpuSecondsPer1000,
      'upstream CPU s/1000': result.upstreamCpuSecondsPer1000 ?? '',
      'peak RSS MB': result.peakRssMb,
      errors: result.errors,
      ...(result.notes ? { 'upstream ms/op': result.notes.upstreamMs ?? '', 'mail wait ms/op': result.notes.mailMs ?? '' } : {}),
    };
  });
  console.table(rows);
  if (memoryScenario) console.log('memory scenario:', memoryScenario);
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGb: Math.round(totalmem() / 1024 ** 3),
    freeMemoryGb: Math.round(freemem() / 1024 ** 3),
    os: `${platform()} ${release()}`,
    node: process.version,
  };
  const document = { date: new Date().toISOString(), machine, settings: { db: options.db, connections, duration, rounds, warmup }, results, memory: memoryScenario };
  if (!options['no-write']) {
    const file = join(root, 'bench/results', `${new Date().toISOString().slice(0, 10)}${options.db === 'postgres' ? '-postgres' : ''}.json`);
    writeFileSync(file, `${JSON.stringify(document, null, 2)}\n`);
    console.log(`written: ${file}`);
  }
}

await main();
