// Runs the real `mbs-broker` command in a child process (on this Node), the
// way an admin would, against the database of a test broker.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cliPath = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], environment: Record<string, string>, { timeoutMilliseconds = 30_000 } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cliPath, ...args],
      { env: { PATH: process.env.PATH ?? '', ...environment }, timeout: timeoutMilliseconds },
      (error, stdout, stderr) => {
        const exitCode = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ exitCode, stdout, stderr });
      },
    );
  });
}

/** Runs a command with --json and parses its output; throws with stderr when it fails. */
export async function runCliJson<Result>(args: string[], environment: Record<string, string>): Promise<Result> {
  const result = await runCli(['--json', ...args], environment);
  if (result.exitCode !== 0) throw new Error(`mbs-broker ${args.join(' ')} failed (${result.exitCode}): ${result.stderr}`);
  return JSON.parse(result.stdout) as Result;
}
