// The SQLite side of the database module: knex on node:sqlite, and the
// prepared statements that commit in groups without ever joining a knex
// transaction that holds the connection.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { expect } from 'chai';
import { BrokerError } from '../../src/errors.ts';
import { createLogger } from '../../src/logging.ts';
import { openDatabase, preparedStatements, reportCheckpointFailures, type Database } from '../../src/store/database.ts';
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

  it('answers reads queued in one turn (one read transaction) each with its own rows, a failing one alone, and leaves the connection free for writes', async () => {
    const prepared = preparedStatements(database)!;
    await database('things').insert([
      { id: 'a', count: 1 },
      { id: 'b', count: 2 },
    ]);
    const outcomes = await Promise.allSettled([
      prepared.get('select count from things where id = ?', ['a']),
      prepared.get('select count from things where id = ?', ['b']),
      prepared.get('select count from nothing where id = ?', ['c']),
      prepared.all('select id from things order by id', []),
    ]);
    expect(outcomes.map((outcome) => outcome.status)).to.deep.equal(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled').map((outcome) => outcome.value)).to.deep.equal([{ count: 1 }, { count: 2 }, [{ id: 'a' }, { id: 'b' }]]);
    // The read transaction ended with the batch: a knex write and a batch of writes go through at once.
    await database('things').insert({ id: 'c', count: 3 });
    await Promise.all([prepared.run('update things set count = ? where id = ?', [10, 'a']), prepared.run('update things set count = ? where id = ?', [20, 'b'])]);
    expect(await database('things').orderBy('id').pluck('count')).to.deep.equal([10, 20, 3]);
  });

  it('makes statements queued by others wait for a knex transaction to end and stay out of it: a rollback there keeps the prepared write', async () => {
    const prepared = preparedStatements(database)!;
    let holding!: () => void;
    const transactionHolds = new Promise<void>((resolve) => (holding = resolve));
    const transaction = database
      .transaction(async (transaction) => {
        await transaction('things').insert({ id: 'in-transaction', count: 1 });
        holding();
        // Give the prepared statement every chance to run inside the transaction.
        await new Promise((resolve) => setTimeout(resolve, 20));
        throw new Error('roll back');
      })
      .catch(() => undefined);
    await transactionHolds;
    // Queued by another request (outside the transaction's code) while it holds the connection.
    const written = prepared.run('insert into things (id, count) values (?, ?)', ['prepared', 1]);
    await transaction;
    expect(await written).to.equal(1);
    expect(await database('things').pluck('id')).to.deep.equal(['prepared']);
  });

  it('fails a prepared statement awaited inside a knex transaction at once, naming why, instead of waiting for the connection the transaction holds', async () => {
    const prepared = preparedStatements(database)!;
    const failure = await database
      .transaction(async (transaction) => {
        await transaction('things').insert({ id: 'in-transaction', count: 1 });
        await prepared.get('select count(*) as total from things', []);
      })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(failure).to.be.instanceOf(BrokerError);
    expect((failure as BrokerError).detail).to.match(/inside a knex transaction.*holds the single connection/);
    expect(await database('things').pluck('id')).to.deep.equal([]);
    // The queue is not stuck: outside the transaction the same statement runs.
    expect(await prepared.get('select count(*) as total from things', [])).to.deep.equal({ total: 0 });
  });

  describe('when SQLite rolls a transaction back by itself (disk full)', () => {
    const insert = 'insert into things (id, count, at) values (?, ?, ?)';
    const tooBig = 'x'.repeat(200_000);

    /** Leaves room for a few small rows, not for `tooBig`. */
    async function fillTheDisk(): Promise<void> {
      const [{ page_count: pages }] = (await database.raw('PRAGMA page_count')) as Array<{ page_count: number }>;
      await database.raw(`PRAGMA max_page_count = ${pages + 3}`);
    }

    const persisted = async (): Promise<string[]> => database('things').orderBy('id').pluck('id');

    it('reports every prepared write of the batch by its real outcome: those it undid failed, the rest run again', async () => {
      await fillTheDisk();
      const prepared = preparedStatements(database)!;
      const outcomes = await Promise.allSettled([prepared.run(insert, ['a', 1, null]), prepared.run(insert, ['b', 2, tooBig]), prepared.run(insert, ['c', 3, null])]);
      expect(outcomes.map((outcome) => outcome.status)).to.deep.equal(['rejected', 'rejected', 'fulfilled']);
      // Never "failed" for a write that persisted, nor "succeeded" for one rolled back.
      expect(await persisted()).to.deep.equal(['c']);
      const failure = (outcomes[0] as PromiseRejectedResult).reason as BrokerError;
      expect(failure).to.be.instanceOf(BrokerError);
      expect([failure.code, failure.status]).to.deep.equal(['temporarily_unavailable', 503]);
      expect(failure.detail).to.match(/SQLITE_FULL|disk is full/);
    });

    it('never runs the rest of a knex transaction outside it in autocommit: the transaction fails and nothing of it persists', async () => {
      await fillTheDisk();
      const failure = await database
        .transaction(async (transaction) => {
          await transaction('things').insert({ id: 'a', count: 1 });
          await transaction('things')
            .insert({ id: 'b', count: 2, at: tooBig })
            .catch(() => undefined);
          await transaction('things').insert({ id: 'c', count: 3 });
        })
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(failure).to.be.instanceOf(BrokerError);
      expect((failure as BrokerError).status).to.equal(503);
      expect(await persisted()).to.deep.equal([]);
    });

    it('writes again once there is room, on the same connection', async () => {
      await fillTheDisk();
      await database('things')
        .insert({ id: 'b', count: 2, at: tooBig })
        .catch(() => undefined);
      await database.raw('PRAGMA max_page_count = 1073741823');
      await database('things').insert({ id: 'b', count: 2, at: tooBig });
      expect(await preparedStatements(database)!.run(insert, ['c', 3, null])).to.equal(1);
      expect(await persisted()).to.deep.equal(['b', 'c']);
    });
  });

  describe('while another process holds the write lock', () => {
    let other: DatabaseSync;

    beforeEach(() => {
      other = new DatabaseSync(join(directory, 'test.sqlite'));
      other.exec('BEGIN IMMEDIATE');
      other.exec("insert into things (id, count) values ('other', 1)");
    });

    afterEach(() => {
      if (other.isTransaction) other.exec('ROLLBACK');
      other.close();
    });

    it('waits for it without stopping the event loop, for knex queries, transactions and prepared statements alike', async () => {
      const settled: string[] = [];
      const writes = [
        database('things').insert({ id: 'knex', count: 1 }).then(() => settled.push('knex')),
        database.transaction(async (transaction) => transaction('things').insert({ id: 'transaction', count: 1 })).then(() => settled.push('transaction')),
        preparedStatements(database)!.run('insert into things (id, count) values (?, ?)', ['prepared', 1]).then(() => settled.push('prepared')),
      ];
      // Timers fire while the writes wait: SQLite's own busy wait would hold the thread.
      for (let turn = 0; turn < 5; turn += 1) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(settled).to.deep.equal([]);
      other.exec('COMMIT');
      await Promise.all(writes);
      expect(await database('things').orderBy('id').pluck('id')).to.deep.equal(['knex', 'other', 'prepared', 'transaction']);
    });

    it('gives up after the busy wait limit with a retryable 503 naming the lock', async function () {
      this.timeout(20_000);
      const failures = await Promise.all([
        database('things').insert({ id: 'knex', count: 1 }).then(() => undefined, (error: unknown) => error),
        preparedStatements(database)!.run('insert into things (id, count) values (?, ?)', ['prepared', 1]).then(() => undefined, (error: unknown) => error),
      ]);
      for (const failure of failures) {
        expect(failure).to.be.instanceOf(BrokerError);
        expect([(failure as BrokerError).code, (failure as BrokerError).status]).to.deep.equal(['temporarily_unavailable', 503]);
        expect((failure as BrokerError).detail).to.match(/locked by another process/);
      }
      other.exec('ROLLBACK');
      expect(await database('things').pluck('id')).to.deep.equal([]);
    });
  });

  describe('when the checkpoint worker cannot write (a full disk)', () => {
    let mounted: string | undefined;
    let full: Database;

    before(function () {
      // A real full disk: a 4 MB tmpfs (root only; elsewhere this is skipped).
      const point = mkdtempSync(join(tmpdir(), 'mbs-full-disk-'));
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', point], { stdio: 'ignore' });
        mounted = point;
      } catch {
        rmSync(point, { recursive: true, force: true });
        this.skip();
      }
    });

    after(async () => {
      await full?.destroy();
      if (mounted) {
        execFileSync('umount', [mounted]);
        rmSync(mounted, { recursive: true, force: true });
      }
    });

    it('counts every failed checkpoint and logs them at most once a minute, naming the SQLite error', async () => {
      full = openDatabase({ url: `sqlite:${join(mounted!, 'full.sqlite')}` });
      const lines: string[] = [];
      let counted = 0;
      reportCheckpointFailures(full, createLogger({ level: 'trace', destination: { write: (line: string) => void lines.push(line) } }), () => (counted += 1));
      await full.schema.createTable('things', (table) => {
        table.increments('id');
        table.text('body');
      });
      // The log grows to 1 MB with a transaction that spills to it and rolls
      // back: later commits reuse that space, while the database file stays small.
      await full.raw('PRAGMA cache_size = 5');
      await full
        .transaction(async (transaction) => {
          for (let row = 0; row < 250; row += 1) await transaction('things').insert({ body: 'x'.repeat(4000) });
          throw new Error('roll back');
        })
        .catch(() => undefined);
      const filler = openSync(join(mounted!, 'filler'), 'w');
      try {
        for (;;) writeSync(filler, Buffer.alloc(65_536));
      } catch {
        // The disk is full.
      } finally {
        closeSync(filler);
      }
      // Committed into the log's space; the checkpoint cannot grow the file to take it.
      await full.transaction(async (transaction) => {
        for (let row = 0; row < 50; row += 1) await transaction('things').insert({ body: 'y'.repeat(4000) });
      });
      await within(5, async () => (counted >= 3 ? true : undefined));
      const logged = lines.map((line) => JSON.parse(line) as { msg: string; errcode?: number; failures?: number }).filter((line) => line.msg === 'SQLite checkpoint failed');
      expect(logged).to.have.length(1);
      expect(logged[0]).to.deep.include({ errcode: 13, failures: 1 });
    });
  });
});

