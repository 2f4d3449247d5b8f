// Loads and validates the broker's configuration from the environment (and an
// optional JSON file named by CONFIG_FILE), and refuses unsafe production
// settings with messages that say what to fix.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { invalidConfiguration } from '../errors.ts';
import { settings, type SettingDefinition, type SettingName, type UpstreamEntry } from './settings.ts';
import { isLoopbackHost } from '../loopback.ts';

export type Config = { [Name in SettingName]: z.output<(typeof settings)[Name]['schema']> };

export type Environment = Record<string, string | undefined>;

const settingNames = Object.keys(settings) as SettingName[];

function readConfigFile(path: string): Environment {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw invalidConfiguration('error.configuration.file_unreadable', { path }, { cause });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw invalidConfiguration('error.configuration.file_not_object', { path });
  }
  const values: Environment = {};
  for (const [key, value] of Object.entries(parsed)) {
    // Lists and objects (UPSTREAMS) reach their setting as JSON, as they would be written in the environment.
    values[key] = value === null || value === undefined ? undefined : typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
  return values;
}

/**
 * Builds the configuration. The environment wins over the config file, which
 * wins over the defaults. Throws one BrokerError listing every problem.
 */
export function loadConfig(environment: Environment = process.env): Config {
  const fromFile = environment.CONFIG_FILE ? readConfigFile(environment.CONFIG_FILE) : {};
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  for (const name of settingNames) {
    const definition: SettingDefinition = settings[name];
    const raw = environment[definition.env] ?? fromFile[definition.env] ?? definition.defaultValue;
    const value = raw === '' ? definition.defaultValue : raw;
    const result = (definition.schema as z.ZodType).safeParse(value);
    if (result.success) {
      values[name] = result.data;
    } else {
      problems.push(`${definition.env}: ${result.error.issues.map((issue) => issue.message).join('; ')}`);
    }
  }
  if (problems.length > 0) {
    throw invalidConfiguration('error.configuration.invalid', { problems: problems.join('\n  ') });
  }
  const config = values as Config;
  const ruleViolations = [...upstreamProblems(config), ...(config.nodeEnv === 'production' ? productionProblems(config) : [])];
  if (ruleViolations.length > 0) {
    throw invalidConfiguration('error.configuration.refused', { problems: ruleViolations.join('\n  ') });
  }
  return config;
}


function upstreamProblems(config: Config): string[] {
  const problems: string[] = [];
  const issuer = new URL(config.issuer);
  if ((issuer.pathname !== '/' && issuer.pathname !== '') || issuer.search || issuer.hash) {
    problems.push('ISSUER must be an origin without a path, query or fragment (e.g. https://login.example.com)');
  }
  if (config.upstreams) return [...problems, ...upstreamListProblems(config)];
  if (config.upstream === 'oidc' && !config.upstreamIssuer) {
    problems.push('UPSTREAM_ISSUER is required when UPSTREAM=oidc');
  }
  if (config.upstream !== 'dev' && !config.upstreamClientId) {
    problems.push(`UPSTREAM_CLIENT_ID is required when UPSTREAM=${config.upstream}`);
  }
  return problems;
}

function upstreamListProblems(config: Config): string[] {
  const entries = config.upstreams ?? [];
  const problems: string[] = [];
  if (config.upstreamIssuer || config.upstreamClientId || config.upstreamClientSecret) {
    problems.push('UPSTREAMS replaces UPSTREAM_ISSUER, UPSTREAM_CLIENT_ID and UPSTREAM_CLIENT_SECRET: set one or the other');
  }
  const seen = new Set<string>();
  for (const entry of entries) {
    const where = `UPSTREAMS entry ${entry.id}`;
    if (seen.has(entry.id)) problems.push(`${where}: the id is used twice`);
    seen.add(entry.id);
    if (entry.kind !== 'dev' && !entry.clientId) problems.push(`${where}: clientId is required`);
    if (entry.kind === 'oidc' && !entry.issuer) problems.push(`${where}: issuer is required for kind oidc`);
    if (entry.kind === 'oidc' && !entry.name) problems.push(`${where}: name (the sign-in button’s text) is required for kind oidc`);
    if (entry.kind === 'microsoft-work' && !entry.tenants?.length) problems.push(`${where}: tenants (the allowed Entra ID tenant ids) is required for kind microsoft-work`);
    if (entry.kind !== 'microsoft-work' && entry.tenants) problems.push(`${where}: tenants applies to kind microsoft-work only`);
  }
  if (entries.filter((entry) => entry.kind === 'dev').length > 1) problems.push('UPSTREAMS: at most one upstream of kind dev (the one embedded dev upstream)');
  const domains = entries.flatMap((entry) => (entry.domains ?? []).map((domain) => domain.toLowerCase()));
  const repeatedDomain = domains.find((domain, index) => domains.indexOf(domain) !== index);
  if (repeatedDomain) problems.push(`UPSTREAMS: the domain ${repeatedDomain} is served by two upstreams`);
  return problems;
}

/**
 * The upstreams in force, in the sign-in page's order: UPSTREAMS, else the one
 * of UPSTREAM and the UPSTREAM_* settings (id = its kind).
 */
export function upstreamEntries(config: Config): UpstreamEntry[] {
  if (config.upstreams) return config.upstreams;
  const single: UpstreamEntry = { id: config.upstream, kind: config.upstream };
  if (config.upstreamIssuer) single.issuer = config.upstreamIssuer;
  if (config.upstreamClientId) single.clientId = config.upstreamClientId;
  if (config.upstreamClientSecret) single.clientSecret = config.upstreamClientSecret;
  if (config.upstreamSignUpUrl) single.signUpUrl = config.upstreamSignUpUrl;
  if (config.upstreamPasswordResetUrl) single.passwordResetUrl = config.upstreamPasswordResetUrl;
  return [single];
}

/** Whether the embedded dev upstream is among the upstreams. */
export const usesDevUpstream = (config: Config): boolean => upstreamEntries(config).some((entry) => entry.kind === 'dev');

/** Whether the demo portals run: as configured, else in development with the dev upstream. */
export const demoPortalsEnabled = (config: Config): boolean => config.demoPortals ?? (config.nodeEnv === 'development' && usesDevUpstream(config));

/** The production rules; `mbs-broker doctor` reports the same list. */
export function productionProblems(config: Config): string[] {
  const problems: string[] = [];
  const issuer = new URL(config.issuer);
  if (issuer.protocol !== 'https:' && !isLoopbackHost(issuer.hostname)) {
    problems.push('ISSUER must be an https URL in production');
  }
  if (config.upstreams) {
    for (const entry of config.upstreams) {
      if (entry.kind === 'dev') problems.push(`UPSTREAMS entry ${entry.id}: kind dev is for development only`);
      else if (!entry.clientSecret) problems.push(`UPSTREAMS entry ${entry.id}: clientSecret must be set in production`);
    }
  } else {
    if (config.upstream === 'dev') {
      problems.push('UPSTREAM=dev is for development only; set UPSTREAM=microsoft or UPSTREAM=oidc');
    }
    if (!config.upstreamClientSecret) problems.push('UPSTREAM_CLIENT_SECRET must be set in production');
  }
  if (!config.adminToken) problems.push('ADMIN_TOKEN must be set in production');
  if (!config.keyEncryptionKey) problems.push('KEY_ENCRYPTION_KEY must be set in production');
  if (!config.smtpUrl) problems.push('SMTP_URL must be set in production (the dev mailbox sends nothing)');
  if (config.demoPortals) problems.push('DEMO_PORTALS is for development only; unset it in production');
  return problems;
}

/** Admin tokens accepted right now (several while rotating). */
export const adminTokens = (config: Config): string[] =>
  (config.adminToken ?? '')
    .split(',')
    .map((token) => token.trim())
    .filter((token) => token.length > 0);
