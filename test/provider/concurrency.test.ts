// The token endpoint of a real broker under a burst of replays, on each
// database: of 50 parallel redemptions of one authorization code exactly one
// gets tokens, and the other 49 get invalid_grant (never a 500).
import { expect } from 'chai';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { createPostgresDatabase } from '../support/databases.ts';
import { buildProfile } from '../support/factories.ts';
import { bindDevAccount, Person, registerPortal, type Portal } from '../support/journey.ts';

const databases = process.env.TEST_POSTGRES_URL ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);

for (const kind of databases) {
  describe(`the token endpoint under parallel replays on ${kind}`, function () {
    this.timeout(60_000);
    let running: RunningBroker;
    let portal: Portal;
    let postgres: { url: string; drop(): Promise<void> } | undefined;

    before(async () => {
      if (kind === 'postgres') postgres = await createPostgresDatabase(process.env.TEST_POSTGRES_URL!);
      running = await startBroker(postgres ? { DATABASE_URL: postgres.url, DATABASE_POOL_MAX: '20' } : {});
      portal = await registerPortal(running, 'partnersource');
    });
    after(async () => {
      await running.stop();
      await postgres?.drop();
    });

    it('redeems one authorization code exactly once among 50 parallel redemptions', async () => {
      await bindDevAccount(running, 'code-replayer', [buildProfile({ portal: 'partnersource' })], running.broker.store);
      const signIn = await new Person('code-replayer').startSignIn(portal);
      expect(signIn.location, signIn.page?.body).to.not.equal(undefined);

      const results = await Promise.allSettled(Array.from({ length: 50 }, () => signIn.tokens(signIn.location!)));
      expect(results.filter((result) => result.status === 'fulfilled')).to.have.length(1);
      const refusals = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected').map((result) => (result.reason as { error?: string; status?: number }).error);
      expect(refusals).to.have.length(49);
      expect(new Set(refusals)).to.deep.equal(new Set(['invalid_grant']));
    });
  });
}
