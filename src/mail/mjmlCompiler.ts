// MJML to HTML in a worker thread. mjml holds about 95 MB of resident memory
// once loaded and takes about 5 ms of CPU per email, so it runs beside the
// main thread, is started by the first email and ends after a while without
// one: an instance that is not sending mail does not carry it.
import { Worker } from 'node:worker_threads';

export interface CompiledMjml {
  html: string;
  /** mjml's validation errors, formatted; empty when the source is valid. */
  errors: string[];
}

interface WorkerReply {
  id: number;
  html?: string;
  errors?: string[];
  failure?: string;
}

interface PendingCompile {
  resolve(compiled: CompiledMjml): void;
  reject(error: Error): void;
}

const workerUrl = new URL('./mjmlWorker.ts', import.meta.url);

export class MjmlCompiler {
  readonly #idleMilliseconds: number;
  readonly #pending = new Map<number, PendingCompile>();
  #worker: Worker | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #nextId = 0;

  constructor(options: { idleMilliseconds?: number } = {}) {
    this.#idleMilliseconds = options.idleMilliseconds ?? 60_000;
  }

  compile(source: string): Promise<CompiledMjml> {
    clearTimeout(this.#idleTimer);
    const worker = this.#running();
    const id = (this.#nextId += 1);
    return new Promise<CompiledMjml>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      // Referenced while work is in hand, so a short-lived process waits for it.
      worker.ref();
      worker.postMessage({ id, source });
    });
  }

  /** Whether the worker (and with it mjml) is loaded now. */
  get running(): boolean {
    return this.#worker !== undefined;
  }

  /** Ends the worker now (shutdown); compiles in hand fail. */
  async close(): Promise<void> {
    clearTimeout(this.#idleTimer);
    const worker = this.#worker;
    this.#worker = undefined;
    await worker?.terminate();
  }

  #running(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(workerUrl);
    worker.on('message', (reply: WorkerReply) => this.#settle(reply));
    worker.on('error', (error) => this.#failAll(worker, error));
    worker.on('exit', () => this.#failAll(worker, new Error('the mjml worker stopped')));
    this.#worker = worker;
    return worker;
  }

  #settle(reply: WorkerReply): void {
    const pending = this.#pending.get(reply.id);
    this.#pending.delete(reply.id);
    if (reply.failure !== undefined) pending?.reject(new Error(reply.failure));
    else pending?.resolve({ html: reply.html ?? '', errors: reply.errors ?? [] });
    if (this.#pending.size === 0) this.#idle();
  }

  #idle(): void {
    this.#worker?.unref();
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => void this.close(), this.#idleMilliseconds);
    this.#idleTimer.unref();
  }

  #failAll(worker: Worker, error: Error): void {
    if (this.#worker === worker) this.#worker = undefined;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}
