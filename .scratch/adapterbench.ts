import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openDatabase } from '../src/store/database.ts';
import { migrateToLatest } from '../src/store/migrations.ts';
import { createOidcAdapter } from '../src/store/oidcAdapter.ts';
const dir = mkdtempSync(join(tmpdir(), 'ab-'));
const database = openDatabase({ url: `sqlite:${join(dir, 'x.sqlite')}` });
await migrateToLatest(database);
const Adapter = createOidcAdapter(database, {});
const cc = new Adapter('ClientCredentials');
const payload = { kind: 'ClientCredentials', clientId: 'bench-portal', scope: 'x', iat: 1, exp: 2, extra: 'y'.repeat(150) } as never;
async function run(n: number) {
  const t0 = performance.now(); const c0 = process.threadCpuUsage(); const p0 = process.cpuUsage();
  for (let i = 0; i < n; i += 32) await Promise.all(Array.from({ length: 32 }, () => cc.upsert(randomBytes(32).toString('base64url'), payload, 600)));
  const c = process.threadCpuUsage(c0); const p = process.cpuUsage(p0);
  return { wallUs: ((performance.now() - t0) * 1000 / n).toFixed(1), mainUs: ((c.user + c.system) / n).toFixed(1), procUs: ((p.user + p.system) / n).toFixed(1) };
}
await run(5000);
for (let i = 0; i < 3; i++) console.log(process.env.XX_NOCKPT ? 'no worker' : 'worker', await run(30000));
await database.destroy();
