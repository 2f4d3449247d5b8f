import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { loadConfig, productionProblems, adminTokens, upstreamEntries } from '../../src/config/config.ts';
import { maskedConfiguration } from '../../src/config/reference.ts';
import { isBrokerError } from '../../src/errors.ts';

const productionEnvironment = {
  NODE_ENV: 'production',
  ISSUER: 'https://login.example.com',
  UPSTREAM: 'microsoft',
  UPSTREAM_CLIENT_ID: 'app-id',
  UPSTREAM_CLIENT_SECRET: 'app-secret',
  ADMIN_TOKEN: 'admin-token',
  KEY_ENCRYPTION_KEY: 'k'.repeat(32),
  SMTP_URL: 'smtp://mail.example.com:587',
};

function refusal(environment: Record<string, string>): string {
  try {
    loadConfig(environment);
  } catch (error) {
    expect(isBrokerError(error)).to.equal(true);
    return (error as Error).message;
  }
  throw new Error('expected the configuration to be refused');
}

describe('configuration', () => {
  it('runs on the embedded defaults with an empty environment', () => {
    const config = loadConfig({});
    expect(config).to.include({
      nodeEnv: 'development',
      port: 3000,
      issuer: 'http://localhost:3000',
      databaseUrl: 'sqlite:var/broker.sqlite',
      upstream: 'dev',
      smtpUrl: undefined,
    });
  });

  it('lists every invalid setting at once, by variable name', () => {
    const message = refusal({ PORT: 'eighty', DATABASE_URL: 'mysql://x', UPSTREAM: 'google' });
    expect(message).to.contain('PORT').and.to.contain('DATABASE_URL').and.to.contain('UPSTREAM');
  });

  it('refuses an issuer with a path', () => {
    expect(refusal({ ISSUER: 'https://example.com/broker' })).to.contain('ISSUER must be an origin');
  });

  it('needs an issuer and client id for the oidc upstream', () => {
    const message = refusal({ UPSTREAM: 'oidc' });
    expect(message).to.contain('UPSTREAM_ISSUER').and.to.contain('UPSTREAM_CLIENT_ID');
  });

  it('accepts a complete production configuration', () => {
    const config = loadConfig(productionEnvironment);
    expect(productionProblems(config)).to.deep.equal([]);
  });

  it('refuses an http issuer, the dev upstream and missing secrets in production', () => {
    const message = refusal({ NODE_ENV: 'production', ISSUER: 'http://login.example.com' });
    expect(message).to.contain('ISSUER must be an https URL');
    expect(message).to.contain('UPSTREAM=dev is for development only');
    expect(message).to.contain('UPSTREAM_CLIENT_SECRET');
    expect(message).to.contain('ADMIN_TOKEN');
    expect(message).to.contain('KEY_ENCRYPTION_KEY');
  });

  it('allows an http issuer on loopback in production', () => {
    const config = loadConfig({ ...productionEnvironment, ISSUER: 'http://127.0.0.1:3000' });
    expect(productionProblems(config)).to.deep.equal([]);
  });

  it('reads a JSON config file named by CONFIG_FILE; the environment wins', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mbs-config-')), 'broker.json');
    writeFileSync(file, JSON.stringify({ PORT: 4000, SUPPORT_EMAIL: 'help@example.com' }));
    const config = loadConfig({ CONFIG_FILE: file, PORT: '5000' });
    expect(config.port).to.equal(5000);
    expect(config.supportEmail).to.equal('help@example.com');
  });

  it('refuses a config file that is not JSON', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mbs-config-')), 'broker.json');
    writeFileSync(file, 'PORT=4000');
    expect(refusal({ CONFIG_FILE: file })).to.contain('could not be read as JSON');
  });

  it('accepts several admin tokens for rotation', () => {
    expect(adminTokens(loadConfig({ ADMIN_TOKEN: 'old-token, new-token' }))).to.deep.equal(['old-token', 'new-token']);
  });
});

describe('configuration of several upstreams (UPSTREAMS)', () => {
  const contoso = '72f988bf-86f1-41af-91ab-2d7cd011db47';
  const personal = { id: 'personal', kind: 'microsoft', clientId: 'app-id', clientSecret: 'app-secret' };
  const work = { id: 'work', kind: 'microsoft-work', clientId: 'app-id', clientSecret: 'app-secret', tenants: [contoso], domains: ['contoso.com'] };
  const partner = { id: 'partner', kind: 'oidc', name: 'Partner ID', issuer: 'https://id.partner.example', clientId: 'broker', clientSecret: 'partner-secret', domains: ['partner.example'] };
  const upstreams = (...entries: object[]) => JSON.stringify(entries);

  it('keeps the single-upstream settings working: one upstream whose id is its kind', () => {
    const config = loadConfig({ UPSTREAM: 'microsoft', UPSTREAM_CLIENT_ID: 'app-id', UPSTREAM_CLIENT_SECRET: 'app-secret', UPSTREAM_SIGN_UP_URL: 'https://signup.example' });
    expect(upstreamEntries(config)).to.deep.equal([{ id: 'microsoft', kind: 'microsoft', clientId: 'app-id', clientSecret: 'app-secret', signUpUrl: 'https://signup.example' }]);
    expect(upstreamEntries(loadConfig({}))).to.deep.equal([{ id: 'dev', kind: 'dev' }]);
  });

  it('reads a JSON list from the environment, in the order given', () => {
    const config = loadConfig({ UPSTREAMS: upstreams(personal, work, partner) });
    expect(upstreamEntries(config).map((entry) => entry.id)).to.deep.equal(['personal', 'work', 'partner']);
    expect(upstreamEntries(config)[1]).to.deep.equal(work);
  });

  it('reads a list under UPSTREAMS in the config file', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mbs-config-')), 'broker.json');
    writeFileSync(file, JSON.stringify({ UPSTREAMS: [personal, work] }));
    expect(upstreamEntries(loadConfig({ CONFIG_FILE: file })).map((entry) => entry.kind)).to.deep.equal(['microsoft', 'microsoft-work']);
  });

  it('refuses what an upstream of each kind lacks, saying which entry', () => {
    const message = refusal({
      UPSTREAMS: upstreams({ id: 'a', kind: 'oidc', clientId: 'x' }, { id: 'b', kind: 'microsoft-work', clientId: 'x' }, { id: 'c', kind: 'microsoft' }, { id: 'c', kind: 'microsoft', clientId: 'x', tenants: [contoso] }),
    });
    expect(message).to.contain('UPSTREAMS entry a: issuer is required').and.contain('UPSTREAMS entry a: name');
    expect(message).to.contain('UPSTREAMS entry b: tenants');
    expect(message).to.contain('UPSTREAMS entry c: clientId is required').and.contain('UPSTREAMS entry c: the id is used twice').and.contain('tenants applies to kind microsoft-work only');
  });

  it('refuses invalid JSON, unknown fields, bad tenant ids, a domain served twice, and UPSTREAMS beside the single-upstream client settings', () => {
    expect(refusal({ UPSTREAMS: '[{' })).to.contain('UPSTREAMS: must be a JSON list of upstreams');
    expect(refusal({ UPSTREAMS: upstreams({ ...personal, clientSecretFile: '/run/secret' }) })).to.contain('UPSTREAMS');
    expect(refusal({ UPSTREAMS: upstreams({ ...work, tenants: ['contoso'] }) })).to.contain('tenant id');
    expect(refusal({ UPSTREAMS: upstreams(work, { ...partner, domains: ['Contoso.com'] }) })).to.contain('the domain contoso.com is served by two upstreams');
    expect(refusal({ UPSTREAMS: upstreams(personal), UPSTREAM_CLIENT_ID: 'app-id' })).to.contain('UPSTREAMS replaces UPSTREAM_ISSUER, UPSTREAM_CLIENT_ID');
  });

  it('refuses a dev upstream and an upstream without its client secret in production', () => {
    const { UPSTREAM: _kind, UPSTREAM_CLIENT_ID: _clientId, UPSTREAM_CLIENT_SECRET: _clientSecret, ...production } = productionEnvironment;
    expect(productionProblems(loadConfig({ ...production, UPSTREAMS: upstreams(personal, work, partner) }))).to.deep.equal([]);
    const message = refusal({ ...production, UPSTREAMS: upstreams({ id: 'dev', kind: 'dev' }, { ...partner, clientSecret: undefined }) });
    expect(message).to.contain('UPSTREAMS entry dev: kind dev is for development only').and.contain('UPSTREAMS entry partner: clientSecret must be set in production');
  });

  it('shows the upstreams in `mbs-broker config` with their client secrets masked', () => {
    const shown = maskedConfiguration(loadConfig({ UPSTREAMS: upstreams(personal, partner) })).UPSTREAMS;
    expect(shown).to.be.a('string').and.contain('Partner ID').and.contain('********').and.not.contain('app-secret').and.not.contain('partner-secret');
  });
});
