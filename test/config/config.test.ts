import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { loadConfig, productionProblems, adminTokens } from '../../src/config/config.ts';
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
