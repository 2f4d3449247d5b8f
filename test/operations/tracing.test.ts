// OpenTelemetry traces on real parts: the SDK exporting over OTLP/HTTP (JSON)
// to a receiver in this test, a broker with the dev upstream inside it, a
// real SMTP server, and one first login with its email link driven by a
// portal and a browser that send their own `traceparent` with each request.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { trace } from '@opentelemetry/api';
import * as client from 'openid-client';
import { startTracing, tracingRequested, tracingStarted, type Tracing } from '../../src/operations/tracing.ts';
import { inSpan } from '../../src/spans.ts';
import { Browser } from '../support/browser.ts';
import { freePort, startBroker, type RunningBroker } from '../support/broker.ts';
import { runCliJson } from '../support/cli.ts';
import { buildProfile, profileCsv } from '../support/factories.ts';
import { linkOf, mailFor, Person, registerPortal } from '../support/journey.ts';
import { TestSmtpServer } from '../support/smtp.ts';

/** One span as the OTLP/JSON export carries it (ids in hex). */
interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: Array<{ key: string; value: Record<string, unknown> }>;
  events?: Array<{ name: string; attributes?: Array<{ key: string; value: Record<string, unknown> }> }>;
}

interface ExportRequest {
  resourceSpans: Array<{ resource?: { attributes?: Array<{ key: string; value: Record<string, unknown> }> }; scopeSpans: Array<{ spans: ExportedSpan[] }> }>;
}

const serverKind = 2;

/** An OTLP/HTTP receiver keeping every trace export it is sent. */
class OtlpReceiver {
  readonly exports: ExportRequest[] = [];
  readonly #server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.url === '/v1/traces' && request.headers['content-type']?.startsWith('application/json')) this.exports.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as ExportRequest);
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  spans(): ExportedSpan[] {
    return this.exports.flatMap((exported) => exported.resourceSpans.flatMap((resource) => resource.scopeSpans.flatMap((scope) => scope.spans)));
  }

  resourceAttribute(key: string): unknown {
    const attributes = this.exports.flatMap((exported) => exported.resourceSpans.flatMap((resource) => resource.resource?.attributes ?? []));
    return attributes.find((attribute) => attribute.key === key)?.value.stringValue;
  }
}

/** A request the test sent with its own trace context. */
interface SentRequest {
  traceId: string;
  spanId: string;
  method: string;
  url: URL;
}

/** fetch that starts a new trace for every request, as an instrumented portal or browser would, and remembers it. */
function tracingFetch(sent: SentRequest[]): typeof fetch {
  return (input, init = {}) => {
    const traceId = randomBytes(16).toString('hex');
    const spanId = randomBytes(8).toString('hex');
    const headers = new Headers(init.headers);
    headers.set('traceparent', `00-${traceId}-${spanId}-01`);
    const url = new URL(input instanceof Request ? input.url : String(input));
    sent.push({ traceId, spanId, method: init.method ?? 'GET', url });
    return fetch(input, { ...init, headers });
  };
}

/** Every string a span carries: its name, its attributes and events (key = value), the resource's. */
function texts(receiver: OtlpReceiver): string[] {
  const values = (attributes: ExportedSpan['attributes'] = []) => attributes.map((attribute) => `${attribute.key} = ${JSON.stringify(attribute.value)}`);
  const resources = receiver.exports.flatMap((exported) => exported.resourceSpans.flatMap((resource) => values(resource.resource?.attributes)));
  return [...resources, ...receiver.spans().flatMap((span) => [span.name, ...values(span.attributes), ...(span.events ?? []).flatMap((event) => [event.name, ...values(event.attributes)])])];
}

describe('OpenTelemetry traces off (no OTLP endpoint set)', function () {
  this.timeout(60_000);

  it('asks for traces only when an OTLP endpoint is set and the SDK is not disabled', () => {
    expect(tracingRequested({})).to.equal(false);
    expect(tracingRequested({ OTEL_SERVICE_NAME: 'broker-eu', OTEL_TRACES_SAMPLER: 'always_on' })).to.equal(false);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).to.equal(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' })).to.equal(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: 'true' })).to.equal(false);
  });

  it('loads no SDK and adds no request span to the broker', async () => {
    expect(process.env.OTEL_EXPORTER_OTLP_ENDPOINT ?? process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).to.equal(undefined);
    expect(await startTracing()).to.equal(undefined);
    expect(tracingStarted()).to.equal(false);
    const running = await startBroker();
    try {
      expect(running.broker.app.middleware.map((middleware) => middleware.name)).to.include('logRequest').and.not.include('traceRequest');
      // The API's tracer is the no-op one: spans record nothing.
      expect(inSpan('probe', {}, (span) => span.isRecording())).to.equal(false);
      expect(trace.getTracer('probe').startSpan('probe').isRecording()).to.equal(false);
    } finally {
      await running.stop();
    }
  });
});

describe('OpenTelemetry traces of a first login', function () {
  this.timeout(60_000);
  const email = 'trace.person@contoso.example';
  const profile = buildProfile({ portal: 'partnersource', email, organization: 'Traced Partners' });
  const sent: SentRequest[] = [];
  const receiver = new OtlpReceiver();
  let smtp: TestSmtpServer;
  let tracing: Tracing | undefined;
  let running: RunningBroker;
  let portalSecret = '';
  let link = '';
  let tokens: client.TokenEndpointResponse | undefined;

  before(async () => {
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = await receiver.start();
    tracing = await startTracing();
    smtp = new TestSmtpServer(await freePort());
    await smtp.start();
    running = await startBroker({ SMTP_URL: smtp.url, OUTBOX_INTERVAL: '25' });
    const file = join(mkdtempSync(join(tmpdir(), 'mbs-profiles-')), 'profiles.csv');
    writeFileSync(file, profileCsv([profile]));
    await runCliJson(['profiles', 'import', file], running.environment);
    const portal = await registerPortal(running, 'partnersource');
    portalSecret = portal.clientSecret;
    // The portal's own token request carries its trace context too.
    portal.configuration[client.customFetch] = tracingFetch(sent);

    const person = new Person('trace-person', new Browser({ fetch: tracingFetch(sent) }));
    const signIn = await person.startSignIn(portal);
    await person.submitEmail(signIn.page!, email);
    const [mail] = await mailFor(smtp, 1);
    link = linkOf(mail!);
    const resumed = await person.confirmLink(link);
    tokens = await signIn.tokens(resumed.location!);
    await tracing!.flush();
    if (process.env.TRACE_DUMP) for (const span of receiver.spans()) console.log(span.traceId.slice(0, 6), span.spanId.slice(0, 6), (span.parentSpanId ?? '').slice(0, 6), span.name, JSON.stringify(span.attributes));
  });

  after(async () => {
    await tracing?.shutdown();
    delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    await running?.stop();
    await smtp?.stop();
    await receiver.stop();
  });

  const spans = () => receiver.spans();
  const byId = () => new Map(spans().map((span) => [span.spanId, span]));
  const attribute = (span: ExportedSpan, key: string) => span.attributes?.find((entry) => entry.key === key)?.value;
  /** The request span a span belongs to: its nearest server-span ancestor (itself, for a server span). */
  const requestOf = (span: ExportedSpan): ExportedSpan | undefined => {
    const all = byId();
    let current: ExportedSpan | undefined = span;
    while (current && current.kind !== serverKind) current = current.parentSpanId ? all.get(current.parentSpanId) : undefined;
    return current;
  };
  const named = (name: string) => spans().filter((span) => span.name === name);

  it('names request spans by method and route, never by a path with ids', () => {
    const names = new Set(spans().filter((span) => span.kind === serverKind).map((span) => span.name));
    for (const expected of ['GET authorization', 'GET /interaction/:uid', 'POST /interaction/:uid/email', 'GET /link/:token', 'POST token', 'POST /dev/upstream token', 'GET /dev/upstream discovery']) {
      expect(names, [...names].join(', ')).to.include(expected);
    }
    for (const name of names) expect(name).to.match(/^[A-Z]+ [^?]*$/).and.not.to.match(/[A-Za-z0-9_-]{20,}/);
    expect(receiver.resourceAttribute('service.name')).to.equal('mbs-broker');
  });

  it('continues the trace of each incoming request from its traceparent, one trace per request', () => {
    const sentBySpan = new Map(sent.map((request) => [request.spanId, request]));
    const all = byId();
    const outermost = spans().filter((span) => span.kind === serverKind && !(span.parentSpanId && all.has(span.parentSpanId)));
    // The portal's registration read the discovery document with a plain fetch: that request began a trace of its own.
    expect(outermost.filter((span) => !span.parentSpanId).map((span) => span.name)).to.deep.equal(['GET discovery']);
    const roots = outermost.filter((span) => span.parentSpanId);
    expect(roots.length).to.be.greaterThan(5);
    for (const root of roots) {
      const request = sentBySpan.get(root.parentSpanId ?? '');
      expect(request, `${root.name} continues a traceparent the test sent`).to.not.equal(undefined);
      expect(root.traceId).to.equal(request!.traceId);
    }
    // Every request the test sent to the broker made exactly one root request span.
    const brokerRequests = sent.filter((request) => request.url.origin === running.issuer);
    expect(brokerRequests.length).to.equal(roots.length);
    expect(new Set(roots.map((root) => root.traceId)).size).to.equal(roots.length);
    const token = roots.find((root) => root.name === 'POST token')!;
    expect(attribute(token, 'oauth.client_id')?.stringValue).to.be.a('string');
  });

  it('puts the upstream calls under the request that made them, and the upstream continues the trace', () => {
    // openid-client reads no keys for an ID token it received from the token endpoint itself: no `upstream jwks` here.
    expect(spans().filter((span) => span.name.startsWith('upstream ')).map((span) => span.name).sort()).to.deep.equal(['upstream discovery', 'upstream token', 'upstream token']);
    expect(requestOf(named('upstream discovery')[0]!)?.name).to.equal('GET /interaction/:uid/sign-in');
    // The sign-in's code exchange (the callback hands over to the interaction's own path first), then the link confirmation's.
    expect(named('upstream token').map((exchange) => requestOf(exchange)?.name)).to.deep.equal(['GET /interaction/:uid/upstream', 'GET /link/callback']);
    for (const exchange of named('upstream token')) {
      // The dev upstream's own request span is a child of the call: the traceparent went along.
      const answered = spans().filter((span) => span.parentSpanId === exchange.spanId);
      expect(answered.map((span) => span.name)).to.deep.equal(['POST /dev/upstream token']);
      expect(answered[0]!.traceId).to.equal(exchange.traceId);
    }
  });

  it('puts the SMTP delivery under the request that queued the email, and database work under requests', () => {
    const [delivery] = named('smtp send');
    expect(delivery, 'an smtp send span').to.not.equal(undefined);
    expect(requestOf(delivery!)?.name).to.equal('POST /interaction/:uid/email');
    expect(attribute(delivery!, 'mbs.email.kind')?.stringValue).to.be.a('string');
    const database = [...named('db.batch'), ...named('db.transaction')];
    expect(named('db.batch'), 'SQLite batches').to.not.be.empty;
    expect(named('db.transaction'), 'store transactions').to.not.be.empty;
    for (const span of database) {
      expect(requestOf(span), `${span.name} belongs to a request`).to.not.equal(undefined);
      expect(attribute(span, 'db.system')?.stringValue).to.equal('sqlite');
    }
    expect(named('db.batch').every((span) => Number(attribute(span, 'db.operation.batch.size')?.intValue) >= 1)).to.equal(true);
    const emailRequest = named('POST /interaction/:uid/email')[0]!;
    expect(database.some((span) => requestOf(span)?.spanId === emailRequest.spanId), 'the email request wrote through the store').to.equal(true);
  });

  it('records a failure by its type, never by its message', async () => {
    const refusal = Object.assign(new Error(`550 mailbox ${email} unavailable`), { code: 'EENVELOPE' });
    const failing = inSpan('smtp send', {}, async () => {
      throw refusal;
    });
    await failing.then(
      () => expect.fail('the failure goes on to the caller'),
      (error: unknown) => expect(error).to.equal(refusal),
    );
    expect(() => inSpan('db.batch', {}, () => JSON.parse('{'))).to.throw(SyntaxError);
    await tracing!.flush();
    const failed = spans().filter((span) => attribute(span, 'error.type'));
    expect(failed.map((span) => [span.name, attribute(span, 'error.type')?.stringValue])).to.deep.equal([
      ['smtp send', 'EENVELOPE'],
      ['db.batch', 'SyntaxError'],
    ]);
    expect(texts(receiver).join('\n')).not.to.contain(email).and.not.to.contain('550');
  });

  it('carries no email address, code, state, link token, token or secret in any span', () => {
    const secrets = new Set<string>([email, email.split('@')[0]!, link.split('/link/')[1]!, portalSecret, 'dev-upstream-secret-not-for-production', tokens!.access_token, tokens!.id_token!]);
    // Every code and state that travelled in a URL (the broker's and the dev upstream's).
    for (const request of sent) for (const name of ['code', 'state', 'nonce', 'code_challenge']) if (request.url.searchParams.get(name)) secrets.add(request.url.searchParams.get(name)!);
    expect(secrets.size).to.be.greaterThan(8);
    const carried = texts(receiver);
    expect(carried.length).to.be.greaterThan(50);
    for (const secret of secrets) {
      expect(secret.length).to.be.greaterThan(4);
      const found = carried.find((text) => text.includes(secret));
      expect(found, `a span carries ${secret}`).to.equal(undefined);
    }
    // Nor a query string, a cookie or an authorization header of any kind.
    for (const text of carried) expect(text).not.to.match(/[?&](code|state)=|header|cookie|Basic |Bearer |url\.(full|query)/i);
  });
});
