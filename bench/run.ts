// `npm run bench`: starts the broker (SQLite by default, `--db postgres` with
// TEST_POSTGRES_URL) and a bare oidc-provider (in-memory adapter, same
// client, algorithms and TTLs) as child processes, drives both over loopback
// HTTP from this process (autocannon for single requests, a cookie-jar client
// for the browser round trips) with a warm-up and several rounds, and
// reports throughput, p50/p95/p99 latency, the broker/bare ratio, CPU seconds
// per 1,000 operations and peak RSS. Results go to
// bench/results/<date>-<database>[-<label>].json. Every child process ends
// with the benchmark (bench/children.ts); `--quick` is a one-minute check.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem, tmpdir, release, platform } from 'node:os';
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
import { prepareNginx } from '../test/support/cluster.ts';
import { cpuSeconds, cpuSecondsBetween, processCpuSeconds, endChildrenOnExit, endingOnSignal, spawnChild, stopChildren } from './children.ts';
import { startBenchNginx } from './nginx.ts';
import { insertSessions, rowCounter } from './scale.ts';

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
    quick: { type: 'boolean', default: false },
    instances: { type: 'string', default: '1' },
    label: { type: 'string' },
  },
});
// `--quick`: every scenario, smaller and shorter (about a minute); explicit options still win.
const quick = options.quick ? { connections: '8', duration: '2', rounds: '1', warmup: '1', sessions: '10000', people: 2000, importProfiles: 5000 } : undefined;
const given = (name: string) => process.argv.some((argument) => argument === `--${name}` || argument.startsWith(`--${name}=`));
const option = (name: 'connections' | 'duration' | 'rounds' | 'warmup' | 'sessions') => (quick && !given(name) ? quick[name] : options[name]!);
const connections = Number(option('connections'));
const duration = Number(option('duration'));
const rounds = Number(option('rounds'));
const warmup = Number(option('warmup'));
const sessions = Number(option('sessions'));
const instances = Number(options.instances);
const clientSecret = 'bench-secret-0123456789-0123456789-0123';
const adminToken = 'bench-admin-token-0123456789';
const redirectUri = 'http://127.0.0.1:9/callback';

// ---------------------------------------------------------------- processes

function spawnNode(script: string, args: string[], env: Record<string, string>, nodeFlags: string[] = []): ChildProcess {
  return spawnChild([script, ...args.slice(0, 3)].join(' '), process.execPath, [...nodeFlags, join(root, script), ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
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

function memory(pid: number): { rssMb: number; peakRssMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMb: Math.round(kb('VmRSS') / 1024), peakRssMb: Math.round(kb('VmHWM') / 1024) };
}

// ---------------------------------------------------------------- measuring

interface Measurement {
  scenario: string;
  /** The broker, the bare provider, or (`--instances 2`) one or two brokers behind nginx. */
  target: 'broker' | 'bare' | 'one instance' | 'two instances';
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
  /** CPU seconds per 1,000 operations of the other processes the operation goes through (`--instances 2`: nginx, PostgreSQL). */
  otherCpuSecondsPer1000?: Record<string, number>;
  rssMb: number;
  peakRssMb: number;
  /** The machine's 1-minute load average when the measurement ended (other jobs share the cores). */
  loadAverage?: number;
  notes?: Record<string, unknown>;
}

const percentile = (sorted: number[], fraction: number): number => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]! : 0);
const round1 = (value: number) => Math.round(value * 10) / 10;

async function measure(
  scenario: string,
  target: Measurement['target'],
  pids: number | number[],
  runRound: (seconds: number) => Promise<{ operations: number; errors: number; latencies: number[]; notes?: Record<string, number> }>,
  otherCpu: Record<string, () => Map<number, number>> = {},
): Promise<Measurement> {
  const brokerPids = [pids].flat();
  const brokerCpu = () => brokerPids.reduce((total, pid) => total + cpuSeconds(pid), 0);
  const otherCpuBefore = Object.fromEntries(Object.entries(otherCpu).map(([name, read]) => [name, read()]));
  if (warmup > 0) await runRound(warmup);
  const latencies: number[] = [];
  const roundsPerSecond: number[] = [];
  let operations = 0;
  let errors = 0;
  let seconds = 0;
  const noteTotals: Record<string, number> = {};
  const cpuBefore = brokerCpu();
  const loadCpuBefore = process.cpuUsage();
  const upstreamCpuBefore = target !== 'bare' && upstreamPid ? cpuSeconds(upstreamPid) : undefined;
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
  const cpu = brokerCpu() - cpuBefore;
  const otherCpuUsed = Object.entries(otherCpu).map(([name, read]) => [name, cpuSecondsBetween(otherCpuBefore[name]!, read())] as const);
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
    ...(otherCpuUsed.length ? { otherCpuSecondsPer1000: Object.fromEntries(otherCpuUsed.map(([name, used]) => [name, per1000(used)])) } : {}),
    ...memory(brokerPids[0]!),
    loadAverage: round1(loadavg()[0]!),
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

const want = (scenario: string) => !options.only || options.only.split(',').includes(scenario);
/** Profiles imported for the first logins (each binds one). */
const people = quick?.people ?? 20_000;
/** The broker's SWEEP_INTERVAL in the benchmark, so that the sweep scenario sees a sweep within seconds. */
const sweepInterval = quick ? 5 : 20;
/** What ending the benchmark undoes besides its child processes (the PostgreSQL database, the SMTP server, the work directory), last first. */
const cleanUps: Array<() => Promise<void>> = [];

async function cleanUp(): Promise<void> {
  for (const step of cleanUps.splice(0).reverse()) await step().catch((error: unknown) => process.stderr.write(`cleaning up: ${(error as Error).message}\n`));
}

/** A fresh database: a file in `work`, or a database of its own on TEST_POSTGRES_URL, dropped at the end. */
async function createDatabase(work: string): Promise<string> {
  if (options.db === 'sqlite') return `sqlite:${join(work, 'broker.sqlite')}`;
  if (options.db !== 'postgres') throw new Error('--db is sqlite or postgres');
  const adminUrl = process.env.TEST_POSTGRES_URL;
  if (!adminUrl) throw new Error('--db postgres needs TEST_POSTGRES_URL');
  const name = `mbs_bench_${Date.now()}`;
  const admin = knex({ client: 'pg', connection: adminUrl });
  await admin.raw(`create database ${name}`);
  cleanUps.push(async () => {
    await admin.raw(`drop database if exists ${name} with (force)`);
    await admin.destroy();
  });
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.href;
}

/** The dev upstream in a process of its own (the default), reached over HTTP as Microsoft's would be, or embedded in the broker (`--upstream embedded`). */
async function startUpstream(publicUrl: string): Promise<{ issuer: string; environment: Record<string, string> }> {
  if (options.upstream === 'embedded' && instances === 1) return { issuer: `${publicUrl}/dev/upstream`, environment: {} };
  if (options.upstream !== 'process') throw new Error('--upstream is process or embedded (and process with --instances)');
  const client = { id: 'bench-broker', secret: 'bench-upstream-secret-0123456789' };
  const child = spawnNode('bench/devUpstreamServer.ts', [], { PORT: String(await freePort()), BENCH_UPSTREAM_CLIENT_ID: client.id, BENCH_UPSTREAM_CLIENT_SECRET: client.secret, BENCH_UPSTREAM_REDIRECT_URI: `${publicUrl}/upstream/callback` });
  const issuer = (await readyLine(child, 'the dev upstream')).issuer as string;
  upstreamPid = child.pid;
  return { issuer, environment: { UPSTREAM: 'oidc', UPSTREAM_ISSUER: issuer, UPSTREAM_CLIENT_ID: client.id, UPSTREAM_CLIENT_SECRET: client.secret } };
}

/** `mbs-broker serve` on `port`; resolves once it is ready. */
async function startBroker(environment: Record<string, string>, port: number): Promise<ChildProcess> {
  // As `npm start` and the mbs-broker command run it: V8's young generation
  // capped at 8 MB per semi-space (RSS under load about 210 MB instead of 330).
  const flags = ['--max-semi-space-size=8', ...(options['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${join(root, 'bench/results/tmp')}`] : [])];
  const broker = spawnNode('src/cli.ts', ['serve'], { ...environment, PORT: String(port) }, flags);
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, 'the broker');
  return broker;
}

/** The broker's side of the fixtures: the bench client, `people` profiles, one account bound to the dev upstream's bench-returning user. */
async function registerFixtures(adminUrl: string, brokerEnvironment: Record<string, string>, upstreamIssuer: string, people: number): Promise<void> {
  const admin = (path: string, body: string, contentType: string) => fetch(`${adminUrl}/admin/api${path}`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': contentType }, body });
  const registered = await admin('/clients', JSON.stringify({ id: 'bench-portal', portal: 'partnersource', firstParty: true, redirectUris: [redirectUri], grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'] }), 'application/json');
  if (registered.status !== 201) throw new Error(`registering the bench client: ${registered.status} ${await registered.text()}`);
  basic = basicFor(((await registered.json()) as { client_secret: string }).client_secret);
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
}

/** A refresh and an access token per connection, from real sign-ins. */
async function signedInTokens(publicUrl: string): Promise<{ refresh: string[]; access: string[] }> {
  const refresh: string[] = [];
  const access: string[] = [];
  for (let index = 0; index < connections; index += 1) {
    const { tokens } = await returningSignIn(publicUrl, 'bench-returning', { scope: 'openid offline_access', prompt: 'consent' });
    refresh.push(tokens.refresh_token!);
    access.push(tokens.access_token!);
  }
  return { refresh, access };
}

interface Target {
  name: Measurement['target'];
  url: string;
  pids: number[];
  tokens: { refresh: string[]; access: string[] };
  authorization: string;
  otherCpu?: Record<string, () => Map<number, number>>;
  /** Runs before each of this target's measurements (`--instances 2`: points nginx at its instances). */
  prepare?: () => Promise<void>;
}

const tokenScenarios = ['client_credentials', 'refresh', 'userinfo', 'introspection'] as const;

function tokenRound(scenario: (typeof tokenScenarios)[number], target: Target) {
  const form = { authorization: target.authorization, 'content-type': 'application/x-www-form-urlencoded' };
  if (scenario === 'client_credentials') return autocannonRound({ url: `${target.url}/token`, method: 'POST', headers: form, bodies: ['grant_type=client_credentials'] });
  if (scenario === 'refresh') return autocannonRound({ url: `${target.url}/token`, method: 'POST', headers: form, bodies: target.tokens.refresh.map((token) => `grant_type=refresh_token&refresh_token=${token}`) });
  if (scenario === 'userinfo') return autocannonRound({ url: `${target.url}/me`, method: 'GET', headers: {}, headersPerConnection: target.tokens.access.map((token) => ({ authorization: `Bearer ${token}` })) });
  return autocannonRound({ url: `${target.url}/token/introspection`, method: 'POST', headers: form, bodies: target.tokens.access.map((token) => `token=${token}`) });
}

/** Each token scenario on each target in turn, so that the targets of one scenario run back to back under the same machine load. */
async function measureTokenScenarios(targets: Target[], results: Measurement[]): Promise<void> {
  for (const scenario of tokenScenarios.filter(want)) {
    for (const target of targets) {
      await target.prepare?.();
      results.push(await measure(scenario, target.name, target.pids, tokenRound(scenario, target), target.otherCpu));
    }
  }
}

/** The SMTP server that receives the link emails, and the work directory. */
async function startMailbox(): Promise<{ mailbox: Mailbox; smtpPort: number }> {
  const mailbox = new Mailbox();
  const smtpPort = await freePort();
  await new Promise<void>((resolve) => mailbox.server.listen(smtpPort, '127.0.0.1', resolve));
  cleanUps.push(async () => void mailbox.server.close());
  return { mailbox, smtpPort };
}

function brokerEnvironmentFor(publicUrl: string, databaseUrl: string, smtpPort: number, upstreamEnvironment: Record<string, string>): Record<string, string> {
  return {
    ...upstreamEnvironment,
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    ISSUER: publicUrl,
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'warn',
    ADMIN_TOKEN: adminToken,
    SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
    LINK_REQUESTS_PER_HOUR: '100000000',
    DATABASE_POOL_MAX: '10',
    SWEEP_INTERVAL: String(sweepInterval),
    ...(instances > 1 ? { TRUST_PROXY: 'true' } : {}),
    // Traces when the bench's caller asks for them (OTEL_EXPORTER_OTLP_ENDPOINT and the rest): the cost of tracing on.
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith('OTEL_'))),
  };
}

/** One broker beside the bare provider: every scenario. */
async function runSingle(work: string, databaseUrl: string): Promise<{ results: Measurement[]; scale?: Record<string, unknown> }> {
  const { mailbox, smtpPort } = await startMailbox();
  const brokerPort = await freePort();
  const brokerUrl = `http://127.0.0.1:${brokerPort}`;
  const upstream = await startUpstream(brokerUrl);
  upstreamOrigin = new URL(upstream.issuer).href;
  const brokerEnvironment = { ...brokerEnvironmentFor(brokerUrl, databaseUrl, smtpPort, upstream.environment), PORT: String(brokerPort) };
  const broker = await startBroker(brokerEnvironment, brokerPort);
  const bare = spawnNode('bench/bareProvider.ts', [], { PORT: String(await freePort()), BENCH_CONNECTIONS: String(connections), BENCH_CLIENT_SECRET: clientSecret });
  const bareReady = await readyLine(bare, 'the bare provider');
  await registerFixtures(brokerUrl, brokerEnvironment, upstream.issuer, want('first_login') ? people : 0);
  const brokerTokens = await signedInTokens(brokerUrl);

  const results: Measurement[] = [];
  process.stderr.write(`benchmark: ${connections} connections, warm-up ${warmup} s, ${rounds} rounds of ${duration} s, ${options.db}\n`);
  await measureTokenScenarios(
    [
      { name: 'broker', url: brokerUrl, pids: [broker.pid!], tokens: brokerTokens, authorization: basic },
      { name: 'bare', url: bareReady.issuer as string, pids: [bare.pid!], tokens: { refresh: bareReady.refreshTokens as string[], access: bareReady.accessTokens as string[] }, authorization: basicFor(clientSecret) },
    ],
    results,
  );
  // The store at scale runs before the browser scenarios, so that the RSS is
  // the broker's own and not the mjml worker's, which the first emails load
  // (and a minute without mail unloads); those scenarios then run with the
  // sessions in place.
  const scale = want('memory') || want('sweep') ? await storeAtScale({ databaseUrl, work, brokerUrl, pid: broker.pid!, refresh: brokerTokens.refresh }, results) : undefined;
  if (want('import_beside') && options.db === 'sqlite') results.push(await importBesideBroker(brokerUrl, brokerEnvironment, work, broker.pid!));
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
  return { results, scale };
}

/**
 * `--instances 2`: two brokers on one PostgreSQL database behind nginx (the
 * example configuration, TLS included), measured through nginx pointed at
 * one of them and then at both, scenario by scenario.
 */
async function runInstances(databaseUrl: string): Promise<{ results: Measurement[]; scale?: undefined }> {
  if (options.db !== 'postgres' || instances !== 2) throw new Error('--instances 2 runs on --db postgres');
  const setup = await prepareNginx();
  cleanUps.push(async () => rmSync(setup.directory, { recursive: true, force: true }));
  const publicUrl = `https://127.0.0.1:${setup.port}`;
  const { smtpPort } = await startMailbox();
  const upstream = await startUpstream(publicUrl);
  upstreamOrigin = new URL(upstream.issuer).href;
  const environment = brokerEnvironmentFor(publicUrl, databaseUrl, smtpPort, upstream.environment);
  const ports = [await freePort(), await freePort()];
  // One after the other: the first creates the schema and the keys.
  const brokers = [await startBroker(environment, ports[0]!), await startBroker(environment, ports[1]!)];
  const addresses = ports.map((port) => `127.0.0.1:${port}`);
  const nginx = await startBenchNginx(setup, addresses);
  // No first logins here: no profiles to bind beyond the returning user's.
  await registerFixtures(`http://${addresses[0]}`, { ...environment, PORT: String(ports[0]) }, upstream.issuer, 0);
  const tokens = await signedInTokens(publicUrl);
  // PostgreSQL's processes: the backends of this database, and the server's own (WAL writer, checkpointer, …), which other jobs' databases use too.
  const databaseName = new URL(databaseUrl).pathname.slice(1);
  const postgresProcesses = new RegExp(`^postgres: .*(${databaseName}|checkpointer|background writer|walwriter)`);
  const otherCpu = { nginx: () => nginx.cpuSeconds(), postgres: () => processCpuSeconds({ commandLine: postgresProcesses }) };
  const results: Measurement[] = [];
  process.stderr.write(`benchmark: ${connections} connections, warm-up ${warmup} s, ${rounds} rounds of ${duration} s, postgres, one instance and two behind nginx\n`);
  await measureTokenScenarios(
    [
      { name: 'one instance', url: publicUrl, pids: [brokers[0]!.pid!], tokens, authorization: basic, otherCpu, prepare: () => nginx.pointAt(addresses.slice(0, 1)) },
      { name: 'two instances', url: publicUrl, pids: brokers.map((broker) => broker.pid!), tokens, authorization: basic, otherCpu, prepare: () => nginx.pointAt(addresses) },
    ],
    results,
  );
  return { results };
}

async function main(): Promise<void> {
  endChildrenOnExit(cleanUp);
  const work = mkdtempSync(join(tmpdir(), 'mbs-bench-'));
  cleanUps.push(async () => rmSync(work, { recursive: true, force: true }));
  const loadBefore = loadavg();
  const databaseUrl = await createDatabase(work);
  const { results, scale } = instances > 1 ? await runInstances(databaseUrl) : await runSingle(work, databaseUrl);
  await stopChildren();
  await cleanUp();
  report(results, scale, loadBefore);
}

/** Latency of each response, with when it arrived (performance.now()). */
interface TimedLoad {
  samples: Array<{ at: number; latency: number }>;
  operations: number;
  errors: number;
  statuses: Record<number, number>;
}

/** Autocannon on `url` until `until` settles: one body per connection, at `overallRate` requests a second if given, as fast as it goes otherwise. */
function loadUntil(request: { url: string; bodies: string[]; connections: number; overallRate?: number }, until: Promise<unknown>): Promise<TimedLoad> {
  return new Promise((resolve, reject) => {
    const samples: TimedLoad['samples'] = [];
    const statuses: Record<number, number> = {};
    let errors = 0;
    let assigned = 0;
    const instance = autocannon(
      {
        url: request.url,
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        connections: request.connections,
        ...(request.overallRate ? { overallRate: request.overallRate } : {}),
        duration: 900,
        setupClient: (client) => client.setBody(request.bodies[assigned++ % request.bodies.length]!),
      },
      (error, result) => (error ? reject(error) : resolve({ samples, operations: result.requests.total, errors: errors + result.errors + result.timeouts, statuses })),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      samples.push({ at: performance.now(), latency: responseTime });
      statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
      if (statusCode >= 400) errors += 1;
    });
    void until.finally(() => instance.stop());
  });
}

const sorted = (values: number[]) => [...values].sort((left, right) => left - right);

/** The broker under a steady load while something else happens (a sweep, an import): `load.latencies` are those of the requests answered meanwhile. */
function measurementBeside(scenario: string, pid: number, cpuSecondsBefore: number, load: { operations: number; errors: number; seconds: number; latencies: number[] }, notes: Record<string, unknown>): Measurement {
  const latencies = sorted(load.latencies);
  return {
    scenario,
    target: 'broker',
    operations: load.operations,
    errors: load.errors,
    seconds: round1(load.seconds),
    perSecond: Math.round(load.operations / load.seconds),
    roundsPerSecond: [Math.round(load.operations / load.seconds)],
    p50: round1(percentile(latencies, 0.5)),
    p95: round1(percentile(latencies, 0.95)),
    p99: round1(percentile(latencies, 0.99)),
    cpuSecondsPer1000: load.operations ? Math.round(((cpuSeconds(pid) - cpuSecondsBefore) / load.operations) * 1000 * 100) / 100 : 0,
    loadCpuSecondsPer1000: 0,
    ...memory(pid),
    loadAverage: round1(loadavg()[0]!),
    notes,
  };
}

/**
 * `sessions` active users (a session, a grant and a refresh token each: 3
 * rows) written into the store beside the running broker, refresh measured
 * with them in place against the same broker's refresh on the empty store,
 * the broker's RSS and the database's size; then the sweep scenario.
 */
async function storeAtScale(context: { databaseUrl: string; work: string; brokerUrl: string; pid: number; refresh: string[] }, results: Measurement[]): Promise<Record<string, unknown>> {
  const { databaseUrl, work, brokerUrl, pid, refresh } = context;
  const refreshRound = autocannonRound({ url: `${brokerUrl}/token`, method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, bodies: refresh.map((token) => `grant_type=refresh_token&refresh_token=${token}`) });
  const emptyStore = results.find((result) => result.scenario === 'refresh' && result.target === 'broker') ?? (await measure('refresh', 'broker', pid, refreshRound));
  if (!results.includes(emptyStore)) results.push(emptyStore);
  let scale: Record<string, unknown> = { sessions };
  if (want('memory')) {
    const insertSeconds = await insertSessions(databaseUrl, { users: sessions, prefix: 'memory', expiresAt: (_index, now) => now + 14 * 86_400_000 });
    process.stderr.write(`  inserted ${sessions * 3} rows in ${round1(insertSeconds)} s\n`);
    const full = await measure(`refresh_with_${sessions}_sessions`, 'broker', pid, refreshRound);
    results.push(full);
    const databaseBytes =
      options.db === 'postgres'
        ? await knexFor(databaseUrl, async (database) => Number(((await database.raw('select pg_database_size(current_database()) as size')) as { rows: Array<{ size: string }> }).rows[0]!.size))
        : ['', '-wal', '-shm'].map((suffix) => join(work, `broker.sqlite${suffix}`)).filter(existsSync).reduce((total, file) => total + statSync(file).size, 0);
    scale = { ...scale, rowsInserted: sessions * 3, insertSeconds: round1(insertSeconds), rowsPerSecond: Math.round((sessions * 3) / insertSeconds), refreshVsEmptyStore: Math.round((full.perSecond / emptyStore.perSecond) * 100) / 100, ...memory(pid), databaseMb: Math.round(databaseBytes / 1024 / 1024) };
  }
  // The insert's speed, measured above, says how long the sweep's rows take to write.
  if (want('sweep')) results.push(await sweepUnderRefresh(databaseUrl, brokerUrl, pid, refresh, Number(scale.rowsPerSecond ?? 10_000)));
  process.stderr.write(`  store at scale: ${JSON.stringify(scale)}\n`);
  return scale;
}

/**
 * A day's expiries among `sessions` users (their sessions last 14 days: a
 * fourteenth of them, 3 rows each), written in one transaction to expire a
 * moment after it commits, and deleted by the broker's own sweeper
 * (SWEEP_INTERVAL) while refresh runs at full speed: the refresh latency
 * while the rows disappear, against the same load's before and after.
 * Expiring after the insert rather than before keeps the sweeper from
 * deleting them before the load starts.
 */
async function sweepUnderRefresh(databaseUrl: string, brokerUrl: string, pid: number, refresh: string[], insertRowsPerSecond: number): Promise<Measurement> {
  const expiredUsers = Math.max(1, Math.round(sessions / 14));
  const rows = expiredUsers * 3;
  const expiresAt = Date.now() + Math.round(((rows / insertRowsPerSecond) * 2 + 2) * 1000);
  const insertSeconds = await insertSessions(databaseUrl, { users: expiredUsers, prefix: 'expired', atomically: true, expiresAt: () => expiresAt });
  const counter = await rowCounter(databaseUrl, expiresAt);
  const window: { start?: number; end?: number } = {};
  const cpuBefore = cpuSeconds(pid);
  const started = performance.now();
  const watched = (async () => {
    const deadline = performance.now() + (expiresAt - Date.now()) + (3 * sweepInterval + 60) * 1000;
    while (performance.now() < deadline && window.end === undefined) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const left = await counter.count();
      window.start ??= left < rows || (await counter.deleting()) ? performance.now() - 200 : undefined;
      if (left === 0) window.end = performance.now();
    }
    // The same load after the sweep, for comparison.
    await new Promise((resolve) => setTimeout(resolve, 3000));
  })();
  const load = await loadUntil({ url: `${brokerUrl}/token`, connections, bodies: refresh.map((token) => `grant_type=refresh_token&refresh_token=${token}`) }, watched);
  await watched;
  await counter.close();
  const seconds = (performance.now() - started) / 1000;
  const inWindow = (at: number) => window.start !== undefined && window.end !== undefined && at >= window.start && at <= window.end;
  const during = sorted(load.samples.filter((sample) => inWindow(sample.at)).map((sample) => sample.latency));
  const outside = sorted(load.samples.filter((sample) => !inWindow(sample.at)).map((sample) => sample.latency));
  const notes = { expiredRows: rows, insertSeconds: round1(insertSeconds), sweepSeconds: window.end && window.start ? round1((window.end - window.start) / 1000) : 'not seen', requestsDuringSweep: during.length, maxDuringSweep: round1(during.at(-1) ?? 0), outsideP50: round1(percentile(outside, 0.5)), outsideP99: round1(percentile(outside, 0.99)), statuses: load.statuses };
  const measurement = measurementBeside('sweep', pid, cpuBefore, { operations: load.operations, errors: load.errors, seconds, latencies: during }, notes);
  process.stderr.write(`  sweep: ${rows} expired rows deleted in ${measurement.notes!.sweepSeconds} s under refresh load; p99 during ${measurement.p99} ms (max ${measurement.notes!.maxDuringSweep}), outside ${measurement.notes!.outsideP99} ms\n`);
  return measurement;
}

/**
 * The CLI's `profiles import` of 50,000 new profiles, in its own process on
 * the broker's SQLite file, while the broker serves client_credentials token
 * requests at a steady 200 a second: the latency of the requests answered
 * while the import runs, and the same load's latency without it just before.
 */
async function importBesideBroker(brokerUrl: string, brokerEnvironment: Record<string, string>, work: string, pid: number): Promise<Measurement> {
  const rate = 200;
  const profiles = quick?.importProfiles ?? 50_000;
  const file = join(work, 'import-beside.csv');
  const csv = ['id,portal,email,display_name,organization,roles'];
  for (let index = 0; index < profiles; index += 1) csv.push(`CS-IMPORT${index},customersource,import.person${index}@fabrikam.example,Import Person ${index},Fabrikam,member`);
  writeFileSync(file, csv.join('\n'));
  const load = async (until: Promise<unknown>) => {
    const result = await loadUntil({ url: `${brokerUrl}/token`, connections: 16, overallRate: rate, bodies: ['grant_type=client_credentials'] }, until);
    return { ...result, latencies: result.samples.map((sample) => sample.latency) };
  };
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
  const baselineLatencies = sorted(baseline.latencies);
  const report = exitCode === 0 ? (JSON.parse(importOutput) as { created: number; updated: number }) : undefined;
  const latencies = sorted(during.latencies);
  const measurement = measurementBeside('import_beside', pid, cpuBefore, { ...during, seconds }, {
    importExitCode: exitCode,
    importSeconds: round1(seconds),
    imported: report ? report.created + report.updated : 0,
    statuses: during.statuses,
    baselineP50: round1(percentile(baselineLatencies, 0.5)),
    baselineP99: round1(percentile(baselineLatencies, 0.99)),
    max: round1(latencies.at(-1) ?? 0),
    over100ms: latencies.filter((latency) => latency > 100).length,
  });
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

/** What a target's throughput is compared with: the bare provider for the broker, one instance for two. */
function referenceOf(results: Measurement[], result: Measurement): Measurement | undefined {
  const reference = { broker: 'bare', 'two instances': 'one instance' }[result.target as string];
  return reference ? results.find((candidate) => candidate.scenario === result.scenario && candidate.target === reference) : undefined;
}

/** `bench/results/<date>-<database>[-<label>].json`: a quick run, a scale run or a two-instance run does not overwrite the day's full run. */
function resultFile(): string {
  const label = options.label ?? (quick ? 'quick' : instances > 1 ? `${instances}-instances` : sessions !== 100_000 ? `${sessions}-sessions` : undefined);
  return join(root, 'bench/results', `${new Date().toISOString().slice(0, 10)}-${options.db}${label ? `-${label}` : ''}.json`);
}

function report(results: Measurement[], scale: Record<string, unknown> | undefined, loadBefore: number[]): void {
  const rows = results.map((result) => {
    const reference = referenceOf(results, result);
    return {
      scenario: result.scenario,
      target: result.target,
      'ops/s': result.perSecond,
      'p50 ms': result.p50,
      'p99 ms': result.p99,
      ratio: reference ? Math.round((result.perSecond / reference.perSecond) * 100) / 100 : '',
      'CPU ms/op': result.cpuSecondsPer1000,
      'load gen. ms/op': result.loadCpuSecondsPer1000,
      'upstream ms/op': result.upstreamCpuSecondsPer1000 ?? '',
      ...(result.otherCpuSecondsPer1000 ? { 'nginx ms/op': result.otherCpuSecondsPer1000.nginx, 'PostgreSQL ms/op': result.otherCpuSecondsPer1000.postgres } : {}),
      'peak RSS MB': result.peakRssMb,
      errors: result.errors,
      load: result.loadAverage ?? '',
    };
  });
  console.table(rows);
  console.log('ratio: broker ops/s over the bare provider\'s, or two instances\' over one\'s; CPU ms/op: the broker(s); load: the 1-minute load average after the measurement');
  if (scale) console.log('store at scale:', scale);
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGb: Math.round(totalmem() / 1024 ** 3),
    freeMemoryGb: Math.round(freemem() / 1024 ** 3),
    os: `${platform()} ${release()}`,
    node: process.version,
    loadAverageBefore: loadBefore.map(round1),
    loadAverageAfter: loadavg().map(round1),
  };
  const document = { date: new Date().toISOString(), machine, settings: { db: options.db, connections, duration, rounds, warmup, sessions, instances, quick: options.quick, only: options.only }, results, scale };
  if (!options['no-write']) {
    const file = resultFile();
    writeFileSync(file, `${JSON.stringify(document, null, 2)}\n`);
    console.log(`written: ${file}`);
  }
}

try {
  await main();
} catch (error) {
  // A scenario cut short by SIGINT or SIGTERM fails too: the signal's handler ends the children and exits.
  if (endingOnSignal()) await new Promise(() => {});
  // The children and the database go too; the exit handler is the backstop.
  process.stderr.write(`benchmark failed: ${(error as Error).stack ?? String(error)}\n`);
  await stopChildren();
  await cleanUp();
  process.exit(1);
}
