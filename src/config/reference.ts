// The configuration reference as a Markdown table, generated from the
// settings list so the README cannot drift from the code; and the effective
// configuration with its secrets masked, for `mbs-broker config`.
import { settings, type SettingDefinition, type SettingName } from './settings.ts';
import type { Config } from './config.ts';

export function configurationTable(): string {
  const rows = Object.values(settings as Record<string, SettingDefinition>).map((setting) => {
    const defaultValue = setting.defaultValue === undefined ? '—' : `\`${setting.defaultValue}\``;
    return `| \`${setting.env}\` | ${defaultValue} | ${setting.description.replace(/\|/g, '\\|')}${setting.secret ? ' *(secret)*' : ''} |`;
  });
  return ['| Variable | Default | Meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

export const tableStart = '<!-- configuration-table:start -->';
export const tableEnd = '<!-- configuration-table:end -->';

/** Replaces the table between the markers of a README text. */
export function withConfigurationTable(readme: string): string {
  const start = readme.indexOf(tableStart);
  const end = readme.indexOf(tableEnd);
  if (start < 0 || end < start) return readme;
  return `${readme.slice(0, start + tableStart.length)}\n${configurationTable()}\n${readme.slice(end)}`;
}

/** The effective configuration by environment variable, with every secret masked. */
export function maskedConfiguration(config: Config): Record<string, string | number | boolean | null> {
  const entries: Record<string, string | number | boolean | null> = {};
  for (const [name, setting] of Object.entries(settings) as Array<[SettingName, SettingDefinition]>) {
    const value = config[name] as unknown;
    if (value === undefined || value === null) entries[setting.env] = null;
    else if (Array.isArray(value)) entries[setting.env] = JSON.stringify(value.map((entry: Record<string, unknown>) => ('clientSecret' in entry ? { ...entry, clientSecret: '********' } : entry)));
    else if (setting.secret) entries[setting.env] = maskSecret(setting.env, String(value));
    else entries[setting.env] = typeof value === 'number' || typeof value === 'boolean' ? value : String(value);
  }
  return entries;
}

/** Secrets show as `********`; a database URL keeps its kind and host, never its password. */
function maskSecret(env: string, value: string): string {
  if (env === 'DATABASE_URL' || env === 'SMTP_URL') {
    try {
      const url = new URL(value);
      if (url.password) url.password = '********';
      return url.href;
    } catch {
      return value.startsWith('sqlite:') ? value : '********';
    }
  }
  return '********';
}
