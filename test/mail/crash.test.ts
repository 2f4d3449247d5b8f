// Association emails across faults, on real parts: `mbs-broker serve` child
// processes SIGKILLed at several points of a first login and restarted, and
// a real SMTP server that holds its answer, accepts just before the kill, or
// is down for a while. Counts, over every run, the emails lost, those later
// than 10 s after the restart, and the duplicates, and prints the figures.
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as client from 'openid-client';
import { freePort } from '../support/broker.ts';
import { runCliJson } from '../support/cli.ts';
import { BrokerProcess } from '../support/cluster.ts';
import { createPostgresDatabase } from '../support/databases.ts';
import { buildProfile, profileCsv } from '../support/factories.ts';
import { linkOf, Person, registerPortal, type Portal } from '../support/journey.ts';
import { TestSmtpServer, type ReceivedMail } from '../support/smtp.ts';
import { within } from '../support/within.ts';

const pause = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

/** The design's bound: a restarted broker sends what its predecessor left within 10 s (SQLite: at once; PostgreSQL: once the 5 s claim lapses). */
const lateAfterRestart = 10_000;
/** An email not there this long after the restart is counted lost. */
const lostAfterRestart = 30_000;
/** A real outage (MAIL_OUTAGE_SECONDS=60 by hand) runs on the default retry schedule; CI plays 10 s on a scaled one. */
const outageSeconds = Number(process.env.MAIL_OUTAGE_SECONDS ?? 10);
const retrySchedule = process.env.MAIL_OUTAGE_SECONDS ? { first: 10, longest: 300 } : { first: 1, longest: 4 };
const outboxInterval = 1000;
const adminToken = 'admin-token-for-the-crash-test';

type KillPoint = 'after the email form answers' | 'while SMTP holds its answer to DATA' | 'right after SMTP accepted' | 'after the link is confirmed';

interface Tally {
  runs: number;
  emails: number;
  lost: number;
  late: number;
  duplicated: number;
  /** The longest an email the restart had to send took after it (ms). */
  slowest: number;
}

const databases = [{ name: 'sqlite' as const }, ...(process.env.TEST_POSTGRES_URL ? [{ name: 'postgres' as const }] : [])];

for (const { name } of databases) {
  describe(`association emails across faults on ${name}`, function () {
    this.timeout(150_000);
    let smtp: TestSmtpServer;
    let broker: BrokerProcess;
    let environment: Record<string, string>;
    let portal: Portal;
    let cleanUp: () => Promise<void>;
    const people: Array<{ email: string; organization: string }> = [];
    let nextPerson = 0;
    const tallies = new Map<KillPoint, Tally>();
    let outageFigure = '';

    before(async () => {
      smtp = new TestSmtpServer(await freePort());
      await smtp.start();
      const port = await freePort();
      let databaseUrl: string;
      if (name === 'postgres') {
        const database = await createPostgresDatabase(process.env.TEST_POSTGRES_URL!);
        databaseUrl = database.url;
        cleanUp = () => database.drop();
      } else {
        const directory = mkdtempSync(join(tmpdir(), 'mbs-crash-'));
        databaseUrl = `sqlite:${join(directory, 'broker.sqlite')}`;
        cleanUp = async () => rmSync(directory, { recursive: true, force: true });
      }
      environment = {
        NODE_ENV: 'test',
        ISSUER: `http://127.0.0.1:${port}`,
        DATABASE_URL: databaseUrl,
        SMTP_URL: smtp.url,
        KEY_ENCRYPTION_KEY: 'crash-test-key-encryption-key-0123456789',
        OUTBOX_INTERVAL: String(outboxInterval),
        OUTBOX_RETRY_FIRST: String(retrySchedule.first),
        OUTBOX_RETRY_LONGEST: String(retrySchedule.longest),
        LINK_REQUESTS_PER_HOUR: '1000',
        ADMIN_TOKEN: adminToken,
        LOG_LEVEL: 'warn',
      };
      broker = new BrokerProcess(port, environment);
      await broker.start();
      const profiles = Array.from({ length: 48 }, (_, index) => buildProfile({ portal: 'partnersource', email: `crash${index}.${name}@fabrikam.example`, organization: `Fabrikam Crash ${index}` }));
      people.push(...profiles.map((profile) => ({ email: profile.email, organization: profile.organization })));
      const file = join(mkdtempSync(join(tmpdir(), 'mbs-profiles-')), 'profiles.csv');
      writeFileSync(file, profileCsv(profiles));
      await runCliJson(['profiles', 'import', file], environment);
      portal = await registerPortal({ issuer: environment.ISSUER!, environment }, 'partnersource');
    });

    after(async () => {
      const line = (label: string, tally: Tally) =>
        `  ${label.padEnd(38)} runs ${tally.runs}, emails ${tally.emails}, lost ${tally.lost}, late ${tally.late}, duplicated ${tally.duplicated}, slowest ${(tally.slowest / 1000).toFixed(1)} s after the restart`;
      const total = [...tallies.values()].reduce(
        (sum, tally) => ({ runs: sum.runs + tally.runs, emails: sum.emails + tally.emails, lost: sum.lost + tally.lost, late: sum.late + tally.late, duplicated: sum.duplicated + tally.duplicated, slowest: Math.max(sum.slowest, tally.slowest) }),
        { runs: 0, emails: 0, lost: 0, late: 0, duplicated: 0, slowest: 0 },
      );
      console.log(`\n    SIGKILL figures on ${name} (late: > ${lateAfterRestart / 1000} s after the restart):\n${[...tallies].map(([point, tally]) => line(point, tally)).join('\n')}\n${line('all', total)}${outageFigure}\n`);
      await broker?.stop();
      await smtp?.stop();
      await cleanUp?.();
    });

    afterEach(async function () {
      smtp.release();
      smtp.onAccepted = undefined;
      if (this.currentTest?.state === 'failed') console.log(`--- broker output\n${broker.output.slice(-4000)}`);
      // A test that failed between a kill and the restart leaves the next ones a broker.
      if (!broker.running) await broker.start();
    });

    const pendingEmails = async () => ((await (await fetch(`http://${broker.address}/admin/api/outbox?pending=true`, { headers: { authorization: `Bearer ${adminToken}` } })).json()) as { total: number }).total;
    const copiesTo = (email: string): ReceivedMail[] => smtp.received.filter((mail) => mail.to === email);

    /** Two people at the email form, as far as the fault lets them go; the broker killed at `point` and started again. */
    async function run(point: KillPoint): Promise<number> {
      const pair = [people[nextPerson++]!, people[nextPerson++]!].map((person) => ({ ...person, browser: new Person(`crash-${name}-${person.email}`) }));
      const signIns = await Promise.all(pair.map((person) => person.browser.startSignIn(portal)));
      signIns.forEach((signIn) => expect(signIn.page?.body).to.contain('Enter your MBS email address'));
      const submit = async () => {
        const answers = await Promise.all(pair.map((person, index) => person.browser.submitEmail(signIns[index]!.page!, person.email)));
        answers.forEach((answer) => expect(answer.status).to.equal(303));
      };
      const kill = () => broker.kill();
      const confirmed: Array<URL | undefined> = [undefined, undefined];
      if (point === 'after the email form answers') {
        await submit();
        await pause(Math.random() * 150);
        await kill();
      } else if (point === 'while SMTP holds its answer to DATA') {
        smtp.holding = true;
        await submit();
        // The first message held; the other waits behind it, claimed or still queued.
        await within(10, async () => (smtp.heldCount > 0 ? true : undefined));
        await kill();
        // The broker's connections are gone before the server answers: nothing was accepted.
        await within(5, async () => (smtp.heldAbandoned === smtp.heldCount ? true : undefined));
        smtp.release();
      } else if (point === 'right after SMTP accepted') {
        // Both answered first (the kill must not cut a page), the first message held, then accepted and killed on.
        smtp.holding = true;
        await submit();
        await within(10, async () => (smtp.heldCount > 0 ? true : undefined));
        let killing: Promise<void> | undefined;
        smtp.onAccepted = () => {
          smtp.onAccepted = undefined;
          killing = kill();
        };
        smtp.release();
        await within(10, async () => (killing ? true : undefined));
        await killing;
      } else {
        await submit();
        for (const [index, person] of pair.entries()) {
          const [mail] = await within(10, async () => (copiesTo(person.email).length > 0 ? copiesTo(person.email) : undefined));
          const resumed = await person.browser.confirmLink(linkOf(mail!));
          expect(resumed.location, resumed.page?.body).to.not.equal(undefined);
          confirmed[index] = resumed.location;
        }
        await kill();
      }
      await broker.start();
      const restartedAt = Date.now();

      const tally = tallies.get(point) ?? { runs: 0, emails: 0, lost: 0, late: 0, duplicated: 0, slowest: 0 };
      tallies.set(point, tally);
      tally.runs += 1;
      for (const [index, person] of pair.entries()) {
        tally.emails += 1;
        const copies = await within(lostAfterRestart / 1000, async () => (copiesTo(person.email).length > 0 ? copiesTo(person.email) : undefined)).catch(() => []);
        if (copies.length === 0) {
          tally.lost += 1;
          continue;
        }
        if (copies[0]!.acceptedAt - restartedAt > lateAfterRestart) tally.late += 1;
        tally.slowest = Math.max(tally.slowest, copies[0]!.acceptedAt - restartedAt);
        // A repeat carries the first attempt's Message-ID: recognizable downstream.
        expect(new Set(copies.map((copy) => copy.messageId)).size, 'one Message-ID for every copy').to.equal(1);
        expect(copies[0]!.messageId).to.match(/^<[0-9a-f-]{36}@/);

        // The person finishes the first login on the restarted broker.
        const location = confirmed[index] ?? (await person.browser.confirmLink(linkOf(copies[0]!))).location;
        expect(location, 'back at the portal').to.not.equal(undefined);
        const tokens = await signIns[index]!.tokens(location!);
        const userinfo = await client.fetchUserInfo(portal.configuration, tokens.access_token, client.skipSubjectCheck);
        expect((userinfo.mbs_profiles as Array<{ organization: string }>).map((profile) => profile.organization)).to.deep.equal([person.organization]);
      }
      // Every message marked sent: no repeat can come any more.
      await within(lostAfterRestart / 1000, async () => ((await pendingEmails()) === 0 ? true : undefined));
      const duplicated = pair.reduce((sum, person) => sum + Math.max(0, copiesTo(person.email).length - 1), 0);
      tally.duplicated += duplicated;
      expect(tally.lost, 'emails lost').to.equal(0);
      expect(tally.late, 'emails later than 10 s after the restart').to.equal(0);
      return duplicated;
    }

    /**
     * `count` runs killed at `point`. Repeats are asserted away only where the
     * kill surely lands outside the window between the SMTP server having a
     * message and the commit of its mark; elsewhere they are counted.
     */
    const rounds = async (point: KillPoint, count: number, { outsideTheWindow }: { outsideTheWindow: boolean }) => {
      for (let round = 0; round < count; round += 1) {
        const duplicated = await run(point);
        if (outsideTheWindow) expect(duplicated, 'duplicates').to.equal(0);
      }
    };

    it('a kill within 150 ms after the email form answers: every email arrives within 10 s of the restart; repeats (kill in the window) counted', async () => {
      await rounds('after the email form answers', 8, { outsideTheWindow: false });
    });

    it('a kill while the SMTP server holds its answer to DATA: the restarted broker sends each email exactly once', async () => {
      await rounds('while SMTP holds its answer to DATA', 4, { outsideTheWindow: true });
    });

    it('a kill right after SMTP accepted (the accept→mark window): every email arrives; repeats carry the same Message-ID and are counted', async () => {
      await rounds('right after SMTP accepted', 4, { outsideTheWindow: false });
    });

    it('a kill after the link is confirmed: the journey completes on the restarted broker, no email repeated', async () => {
      await rounds('after the link is confirmed', 4, { outsideTheWindow: true });
    });

    it('keeps the first login going through an SMTP outage: same page, instance in service and saying mail fails, each email once after the server is back', async () => {
      const person = people[nextPerson++]!;
      const browser = new Person(`outage-${name}`);
      const readiness = async () => {
        const response = await fetch(`http://${broker.address}/readyz`);
        return { status: response.status, body: (await response.json()) as { checks: Record<string, { status: string; detail?: string }> } };
      };
      const metric = async (pattern: RegExp) => Number(pattern.exec(await (await fetch(`http://${broker.address}/metrics`)).text())?.[1] ?? Number.NaN);
      const failedMetric = /^mbs_emails_total\{kind="association_link",event="failed"\} (\d+)/m;
      const failedBefore = (await metric(failedMetric)) || 0;

      await smtp.stop();
      const signIn = await browser.startSignIn(portal);
      const answer = await browser.submitEmail(signIn.page!, person.email);
      expect(answer.status).to.equal(303);
      const sentPage = await browser.browser.get(new URL(answer.headers.get('location')!, answer.url).href);
      expect(sentPage.status).to.equal(200);
      expect(sentPage.body).to.contain('<h1>Check your inbox</h1>').and.contain(person.email);
      const failingFrom = Date.now();

      // In service, and saying the mail server fails.
      const during = await within(10, async () => {
        const ready = await readiness();
        return ready.body.checks.mail?.status === 'degraded' ? ready : undefined;
      });
      expect(during.status).to.equal(200);
      expect(during.body.checks.mail?.detail).to.match(/^mail server failing for \d+ s \(\d+ failed attempts; emails are kept and retried\): ESOCKET CONN ECONNREFUSED$/);
      expect(await metric(/^mbs_mail_server_up (\d+)/m)).to.equal(0);
      expect(await metric(failedMetric)).to.be.greaterThan(failedBefore);

      await pause(Math.max(0, failingFrom + outageSeconds * 1000 - Date.now()));
      expect(copiesTo(person.email)).to.have.length(0);
      await smtp.start();
      const backAt = Date.now();
      // The schedule's promise: within min(time failing + first retry, longest wait), plus one round.
      const promised = Math.min(outageSeconds + retrySchedule.first, retrySchedule.longest) + outboxInterval / 1000;
      const [mail] = await within(promised + 5, async () => (copiesTo(person.email).length > 0 ? copiesTo(person.email) : undefined));
      outageFigure = `\n  SMTP down ${outageSeconds} s (retries ${retrySchedule.first} s doubling to ${retrySchedule.longest} s): the email arrived ${((mail!.acceptedAt - backAt) / 1000).toFixed(1)} s after the server came back (promised ≤ ${promised} s)`;
      const resumed = await browser.confirmLink(linkOf(mail!));
      const tokens = await signIn.tokens(resumed.location!);
      expect(tokens.access_token).to.be.a('string');
      await within(5, async () => ((await readiness()).body.checks.mail?.status === 'ok' ? true : undefined));
      expect(await metric(/^mbs_mail_server_up (\d+)/m)).to.equal(1);
      // Marked sent, nothing left to send: no second copy can come.
      await within(10, async () => ((await pendingEmails()) === 0 ? true : undefined));
      expect(copiesTo(person.email), 'exactly once').to.have.length(1);
    });
  });
}
