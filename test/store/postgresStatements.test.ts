// The PostgreSQL side of the hot statements: named prepared statements on
// pipelined connections of their own, the writes of one turn committed in
// one transaction, each caller told its own statement's outcome; and the
// indexes that keep oidc-provider's lookups off full scans without statistics.
import { expect } from 'chai';
import { openDatabase, preparedStatements, type Database } from '../../src/store/database.ts';
import { createPostgresDatabase, testDatabases } from '../support/databases.ts';

const serverUrl = process.env.TEST_POSTGRES_URL;
const insert = 'insert into things (id, count) values (?, ?)';
/** The transaction that wrote a row (its xmin): rows committed together share it. */
const writerOf = async (database: Database, id: string) => ((await database.raw('select xmin::text as xmin from things where id = ?', [id])) as { rows: Array<{ xmin: string }> }).rows[0]?.xmin;

(serverUrl ? describe : describe.skip)('PostgreSQL hot statements', () => {
  let fresh: { url: string; drop(): Promise<void> };
  let database: Database;

  beforeEach(async () => {
    fresh = await createPostgresDatabase(serverUrl!);
    database = openDatabase({ url: fresh.url, poolMax: 6 });
    await database.schema.createTable('things', (table) => {
      table.string('id').primary();
      table.integer('count').notNullable();
    });
  });

  afterEach(async () => {
    await database.destroy();
    await fresh.drop();
  });

  it('commits the writes queued in one turn in one transaction, each resolving with its rows changed', async () => {
    const prepared = preparedStatements(database);
    const changed = await Promise.all(['a', 'b', 'c', 'd'].map((id, index) => prepared.run(insert, [id, index])));
    expect(changed).to.deep.equal([1, 1, 1, 1]);
    const writers = await Promise.all(['a', 'b', 'c', 'd'].map((id) => writerOf(database, id)));
    expect(new Set(writers).size).to.equal(1);
    // Writes of a later turn are a transaction of their own.
    await prepared.run(insert, ['e', 5]);
    expect(await writerOf(database, 'e')).to.not.equal(writers[0]);
  });

  it('fails only the write that fails: the others of its turn commit', async () => {
    const prepared = preparedStatements(database);
    await prepared.run(insert, ['taken', 0]);
    const outcomes = await Promise.allSettled([prepared.run(insert, ['x', 1]), prepared.run(insert, ['taken', 2]), prepared.run(insert, ['y', 3])]);
    expect(outcomes.map((outcome) => outcome.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).to.have.property('code', '23505');
    const rows = (await database('things').select('id', 'count').orderBy('id')) as Array<{ id: string; count: number }>;
    expect(rows).to.deep.equal([
      { id: 'taken', count: 0 },
      { id: 'x', count: 1 },
      { id: 'y', count: 3 },
    ]);
  });

  it('answers reads with their rows, one row or none, beside the writes of their turn', async () => {
    const prepared = preparedStatements(database);
    await Promise.all([prepared.run(insert, ['one', 1]), prepared.run(insert, ['two', 2])]);
    const [first, missing, all, updated] = await Promise.all([
      prepared.get('select id, count from things where id = ?', ['one']),
      prepared.get('select id, count from things where id = ?', ['none']),
      prepared.all('select id from things order by id', []),
      prepared.run('update things set count = count + 1 where count > ?', [0]),
    ]);
    expect(first).to.deep.equal({ id: 'one', count: 1 });
    expect(missing).to.equal(undefined);
    expect(all).to.deep.equal([{ id: 'one' }, { id: 'two' }]);
    expect(updated).to.equal(2);
  });

  it('runs each statement as a named prepared statement: the server parses it once per connection', async () => {
    const prepared = preparedStatements(database);
    for (let round = 0; round < 3; round += 1) await prepared.get('select count(*)::int as total from things where count > ?', [round]);
    const statements = (await prepared.all("select name, statement from pg_prepared_statements where statement like 'select count(*)::int as total from things%'", [])) as Array<{ name: string; statement: string }>;
    expect(statements).to.have.length(1);
    expect(statements[0]!.name).to.match(/^mbs_/);
    expect(statements[0]!.statement).to.contain('count > $1');
  });

  it('closes its connections with the database', async () => {
    const prepared = preparedStatements(database);
    await Promise.all(Array.from({ length: 20 }, (_, index) => prepared.run(insert, [`row-${index}`, index])));
    const name = new URL(fresh.url).pathname.slice(1);
    await database.destroy();
    const observer = openDatabase({ url: serverUrl!, poolMax: 1 });
    try {
      const open = (await observer.raw('select count(*)::int as open from pg_stat_activity where datname = ?', [name])) as { rows: Array<{ open: number }> };
      expect(open.rows[0]!.open).to.equal(0);
    } finally {
      await observer.destroy();
      database = openDatabase({ url: fresh.url, poolMax: 6 });
    }
  });
});

(serverUrl ? describe : describe.skip)('oidc_payloads lookups on PostgreSQL after a bulk load, before ANALYZE', () => {
  let database: Database;
  const postgres = testDatabases().find((candidate) => candidate.name === 'postgres')!;

  before(async () => {
    database = await postgres.open();
    // As the benchmark's memory scenario: 20,000 sessions, grants and refresh tokens, no statistics yet.
    await database.raw(`insert into oidc_payloads (type, id, payload, grant_id, uid, account_id, expires_at)
      select 'Session', 'session-' || i, '{}', null, 'uid-' || i, 'account-' || i, 4102444800000 from generate_series(1, 20000) i
      union all select 'Grant', 'grant-' || i, '{}', null, null, 'account-' || i, 4102444800000 from generate_series(1, 20000) i
      union all select 'RefreshToken', 'refresh-' || i, '{}', 'grant-' || i, null, 'account-' || i, 4102444800000 from generate_series(1, 20000) i`);
  });
  after(() => postgres.close(database));

  /** The plan PostgreSQL chooses for `sql`, as text. */
  const planOf = async (sql: string, values: string[]) => ((await database.raw(`explain ${sql}`, values)) as { rows: Array<{ 'QUERY PLAN': string }> }).rows.map((row) => row['QUERY PLAN']).join('\n');

  for (const [lookup, sql, values, index] of [
    ['a session by uid (every interaction step)', 'select id from oidc_payloads where type = ? and uid = ? limit 1', ['Session', 'uid-7'], 'oidc_payloads_type_uid_index'],
    ["a grant's refresh tokens (revokeByGrantId)", 'delete from oidc_payloads where type = ? and grant_id = ?', ['RefreshToken', 'grant-7'], 'oidc_payloads_type_grant_id_index'],
    ["an account's sessions (support desk, revocation)", 'select payload from oidc_payloads where type = ? and account_id = ?', ['Session', 'account-7'], 'oidc_payloads_type_account_id_index'],
  ] as const) {
    it(`finds ${lookup} through the (type, value) index, not every row of the type`, async () => {
      const plan = await planOf(sql, [...values]);
      expect(plan).to.contain(index);
      expect(plan).to.not.contain('oidc_payloads_pkey');
    });
  }
});
