// The benchmark's child processes and their end. Each child (the broker, the
// bare provider, the dev upstream, nginx, a CLI run) starts in a process group
// of its own, so that ending it ends whatever it started too (nginx's
// workers, a node process's own children). Every group still alive is sent
// SIGTERM when the benchmark finishes, fails, or is stopped by Ctrl-C
// (SIGINT) or SIGTERM, and SIGKILL when it exits anyway: no child outlives it.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const clockTicks = 100; // Linux USER_HZ
const running = new Set<ChildProcess>();
let signalled: NodeJS.Signals | undefined;

/** Whether a signal is ending the benchmark: the errors of the scenario it cut short are its doing, and its handler sets the exit status. */
export const endingOnSignal = (): boolean => signalled !== undefined;

/** Starts `command` as the leader of a new process group and keeps it for `stopChildren`. */
export function spawnChild(what: string, command: string, args: string[], options: SpawnOptions): ChildProcess {
  const child = spawn(command, args, { ...options, detached: true });
  running.add(child);
  child.once('exit', () => running.delete(child));
  // Announced so that a caller (test/bench/hygiene.test.ts) can check that it is gone afterwards.
  process.stderr.write(`  started ${what} (pid ${child.pid})\n`);
  return child;
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // The group is gone already.
  }
}

/** SIGTERM to every child's group; SIGKILL to those still there after `graceMilliseconds`. */
export async function stopChildren(graceMilliseconds = 5000): Promise<void> {
  const children = [...running];
  const exited = children.map((child) => new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(undefined) : child.once('exit', resolve))));
  for (const child of children) signalGroup(child, 'SIGTERM');
  const timer = setTimeout(() => children.forEach((child) => signalGroup(child, 'SIGKILL')), graceMilliseconds);
  await Promise.all(exited);
  clearTimeout(timer);
  // A group's other members (nginx's workers) may outlive its leader by a moment.
  for (const child of children) signalGroup(child, 'SIGKILL');
}

/**
 * Ends the children however the benchmark ends: a signal stops them and exits
 * with the signal's status; `exit` (a thrown error included, once the caller
 * lets the process exit) kills whatever is left, synchronously.
 */
export function endChildrenOnExit(cleanUp: () => Promise<void> = async () => {}): void {
  const onSignal = (signal: NodeJS.Signals, status: number) => {
    process.stderr.write(`\nbenchmark: ${signal}, stopping ${running.size} child processes\n`);
    if (signalled) return;
    signalled = signal;
    void stopChildren()
      .then(cleanUp)
      .catch(() => undefined)
      .finally(() => process.exit(status));
  };
  process.once('SIGINT', () => onSignal('SIGINT', 130));
  process.once('SIGTERM', () => onSignal('SIGTERM', 143));
  process.once('exit', () => running.forEach((child) => signalGroup(child, 'SIGKILL')));
}

/** User and system CPU seconds of one process, from /proc. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

/**
 * CPU seconds so far of each live process whose command line matches
 * `match.commandLine` (PostgreSQL's processes for one database) or that is in
 * process group `match.group` (nginx's master and workers), by pid: a
 * measurement subtracts per process, so that one that ends meanwhile (another
 * job's database connection) does not count against it.
 */
export function processCpuSeconds(match: { commandLine?: RegExp; group?: number }): Map<number, number> {
  const seconds = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
      const inGroup = match.group !== undefined && Number(fields[2]) === match.group;
      if (inGroup || (match.commandLine && match.commandLine.test(readFileSync(`/proc/${entry}/cmdline`, 'utf8')))) seconds.set(Number(entry), (Number(fields[11]) + Number(fields[12])) / clockTicks);
    } catch {
      // The process ended while we read.
    }
  }
  return seconds;
}

/** The CPU seconds the processes of `after` spent since `before`, each counted from zero if it started in between. */
export const cpuSecondsBetween = (before: Map<number, number>, after: Map<number, number>): number => [...after].reduce((total, [pid, seconds]) => total + seconds - (before.get(pid) ?? 0), 0);
