// The SQLite side of the database module: knex on node:sqlite, and the
// prepared statements that commit in groups without ever joining a knex
// transaction that holds the connection.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { openDatabase, preparedStatements, type Database } from '../../src/store/database.ts';
import { within } from '../support/within.ts';

describe('SQLite on node:sqlite', () => {
  let directory: string;
  let database: Database;

  beforeEach(async () => {
    directory = mkdtempSync(join(tmpdir(), 'mbs-sqlite-test-'));
    database = openDatabase({ url: `sqlite:${join(directory, 'test.sqlite')}` });
    await database.schema.createTable('things', (table) => {
      table.string('id').primary();
      table.integer('count').notNullable();
      table.boolean('active');
      table.bigInteger('at');
    });
  });

  afterEach(async () => {
    await database.destroy();
    rmSync(directory, { recursive: true, force: true });
  });

  it('opens the file in write-ahead-log mode with foreign keys on', async () => {
    const journal = (await database.raw('PRAGMA journal_mode')) as Array<{ journal_mode: string }>;
    const foreignKeys = (await database.raw('PRAGMA foreign_keys')) as Array<{ foreign_keys: number }>;
    expect(journal[0]!.journal_mode).to.equal('wal');
    expect(foreignKeys[0]!.foreign_keys).to.equal(1);
  });

  it('checkpoints the write-ahead log in the background, long before SQLite would inside a commit', async () => {
    const filename = join(directory, 'test.sqlite');
    const sizeBefore = statSync(filename).size;
    await database.batchInsert('things', Array.from({ length: 2000 }, (_, index) => ({ id: `thing-${index}`.padEnd(200, 'x'), count: index })), 100);
    // 2,000 rows fill about 150 pages, far below the 10,000-page backstop:
    // only the checkpoint worker moves them from the log into the file.
    await within(5, async () => (statSync(filename).size > sizeBefore + 400_000 ? true : undefined));
  });

  it('runs knex queries: inserts, returning, updates and deletes with their counts, dates and booleans bound', async () => {
    const at = new Date('2026-11-25T10:00:00Z');
    await database('things').insert({ id: 'a', count: 1, active: true, at });
    const returned = await database('things').insert({ id: 'b', count: 2, active: false, at: null }).returning(['id', 'count']);
    expect(returned).to.deep.equal([{ id: 'b', count: 2 }]);
    expect(await database('things').where({ id: 'a' }).update({ count: 5 })).to.equal(1);
    expect(await database('things').where({ id: 'a' }).first()).to.deep.include({ count: 5, active: 1, at: at.valueOf() });
    expect(await database('things').whereIn('id', ['a', 'b']).delete()).to.equal(2);
    expect(await database('things').count({ total: '*' })).to.deep.equal([{ total: 0 }]);
  });

  it('rolls a failed knex transaction back as a whole', async () => {
    await database
      .transaction(async (transaction) => {
        await transaction('things').insert({ id: 'a', count: 1 });
        await transaction('things').insert({ id: 'a', count: 2 });
      })
      .catch(() => undefined);
    expect(await database('things').select()).to.deep.equal([]);
  });

  it('commits statements queued in one turn together, each settling with its own outcome', async () => {
    const prepared = preparedStatements(database)!;
    const insert = 'insert into things (id, count) values (?, ?)';
    const outcomes = await Promise.allSettled([prepared.run(insert, ['a', 1]), prepared.run(insert, ['a', 2]), prepared.run(insert, ['b', 3]), prepared.get('select count(*) as total from things', [])]);
    expect(outcomes.map((outcome) => outcome.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    // The read ran in the same batch, after the writes queued before it.
    expect((outcomes[3] as PromiseFulfilledResult<unknown>).value).to.deep.equal({ total: 2 });
    expect(await database('things').orderBy('id').pluck('id')).to.deep.equal(['a', 'b']);
  });

  it('waits for a knex transaction to end and stays out of it: a rollback there keeps the prepared write', async () => {
    const prepared = preparedStatements(database)!;
    let written: Promise<number> | undefined;
    await database
      .transaction(async (transaction) => {
        await transaction('things').insert({ id: 'in-transaction', count: 1 });
        written = prepared.run('insert into things (id, count) values (?, ?)', ['prepared', 1]);
        // Give the prepared statement every chance to run inside the transaction.
        await new Promise((resolve) => setTimeout(resolve, 20));
        throw new Error('roll back');
      })
      .catch(() => undefined);
    expect(await written).to.equal(1);
    expect(await database('things').pluck('id')).to.deep.equal(['prepared']);
  });
});
