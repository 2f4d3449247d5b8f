// The benchmark leaves nothing running: stopped by SIGTERM or Ctrl-C
// (SIGINT) in the middle of a scenario, it ends the broker, the bare
// provider and the dev upstream it started (bench/children.ts) before it
// exits. It runs the real benchmark, `--quick` on SQLite, writing nothing.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

const benchmark = fileURLToPath(new URL('../../bench/run.ts', import.meta.url));

/** Whether `pid` still runs (a zombie, finished and waiting for its parent to read its status, does not). */
function alive(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  if (!existsSync(stat)) return false;
  try {
    return readFileSync(stat, 'utf8').split(') ')[1]![0] !== 'Z';
  } catch {
    return false;
  }
}

/** Starts the benchmark, waits until its first measurement runs, sends `signal`; resolves to its exit code and the pids it announced. */
function interruptedBenchmark(signal: NodeJS.Signals): Promise<{ code: number | null; pids: number[]; output: string }> {
  // A long round, so that the signal lands while autocannon drives the broker.
  const child = spawn(process.execPath, [benchmark, '--quick', '--no-write', '--only', 'client_credentials', '--duration', '600'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  let sent = false;
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    if (!sent && output.includes('benchmark: ')) {
      sent = true;
      // The warm-up's first second: the broker is under load.
      setTimeout(() => child.kill(signal), 500);
    }
  });
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      const pids = [...output.matchAll(/started .* \(pid (\d+)\)/g)].map((match) => Number(match[1]));
      resolve({ code, pids, output });
    }),
  );
}

describe('benchmark hygiene', function () {
  this.timeout(300_000);

  for (const [signal, status] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const) {
    it(`ends every child process it started when it gets ${signal}`, async () => {
      const { code, pids, output } = await interruptedBenchmark(signal);
      // The broker, the bare provider, the dev upstream and the CLI's `bindings add`.
      expect(pids, output).to.have.length.of.at.least(4);
      expect(output).to.include(`benchmark: ${signal}, stopping`);
      expect(code, output).to.equal(status);
      expect(pids.filter(alive), output).to.deep.equal([]);
    });
  }
});
