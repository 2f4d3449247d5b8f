// Profile import jobs on the real store of every test database: a job runs
// in the background and ends with the import's counts (audited at start and
// end), one
// job per admin at a time (a second is refused while the first runs), and
// each admin sees only their own.
import { expect } from 'chai';
import { systemClock } from '../../src/clock.ts';
import { isBrokerError } from '../../src/errors.ts';
import { DirectoryAdministration } from '../../src/admin/directoryAdministration.ts';
import { ProfileImportJobs, type ImportJob } from '../../src/admin/profileImportJobs.ts';
import { suiteStore, testDatabases } from '../support/databases.ts';
import { buildProfile, profileCsv } from '../support/factories.ts';
import { within } from '../support/within.ts';

for (const testDatabase of testDatabases()) {
  describe(`profile import jobs on ${testDatabase.name}`, function () {
    this.timeout(60_000);
    const suite = suiteStore(testDatabase);

    it('runs one job per admin and ends with the import’s counts, all rows processed', async () => {
      const directory = new DirectoryAdministration(suite.store);
      const jobs = new ProfileImportJobs(systemClock);
      const kept = buildProfile();
      await suite.store.profiles.upsert(kept);
      const csv = `${profileCsv([kept, ...Array.from({ length: 600 }, () => buildProfile())])}\nMBS-bad,elsewhere,not-an-email,X,Y,\n`;

      const started = jobs.start('admin-a', directory, 'profiles.csv', csv, 'console');
      expect(started).to.include({ status: 'running', fileName: 'profiles.csv' });
      const second = (() => {
        try {
          jobs.start('admin-a', directory, 'profiles.csv', csv, 'console');
        } catch (error) {
          return error;
        }
      })();
      expect(isBrokerError(second) && second.status, 'one running job per admin').to.equal(409);
      expect(jobs.current('admin-b'), 'another admin sees no job').to.equal(undefined);

      const done: ImportJob = await within(30, async () => {
        const job = jobs.current('admin-a');
        return job?.status === 'done' ? job : undefined;
      });
      expect(done).to.include({ processed: 601, total: 601, created: 600, updated: 0, unchanged: 1 });
      expect(done.rejected.map((row) => row.line)).to.deep.equal([603]);
      expect(done.finishedAt).to.be.a('number');
      const [ended] = (await suite.store.auditEvents.list({ type: 'profiles.import' })).items;
      expect(ended!.details).to.include({ created: 600, updated: 0, unchanged: 1, rejected: 1 });
      expect((await suite.store.auditEvents.list({ type: 'profiles.import_started' })).items[0]!.details).to.include({ rows: 601, rejected: 1 });
      expect(jobs.start('admin-a', directory, 'again.csv', csv, 'console').status, 'a finished job makes way for the next').to.equal('running');
      await within(30, async () => (jobs.current('admin-a')?.status === 'done' ? true : undefined));
    });
  });
}
