// A profile import's preview on the real store of every test database: it
// reports what the import would do (created, updated, unchanged, rejected
// with line numbers) and writes nothing; importing right after reports the
// same counts, in CSV and in JSON.
import { expect } from 'chai';
import { DirectoryAdministration } from '../../src/admin/directoryAdministration.ts';
import type { Store } from '../../src/store/store.ts';
import { suiteStore, testDatabases } from '../support/databases.ts';
import { buildProfile, profileCsv } from '../support/factories.ts';

for (const testDatabase of testDatabases()) {
  describe(`the profile import preview on ${testDatabase.name}`, function () {
    this.timeout(30_000);
    const suite = suiteStore(testDatabase);
    let store: Store;
    let directory: DirectoryAdministration;
    before(() => {
      store = suite.store;
      directory = new DirectoryAdministration(store);
    });

    it('reports created, updated, unchanged and rejected lines without writing, and the import then reports the same', async () => {
      const [kept, changed] = [buildProfile(), buildProfile()];
      await store.profiles.upsert(kept!);
      await store.profiles.upsert(changed!);
      const fresh = buildProfile();
      const csv = `${profileCsv([kept!, { ...changed!, organization: 'Renamed Ltd' }, fresh])}\nMBS-bad,elsewhere,not-an-email,X,Y,\n`;
      const auditBefore = (await store.auditEvents.list()).total;

      const preview = await directory.previewImport('profiles.csv', csv);

      expect(preview).to.deep.include({ created: 1, updated: 1, unchanged: 1 });
      expect(preview.rejected.map((row) => row.line)).to.deep.equal([5]);
      expect(await store.profiles.find(fresh.id), 'the preview creates nothing').to.equal(undefined);
      expect((await store.profiles.find(changed!.id))?.organization).to.equal(changed!.organization);
      expect((await store.auditEvents.list()).total, 'and records nothing').to.equal(auditBefore);

      expect(await directory.importProfiles('profiles.csv', csv, 'admin:desk')).to.deep.equal(preview);
      expect(await directory.previewImport('profiles.csv', csv)).to.deep.include({ created: 0, updated: 0, unchanged: 3 });
    });

    it('previews JSON the same way, rejected entries by their position', async () => {
      const json = JSON.stringify([buildProfile(), { id: 'MBS-x' }]);
      const preview = await directory.previewImport('profiles.json', json);
      expect(preview).to.deep.include({ created: 1, updated: 0, unchanged: 0 });
      expect(preview.rejected.map((row) => row.line)).to.deep.equal([2]);
      expect(await directory.importProfiles('profiles.json', json)).to.deep.equal(preview);
    });
  });
}
