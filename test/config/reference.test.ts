import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { configurationTable, withConfigurationTable } from '../../src/config/reference.ts';
import { settings } from '../../src/config/settings.ts';

describe('configuration reference', () => {
  it('lists every setting once with its default', () => {
    const table = configurationTable();
    for (const setting of Object.values(settings)) expect(table).to.contain(`| \`${setting.env}\` |`);
    expect(table).to.contain('| `PORT` | `3000` |');
  });

  it('in the README matches the settings (run `npm run docs` after changing them)', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(withConfigurationTable(readme)).to.equal(readme);
  });
});
