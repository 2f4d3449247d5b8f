// Profile imports that run as a job in the broker process, for files too
// large to answer within one request: the console starts one per admin and
// the admin watches its progress page. The jobs' state is kept in memory,
// not in the database: it is only a progress display (the rows themselves
// are committed chunk by chunk by DirectoryAdministration, and the audit log
// records the start and the end with the counts), so a restart loses the
// display but no imported row, and the running import is not resumed —
// applying the same file again finishes it (unchanged rows stay unchanged).
import { randomUUID } from 'node:crypto';
import { BrokerError } from '../errors.ts';
import type { Clock } from '../clock.ts';
import type { RejectedProfileRow } from '../directory/profileImport.ts';
import type { DirectoryAdministration, ProfileImportReport } from './directoryAdministration.ts';

/** At least this many profile rows and the console imports as a job (fewer answer at once). */
export const importJobRows = 2000;

export type ImportJobStatus = 'running' | 'done' | 'failed';

/** An import job as its progress page reads it. */
export interface ImportJob {
  id: string;
  fileName: string;
  status: ImportJobStatus;
  /** Valid rows committed so far, of `total`. */
  processed: number;
  total: number;
  created: number;
  updated: number;
  unchanged: number;
  rejected: readonly RejectedProfileRow[];
  startedAt: number;
  finishedAt: number | undefined;
}

/** The import jobs of one broker process, one per admin (the newest, running or finished). */
export class ProfileImportJobs {
  readonly #jobs = new Map<string, ImportJob>();
  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** The admin's newest job, if this process ran one for them. */
  current(owner: string): ImportJob | undefined {
    const job = this.#jobs.get(owner);
    return job ? { ...job } : undefined;
  }

  /**
   * Starts importing the file through `directory` (acting as the admin, so
   * its audit events carry them) and returns at once; refused while the
   * admin's previous job still runs.
   */
  start(owner: string, directory: DirectoryAdministration, fileName: string, content: string, actor: string): ImportJob {
    if (this.#jobs.get(owner)?.status === 'running') throw new BrokerError('conflict', 'error.console.import_running', { detail: `admin ${owner} already has an import running` });
    const job: ImportJob = { id: randomUUID(), fileName, status: 'running', processed: 0, total: 0, created: 0, updated: 0, unchanged: 0, rejected: [], startedAt: this.#clock.now(), finishedAt: undefined };
    this.#jobs.set(owner, job);
    const take = (processed: number, total: number, report: ProfileImportReport): void => {
      Object.assign(job, { processed, total, created: report.created, updated: report.updated, unchanged: report.unchanged, rejected: report.rejected });
    };
    directory.importProfiles(fileName, content, actor, ({ processed, total, report }) => take(processed, total, report)).then(
      (report) => {
        take(job.total, job.total, report);
        Object.assign(job, { status: 'done', finishedAt: this.#clock.now() });
      },
      // The failure is audited by the import with its counts; the page says it failed.
      () => Object.assign(job, { status: 'failed', finishedAt: this.#clock.now() }),
    );
    return { ...job };
  }
}
