import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { type FromWorker, type SerializedError, serializeError, type WorkerInit } from './worker-protocol.ts';

/**
 * One warm "container" of a function: a worker thread with its own process.env and module state. It starts
 * on the first invocation (a cold start), stays warm between invocations, and is thrown away when an
 * invocation times out or the thread dies, as Lambda replaces a container in those cases.
 */

export type InvokeOutcome =
  | { kind: 'ok'; value: unknown }
  /** The handler threw or rejected. */
  | { kind: 'error'; error: SerializedError }
  | { kind: 'timeout' }
  /** The thread died during the invocation (uncaught exception, out of memory). */
  | { kind: 'crash'; error: SerializedError }
  /** The handler module could not be loaded. */
  | { kind: 'init-error'; error: SerializedError };

/** Receives each line a function writes, as Lambda would put it in the function's log stream. */
export type OutputListener = (stream: 'stdout' | 'stderr', line: string) => void;

/**
 * Where the function's own stdout and stderr go: 'inherit' as the parent's, 'stderr' both to the parent's
 * stderr (a --json run keeps stdout for its one document), 'ignore' dropped (tests, quiet runs), or a
 * listener that gets it line by line.
 */
export type FunctionOutput = 'inherit' | 'stderr' | 'ignore' | OutputListener;

export interface ContainerOptions {
  /** The worker runtime's module (bundles.ts workerBundle): plain JavaScript, no loader needed. */
  workerModule: string;
  init: WorkerInit;
  env: Record<string, string>;
  output: FunctionOutput;
  initTimeoutMs: number;
}

/** What a Lambda process has besides the function's own variables (tools and temp files need these). */
const INHERITED_ENV = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ'];

type Started = { ok: true } | { ok: false; error: SerializedError };

export class FunctionContainer {
  private worker: Worker | undefined;
  private ready: Promise<Started> | undefined;
  private pending: { worker: Worker; requestId: string; settle: (o: InvokeOutcome) => void } | undefined;
  private invoking = false;
  private readonly initSpans: Array<[number, number]> = [];

  constructor(private readonly options: ContainerOptions) {}

  get warm(): boolean {
    return this.worker !== undefined;
  }

  /** An invocation is running: like a Lambda execution environment, the container takes one at a time. */
  get busy(): boolean {
    return this.invoking;
  }

  /** Each cold start so far, thread start to bundle loaded (performance.now() times), for the fixed cost. */
  get inits(): ReadonlyArray<readonly [number, number]> {
    return this.initSpans;
  }

  async invoke(requestId: string, event: unknown, timeoutMs: number): Promise<InvokeOutcome> {
    if (this.invoking) throw new Error(`${this.options.init.functionName}: the container is busy`);
    this.invoking = true;
    try {
      return await this.run(requestId, event, timeoutMs);
    } finally {
      this.invoking = false;
    }
  }

  private async run(requestId: string, event: unknown, timeoutMs: number): Promise<InvokeOutcome> {
    const started = await this.start();
    const worker = this.worker;
    if (!started.ok) return { kind: 'init-error', error: started.error };
    if (!worker)
      return {
        kind: 'crash',
        error: { name: 'WorkerExit', message: 'the worker ended before the invocation' },
      };
    return new Promise<InvokeOutcome>((resolve) => {
      const timer = setTimeout(() => {
        this.pending = undefined;
        void this.stop();
        resolve({ kind: 'timeout' });
      }, timeoutMs);
      this.pending = {
        worker,
        requestId,
        settle: (outcome) => {
          clearTimeout(timer);
          this.pending = undefined;
          resolve(outcome);
        },
      };
      worker.postMessage({ type: 'invoke', requestId, event, timeoutMs });
    });
  }

  /** Ends the thread; a pending invocation settles as a crash. */
  async stop(): Promise<void> {
    const worker = this.worker;
    this.forget(worker);
    if (!worker) return;
    this.settleFor(worker, {
      kind: 'crash',
      error: { name: 'Stopped', message: 'the function was stopped' },
    });
    await worker.terminate();
  }

  private settleFor(worker: Worker, outcome: InvokeOutcome): void {
    if (this.pending?.worker === worker) this.pending.settle(outcome);
  }

  private forget(worker: Worker | undefined): void {
    if (worker && this.worker === worker) {
      this.worker = undefined;
      this.ready = undefined;
    }
  }

  private start(): Promise<Started> {
    if (this.ready) return this.ready;
    const { init, output, initTimeoutMs } = this.options;
    const env: Record<string, string> = {};
    for (const name of INHERITED_ENV) {
      const v = process.env[name];
      if (v !== undefined) env[name] = v;
    }
    Object.assign(env, this.options.env);
    const worker = new Worker(pathToFileURL(this.options.workerModule), {
      name: init.functionName,
      workerData: init,
      env,
      // Per-process flags (the parent's --openssl-legacy-provider) are refused in a worker; none are needed.
      execArgv: [],
      stdout: output !== 'inherit',
      stderr: output !== 'inherit',
      // A loose Lambda-like memory bound: the JS heap may not outgrow the function's memory setting.
      resourceLimits: { maxOldGenerationSizeMb: init.memoryMb },
    });
    if (output === 'ignore') {
      worker.stdout.resume();
      worker.stderr.resume();
    } else if (typeof output === 'function') {
      for (const stream of ['stdout', 'stderr'] as const) {
        createInterface({ input: worker[stream], crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) =>
          output(stream, line),
        );
      }
    } else if (output === 'stderr') {
      // Written, not piped: every pipe adds its listeners to process.stderr, and a stack's dozen worker
      // streams set off Node's MaxListenersExceededWarning on the user's terminal. (stderr is synchronous
      // for files and pipes, so there is no backpressure to keep.)
      for (const stream of [worker.stdout, worker.stderr])
        stream.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    }
    this.worker = worker;
    const initStarted = performance.now();
    this.ready = new Promise<Started>((resolve) => {
      const timer = setTimeout(() => {
        resolve({
          ok: false,
          error: { name: 'InitTimeout', message: `handler module did not load within ${initTimeoutMs} ms` },
        });
        this.forget(worker);
        void worker.terminate();
      }, initTimeoutMs);
      worker.on('message', (msg: FromWorker) => {
        if (msg.type === 'ready') {
          clearTimeout(timer);
          this.initSpans.push([initStarted, performance.now()]);
          resolve({ ok: true });
        } else if (msg.type === 'init-error') {
          clearTimeout(timer);
          resolve({ ok: false, error: msg.error });
          this.forget(worker);
        } else if (
          msg.type === 'result' &&
          this.pending?.worker === worker &&
          this.pending.requestId === msg.requestId
        ) {
          this.pending.settle(
            msg.ok ? { kind: 'ok', value: msg.value } : { kind: 'error', error: msg.error },
          );
        }
      });
      worker.on('error', (err) => {
        clearTimeout(timer);
        resolve({ ok: false, error: serializeError(err) });
        this.settleFor(worker, { kind: 'crash', error: serializeError(err) });
        this.forget(worker);
      });
      worker.on('exit', (code) => {
        clearTimeout(timer);
        const error = { name: 'WorkerExit', message: `the function's worker exited with code ${code}` };
        resolve({ ok: false, error });
        this.settleFor(worker, { kind: 'crash', error });
        this.forget(worker);
      });
    });
    return this.ready;
  }
}
