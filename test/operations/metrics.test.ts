// /metrics in Prometheus text format: values that move with a sign-in, route
// labels that never carry ids or tokens, and the optional bearer token.
import { expect } from 'chai';
import { routeOf } from '../../src/operations/metrics.ts';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { Person, registerPortal } from '../support/journey.ts';
import { runCliJson } from '../support/cli.ts';
import { buildProfile } from '../support/factories.ts';

/** The value of one series in Prometheus text, 0 when absent. */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe('metrics', function () {
  this.timeout(60_000);
  let running: RunningBroker;
  const metricsToken = 'metrics-token-for-tests-0123456789';

  before(async () => {
    running = await startBroker({ METRICS_TOKEN: metricsToken });
  });
  after(() => running.stop());

  const scrape = async (): Promise<string> => {
    const response = await fetch(`${running.issuer}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
    expect(response.status).to.equal(200);
    expect(response.headers.get('content-type')).to.contain('text/plain');
    return response.text();
  };

  it('count a sign-in, its requests and its database queries', async () => {
    const portal = await registerPortal(running, 'partnersource');
    const { issuer, subject } = await runCliJson<{ issuer: string; subject: string }>(['dev-subject', 'metered'], running.environment);
    const profile = buildProfile({ portal: 'partnersource' });
    await running.broker.store.profiles.upsert(profile);
    await runCliJson(['bindings', 'add', '--profile', profile.id, '--issuer', issuer, '--subject', subject], running.environment);

    const before = await scrape();
    const signIn = await new Person('metered').startSignIn(portal);
    expect(signIn.location).to.not.equal(undefined);
    await signIn.tokens(signIn.location!);
    const after = await scrape();

    expect(sample(after, 'mbs_sign_ins_total{outcome="success"}') - sample(before, 'mbs_sign_ins_total{outcome="success"}')).to.equal(1);
    expect(sample(after, 'mbs_http_requests_total{method="GET",route="/auth",status="303"}')).to.be.greaterThan(sample(before, 'mbs_http_requests_total{method="GET",route="/auth",status="303"}'));
    expect(sample(after, 'mbs_http_requests_total{method="POST",route="/token",status="200"}') - sample(before, 'mbs_http_requests_total{method="POST",route="/token",status="200"}')).to.equal(1);
    expect(sample(after, 'mbs_database_query_duration_seconds_count{operation="select"}')).to.be.greaterThan(sample(before, 'mbs_database_query_duration_seconds_count{operation="select"}'));
    expect(after).to.contain('mbs_outbox_depth 0').and.to.contain('mbs_http_request_duration_seconds_bucket');
    // No id or token ever becomes a label.
    expect(after).to.not.match(/route="\/interaction\/(?!:uid)/);
  });

  it('answer only with the metrics token when one is configured', async () => {
    expect((await fetch(`${running.issuer}/metrics`)).status).to.equal(401);
    expect((await fetch(`${running.issuer}/metrics`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status).to.equal(401);
  });

  it('label requests by route template, never by id or token', () => {
    expect(routeOf('/interaction/abc123/email')).to.equal('/interaction/:uid/email');
    expect(routeOf('/link/Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA')).to.equal('/link/:token');
    expect(routeOf('/link/callback')).to.equal('/link/callback');
    expect(routeOf('/dev/upstream/interaction/x/login')).to.equal('/dev/upstream');
    expect(routeOf('/wp-admin/setup.php')).to.equal('other');
  });
});
