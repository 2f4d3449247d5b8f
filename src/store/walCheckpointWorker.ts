// The worker thread that checkpoints the SQLite write-ahead log for
// nodeSqliteClient.ts: it copies committed pages from the log into the
// database file (and syncs it) on its own connection, every
// `intervalMilliseconds`, so that this work, two thirds of the cost of a
// commit when SQLite does it inside the commit, leaves the main thread.
// PASSIVE: it never waits for, nor blocks, the broker's reads and writes.
import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';

const { filename, intervalMilliseconds, busyTimeoutMilliseconds } = workerData as { filename: string; intervalMilliseconds: number; busyTimeoutMilliseconds: number };
const connection = new DatabaseSync(filename, { timeout: busyTimeoutMilliseconds });

const timer = setInterval(() => {
  try {
    connection.exec('PRAGMA wal_checkpoint(PASSIVE)');
  } catch {
    // Busy or locked this time: the next round tries again, and the main
    // connection's own automatic checkpoint stays as the backstop.
  }
}, intervalMilliseconds);

parentPort!.once('message', () => {
  clearInterval(timer);
  connection.close();
  parentPort!.close();
});
