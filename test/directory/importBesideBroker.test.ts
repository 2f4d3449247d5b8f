// The CLI's `profiles import` of 50,000 profiles, in its own process, on the
// SQLite file of a live broker that serves token requests all along: the
// import commits in short chunks and both sides wait for the other's write
// lock asynchronously, so the import succeeds and no request fails. (How long
// requests wait meanwhile is measured by `npm run bench`, not here.)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { runCli, runCliJson } from '../support/cli.ts';
import { buildProfile, profileCsv } from '../support/factories.ts';
import { redirectUri } from '../support/journey.ts';

const profileCount = 50_000;
const concurrentClients = 8;

describe('a 50,000-profile CLI import beside a live broker on SQLite', function () {
  this.timeout(90_000);
  let running: RunningBroker;
  let directory: string;

  before(async () => {
    running = await startBroker();
    directory = mkdtempSync(join(tmpdir(), 'mbs-import-'));
  });

  after(async () => {
    await running.stop();
    rmSync(directory, { recursive: true, force: true });
  });

  it('imports every profile while the broker answers every token request', async () => {
    const service = await runCliJson<{ client_id: string; client_secret: string }>(['clients', 'add', '--portal', 'both', '--redirect-uri', redirectUri, '--grant-type', 'client_credentials'], running.environment);
    const file = join(directory, 'profiles.csv');
    writeFileSync(file, profileCsv(Array.from({ length: profileCount }, () => buildProfile())));
    const authorization = `Basic ${Buffer.from(`${service.client_id}:${service.client_secret}`).toString('base64')}`;

    let importing = true;
    const answers = new Map<number, number>();
    async function requestTokensWhileImporting(): Promise<void> {
      while (importing) {
        const response = await fetch(`${running.issuer}/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', authorization, accept: 'application/json' },
          body: new URLSearchParams({ grant_type: 'client_credentials' }),
        });
        await response.arrayBuffer();
        answers.set(response.status, (answers.get(response.status) ?? 0) + 1);
      }
    }
    const clients = Array.from({ length: concurrentClients }, () => requestTokensWhileImporting());
    const imported = await runCli(['--json', 'profiles', 'import', file], running.environment, { timeoutMilliseconds: 80_000 }).finally(() => (importing = false));
    await Promise.all(clients);

    expect(imported.exitCode, imported.stderr).to.equal(0);
    expect(JSON.parse(imported.stdout)).to.deep.include({ created: profileCount, updated: 0, unchanged: 0, rejected: [] });
    expect([...answers.keys()]).to.deep.equal([200]);
    expect(answers.get(200)).to.be.greaterThan(concurrentClients);
    expect((await running.broker.store.profiles.list({ limit: 1 })).total).to.equal(profileCount);
  });
});
