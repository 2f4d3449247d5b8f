import { DatabaseSync } from 'node:sqlite';
import { rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
const file = '/tmp/ups.sqlite';
for (const s of ['', '-wal', '-shm']) rmSync(file + s, { force: true });
const db = new DatabaseSync(file);
db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
if (process.argv[3]) db.exec(`PRAGMA wal_autocheckpoint = ${process.argv[3]}`);
db.exec(`create table oidc_payloads (type varchar(64) not null, id varchar(255) not null, payload text not null, grant_id varchar(255), uid varchar(255), user_code varchar(255), expires_at bigint, consumed_at bigint, account_id varchar(255), primary key (type, id));
create index a on oidc_payloads(grant_id) where grant_id is not null; create index b on oidc_payloads(uid) where uid is not null; create index c on oidc_payloads(user_code) where user_code is not null; create index d on oidc_payloads(expires_at); create index e on oidc_payloads(account_id) where account_id is not null;`);
const up = db.prepare(`insert into oidc_payloads (type,id,payload,grant_id,uid,user_code,account_id,expires_at) values (?,?,?,?,?,?,?,?) on conflict (type, id) do update set payload = excluded.payload`);
const payload = JSON.stringify({ kind: 'ClientCredentials', clientId: 'bench-portal', scope: 'x', iat: 1, exp: 2, extra: 'y'.repeat(150) });
const batch = Number(process.argv[2] ?? 1);
const n = 20000;
const t0 = performance.now();
for (let i = 0; i < n; i += batch) {
  if (batch > 1) db.exec('BEGIN IMMEDIATE');
  for (let j = 0; j < batch; j++) up.run('ClientCredentials', 'sha256:' + randomBytes(32).toString('base64url'), payload, null, null, null, null, Date.now() + 600000);
  if (batch > 1) db.exec('COMMIT');
}
const t = performance.now() - t0;
console.log(`batch ${batch}: ${(t / n * 1000).toFixed(1)} µs per upsert`);
