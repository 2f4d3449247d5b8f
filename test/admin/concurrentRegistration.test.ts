// Registering one client id many times at once, through the admin API of a
// real broker on each database: exactly one registration wins (201 with its
// secret) and every other one is told of the conflict (409), never a 500.
import { expect } from 'chai';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { createPostgresDatabase } from '../support/databases.ts';

const databases = process.env.TEST_POSTGRES_URL ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);
const adminToken = 'admin-token-for-concurrent-registration';

for (const kind of databases) {
  describe(`concurrent registrations of one client id on ${kind}`, function () {
    this.timeout(60_000);
    let running: RunningBroker;
    let postgres: { url: string; drop(): Promise<void> } | undefined;

    before(async () => {
      if (kind === 'postgres') postgres = await createPostgresDatabase(process.env.TEST_POSTGRES_URL!);
      running = await startBroker({ ADMIN_TOKEN: adminToken, ...(postgres ? { DATABASE_URL: postgres.url, DATABASE_POOL_MAX: '20' } : {}) });
    });
    after(async () => {
      await running.stop();
      await postgres?.drop();
    });

    function register(id: string): Promise<Response> {
      return fetch(`${running.issuer}/admin/api/clients`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id, portal: 'partnersource', redirectUris: ['https://portal.example/callback'] }),
      });
    }

    it('gives one 201 and 299 answers of 409 conflict for 300 parallel registrations', async () => {
      const answers = await Promise.all(Array.from({ length: 300 }, () => register('contested-portal')));
      const statuses = answers.map((answer) => answer.status);
      expect(statuses.filter((status) => status === 201)).to.have.length(1);
      expect(statuses.filter((status) => status === 409)).to.have.length(299);
      const conflicts = await Promise.all(answers.filter((answer) => answer.status === 409).map((answer) => answer.json() as Promise<{ error: string }>));
      expect(new Set(conflicts.map((body) => body.error))).to.deep.equal(new Set(['conflict']));
      const listed = await running.broker.store.clients.list();
      expect(listed.filter((client) => client.id === 'contested-portal')).to.have.length(1);
    });
  });
}
