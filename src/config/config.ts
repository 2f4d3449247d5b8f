// Loads and validates the broker's configuration from the environment (and an
// optional JSON file named by CONFIG_FILE), and refuses unsafe production
// settings with messages that say what to fix.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { invalidConfiguration } from '../errors.ts';
import { settings, type SettingDefinition, type SettingName } from './settings.ts';
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
    values[key] = value === null || value === undefined ? undefined : String(value);
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
  if (config.upstream === 'oidc' && !config.upstreamIssuer) {
    problems.push('UPSTREAM_ISSUER is required when UPSTREAM=oidc');
  }
  if (config.upstream !== 'dev' && !config.upstreamClientId) {
    problems.push(`UPSTREAM_CLIENT_ID is required when UPSTREAM=${config.upstream}`);
  }
  return problems;
}

/** Whether the demo portals run: as configured, else in development with the dev upstream. */
export const demoPortalsEnabled = (config: Config): boolean => config.demoPortals ?? (config.nodeEnv === 'development' && config.upstream === 'dev');

/** The production rules; `mbs-broker doctor` reports the same list. */
export function productionProblems(config: Config): string[] {
  const problems: string[] = [];
  const issuer = new URL(config.issuer);
  if (issuer.protocol !== 'https:' && !isLoopbackHost(issuer.hostname)) {
    problems.push('ISSUER must be an https URL in production');
  }
  if (config.upstream === 'dev') {
    problems.push('UPSTREAM=dev is for development only; set UPSTREAM=microsoft or UPSTREAM=oidc');
  }
  if (!config.upstreamClientSecret) problems.push('UPSTREAM_CLIENT_SECRET must be set in production');
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
