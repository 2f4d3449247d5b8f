// nginx for the benchmark's two-instance mode (`--instances 2`): the
// project's config/nginx.example.conf with only addresses, ports and paths
// replaced (test/support/cluster.ts writes it), in a process group of the
// benchmark's (bench/children.ts), and pointed at one instance or at both
// by a reload, so that the same origin (the brokers' issuer) serves both
// measurements.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nginxArguments, nginxBinary, nginxConfiguration, type NginxSetup } from '../test/support/cluster.ts';
import { processCpuSeconds, spawnChild } from './children.ts';

export interface BenchNginx {
  origin: string;
  /** Points nginx at the instances at `addresses` (`127.0.0.1:<port>`) and waits until it answers through them. */
  pointAt(addresses: string[]): Promise<void>;
  /** CPU seconds so far of nginx's master and workers, by pid. */
  cpuSeconds(): Map<number, number>;
}

async function answers(origin: string): Promise<boolean> {
  return fetch(`${origin}/healthz`).then((response) => response.ok).catch(() => false);
}

export async function startBenchNginx(setup: NginxSetup, addresses: string[]): Promise<BenchNginx> {
  if (!nginxBinary) throw new Error('--instances needs nginx (apt-get install nginx)');
  const configPath = join(setup.directory, 'nginx.conf');
  const origin = `https://127.0.0.1:${setup.port}`;
  writeFileSync(configPath, await nginxConfiguration(setup, addresses));
  const child = spawnChild('nginx', nginxBinary, nginxArguments(setup, configPath), { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let attempt = 0; !(await answers(origin)); attempt += 1) {
    if (child.exitCode !== null || attempt > 100) throw new Error(`nginx did not answer on ${origin} (see ${join(setup.directory, 'error.log')})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    origin,
    async pointAt(next) {
      writeFileSync(configPath, await nginxConfiguration(setup, next));
      process.kill(child.pid!, 'SIGHUP');
      // The old workers finish and leave; new ones read the new list.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      if (!(await answers(origin))) throw new Error('nginx does not answer after its reload');
    },
    cpuSeconds: () => processCpuSeconds({ group: child.pid! }),
  };
}
