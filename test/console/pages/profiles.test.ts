// The console's profiles pages over HTTP with a real broker: find profiles
// by email, id or organization; edit one (bad input beside its field); import
// a CSV upload with a preview that writes nothing and reports rejected rows
// by line, then apply it with the same counts; a large file is imported as a
// job whose progress page refreshes itself until the final report (the
// preview's counts), visible to its admin only; support is refused.
import { expect } from 'chai';
import { hiddenField, type Page } from '../../support/browser.ts';
import { startBroker, type RunningBroker } from '../../support/broker.ts';
import { consoleUser } from '../../support/console.ts';
import { importJobRows } from '../../../src/admin/profileImportJobs.ts';
import { buildProfile, profileCsv, uniqueName } from '../../support/factories.ts';
import type { Person } from '../../support/journey.ts';

describe('the console’s profiles pages', function () {
  this.timeout(60_000);
  let running: RunningBroker;

  before(async () => {
    running = await startBroker();
  });
  after(() => running.stop());

  const csrfOf = (page: Page): string => hiddenField(page.body, 'csrf')!;

  /** Uploads a file as the browser's form does (multipart), with the person's cookies. */
  async function upload(person: Person, csrf: string, fileName: string, content: string): Promise<{ status: number; body: string }> {
    const url = `${running.issuer}/admin/profiles/import/preview`;
    const form = new FormData();
    form.set('csrf', csrf);
    form.set('file', new File([content], fileName, { type: 'text/csv' }));
    const response = await fetch(url, { method: 'POST', body: form, headers: { cookie: person.browser.cookieHeader(new URL(url)), accept: 'text/html' }, redirect: 'manual' });
    return { status: response.status, body: await response.text() };
  }

  it('finds profiles by email, id or organization, and edits one, bad input beside its field', async () => {
    const organization = uniqueName('Northwind Traders');
    const profile = buildProfile({ organization });
    await running.broker.store.profiles.upsert(profile);
    const { person } = await consoleUser(running, uniqueName('admin'), 'admin');
    for (const [by, q] of [['email', profile.email.toUpperCase()], ['id', profile.id], ['organization', organization.slice(0, 12).toLowerCase()]] as const) {
      const found = await person.browser.get(`${running.issuer}/admin/profiles?${new URLSearchParams({ by, q })}`);
      expect(found.body, by).to.contain(`/admin/profiles/${profile.id}"`);
    }
    const shown = await person.browser.get(`${running.issuer}/admin/profiles/${profile.id}`);
    const bad = await person.browser.post(`${running.issuer}/admin/profiles/${profile.id}`, { csrf: csrfOf(shown), portal: 'partnersource', email: 'not-an-email', displayName: 'N. W.', organization, roles: 'buyer' });
    expect(bad.status).to.equal(400);
    expect(bad.body).to.match(/id="email"[^>]*aria-invalid="true"/);
    expect((await running.broker.store.profiles.find(profile.id))!.email, 'bad input changes nothing').to.equal(profile.email);
    const saved = await person.browser.post(`${running.issuer}/admin/profiles/${profile.id}`, { csrf: csrfOf(shown), portal: 'customersource', email: profile.email, displayName: 'N. W.', organization, roles: 'buyer, approver' });
    expect(saved.status).to.equal(302);
    expect(await running.broker.store.profiles.find(profile.id)).to.deep.include({ portal: 'customersource', displayName: 'N. W.', roles: ['buyer', 'approver'] });
  });

  it('previews an upload without writing (rejected rows by line), then applies it with the same counts', async () => {
    const existing = buildProfile();
    await running.broker.store.profiles.upsert(existing);
    const fresh = [buildProfile(), buildProfile()];
    const csv = `${profileCsv([existing, { ...fresh[0]! }, { ...fresh[1]! }])}\nMBS-broken,nowhere,x,,,\n`;
    const { person } = await consoleUser(running, uniqueName('admin'), 'admin');
    const form = await person.browser.get(`${running.issuer}/admin/profiles/import`);

    const preview = await upload(person, csrfOf(form), 'export.csv', csv);
    expect(preview.status).to.equal(200);
    const counts = (body: string) => [...body.matchAll(/<dd>(\d+)<\/dd>/g)].map((match) => Number(match[1]));
    expect(counts(preview.body), 'created, updated, unchanged, rejected').to.deep.equal([2, 0, 1, 1]);
    expect(preview.body).to.match(/<td>5<\/td>/);
    expect(await running.broker.store.profiles.find(fresh[0]!.id), 'the preview writes nothing').to.equal(undefined);

    const applied = await person.browser.post(`${running.issuer}/admin/profiles/import`, { csrf: hiddenField(preview.body, 'csrf')!, fileName: hiddenField(preview.body, 'fileName')!, content: hiddenField(preview.body, 'content')! });
    expect(applied.status).to.equal(200);
    expect(counts(applied.body)).to.deep.equal([2, 0, 1, 1]);
    expect(await running.broker.store.profiles.find(fresh[1]!.id)).to.deep.include({ email: fresh[1]!.email });
    expect((await running.broker.store.auditEvents.list({ type: 'profiles.import', actor: 'console' })).total).to.be.greaterThan(0);

    const empty = await upload(person, csrfOf(form), 'empty.csv', '');
    expect(empty.status).to.equal(400);
    expect(empty.body).to.match(/id="file"[^>]*aria-invalid="true"/);
    const forged = await upload(person, 'forged', 'export.csv', csv);
    expect(forged.status, 'an upload needs the CSRF token too').to.equal(403);
  });

  it('imports a large file as a job: progress pages that refresh themselves, then the final report with the preview’s counts', async () => {
    const existing = Array.from({ length: 200 }, () => buildProfile());
    await running.broker.store.transaction(async (repositories) => {
      for (const profile of existing) await repositories.profiles.upsert(profile);
    });
    const fresh = Array.from({ length: importJobRows + 800 }, () => buildProfile());
    const csv = `${profileCsv([...existing, ...fresh])}\nMBS-broken,nowhere,x,,,\n`;
    const { person, accountId } = await consoleUser(running, uniqueName('admin'), 'admin');
    const form = await person.browser.get(`${running.issuer}/admin/profiles/import`);
    const preview = await upload(person, csrfOf(form), 'large.csv', csv);
    const counts = (body: string) => [...body.matchAll(/<dd>(\d+)<\/dd>/g)].map((match) => Number(match[1]));
    expect(counts(preview.body), 'created, updated, unchanged, rejected').to.deep.equal([fresh.length, 0, existing.length, 1]);

    const applied = await person.browser.post(`${running.issuer}/admin/profiles/import`, { csrf: hiddenField(preview.body, 'csrf')!, fileName: 'large.csv', content: hiddenField(preview.body, 'content')! });
    expect(applied.status, 'a large file becomes a job').to.equal(303);
    expect(applied.headers.get('location')).to.equal('/admin/profiles/import/progress');

    // The admin's browser follows the meta refresh; the test reads the page until the job is done.
    const pages: Page[] = [];
    for (;;) {
      const page = await person.browser.get(`${running.issuer}/admin/profiles/import/progress`);
      expect(page.status).to.equal(200);
      pages.push(page);
      if (!page.body.includes('<progress')) break;
      expect(page.body).to.match(/<meta http-equiv="refresh" content="\d+">/).and.to.contain('Import running');
      const [created, updated, unchanged, rejected] = counts(page.body);
      expect(created! + updated! + unchanged!, 'the counts so far are the rows processed').to.be.at.most(fresh.length + existing.length);
      expect(rejected).to.equal(1);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(pages[0]!.body, 'the first look sees the job running').to.contain('<progress');
    const report = pages.at(-1)!;
    expect(report.body).to.contain('Import applied').and.to.not.contain('http-equiv="refresh"');
    expect(counts(report.body), 'the final report has the preview’s counts').to.deep.equal([fresh.length, 0, existing.length, 1]);
    expect(report.body).to.match(/<td>\d+<\/td><td>[^<]+<\/td>/);
    for (const page of pages) expect(page.body, 'the file never travels back').to.not.contain(fresh[0]!.email).and.to.not.contain('name="content"');
    expect(await running.broker.store.profiles.find(fresh.at(-1)!.id)).to.deep.include({ email: fresh.at(-1)!.email });

    const started = (await running.broker.store.auditEvents.list({ type: 'profiles.import_started' })).items[0]!;
    expect(started.details).to.include({ rows: fresh.length + existing.length, rejected: 1, actingAdmin: accountId });
    const ended = (await running.broker.store.auditEvents.list({ type: 'profiles.import' })).items[0]!;
    expect(ended).to.include({ outcome: 'success', actor: 'console' });
    expect(ended.details).to.include({ created: fresh.length, updated: 0, unchanged: existing.length, rejected: 1, actingAdmin: accountId });

    const other = await consoleUser(running, uniqueName('admin'), 'admin');
    expect((await other.person.browser.get(`${running.issuer}/admin/profiles/import/progress`)).status, 'another admin has no job to see').to.equal(404);
    const support = await consoleUser(running, uniqueName('desk'), 'support');
    expect((await support.person.browser.get(`${running.issuer}/admin/profiles/import/progress`)).status, 'support is refused').to.equal(403);
  });

  it('refuses support admins the pages and the import, direct POSTs included', async () => {
    const { person, page } = await consoleUser(running, uniqueName('desk'), 'support');
    for (const path of ['/admin/profiles', '/admin/profiles/import']) expect((await person.browser.get(`${running.issuer}${path}`)).status, path).to.equal(403);
    const profile = buildProfile();
    const refused = await upload(person, csrfOf(page), 'export.csv', profileCsv([profile]));
    expect(refused.status).to.equal(403);
    expect((await person.browser.post(`${running.issuer}/admin/profiles/import`, { csrf: csrfOf(page), fileName: 'x.csv', content: profileCsv([profile]) })).status).to.equal(403);
    expect(await running.broker.store.profiles.find(profile.id)).to.equal(undefined);
  });
});
