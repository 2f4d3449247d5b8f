// The configuration reference as a Markdown table, generated from the
// settings list so the README cannot drift from the code.
import { settings, type SettingDefinition } from './settings.ts';

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
