// `npm run docs`: rewrites the configuration table in README.md from the settings list.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { withConfigurationTable } from './reference.ts';

const readmePath = fileURLToPath(new URL('../../README.md', import.meta.url));
writeFileSync(readmePath, withConfigurationTable(readFileSync(readmePath, 'utf8')));
