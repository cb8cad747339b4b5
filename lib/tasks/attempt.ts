/**
 * One running attempt of a job inside a {@link Worker}: calls the handler (on the event loop or in the thread pool),
 * enforces the attempt timeout, and turns what the handler did into an {@link Outcome}.
 *
 * @module
 * @internal
 */
import { join } from 'node:path';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { backoffDelay } from './options.js';
import { errorJson, type TaskCore } from './core.js';
import { TaskTimeoutError } from './errors.js';
import type { ResolvedHandler } from './handlers.js';
import type { JobRow, Outcome } from './store.js';
import type { FromThread, ThreadJob, ThreadOutcome, ToThread } from './thread-entry.js';
import type { TaskContext } from './types.js';

/** The module each pool thread loads (it calls the user's export with `(data, ctx)`). */
export const THREAD_ENTRY = join(__dirname, 'thread-entry.js');
/** How long a thread handler has to end by itself after its signal was aborted before its thread is terminated. */
export const THREAD_ABORT_GRACE_MS = 1000;

/** A worker's thread pool and the module whose exports it runs. */
export interface Threads {
  pool: Piscina;
  module: string;
}

/** What a finished attempt hands back to the worker. */
export interface Finished {
  attempt: Attempt;
  outcome: Outcome;
  value?: unknown;
  error?: unknown;
  delay?: number;
}

/** A running attempt. */
export class Attempt {
  /** Set once the attempt has an outcome (or was dropped: lost claim, given back). */
  done = false;
  private ac: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The job's port while it runs in a pool thread. */
  private port: MessagePort | undefined;
  /** Terminates the pool thread (piscina's signal), after the grace period that follows an abort. */
  private hard: AbortController | undefined;

  constructor(
    readonly row: JobRow,
    private readonly spec: ResolvedHandler,
    private readonly core: TaskCore,
    private readonly owner: string,
    private readonly onDone: (f: Finished) => void,
    private readonly onProgress: (a: Attempt, bytes: Buffer) => Promise<void>,
  ) {}

  get id(): number {
    return this.row.id;
  }

  get signal(): AbortSignal {
    this.ac ??= new AbortController();
    return this.ac.signal;
  }

  /** Whether the handler's signal was aborted. */
  get aborted(): boolean {
    return this.ac?.signal.aborted ?? false;
  }

  /** Aborts the handler's signal (cancel, stop, timeout, lost claim). */
  abort(reason: unknown): void {
    this.ac ??= new AbortController();
    if (this.ac.signal.aborted) return;
    this.ac.abort(reason);
    const port = this.port;
    if (port) {
      const e = reason as { name?: unknown; message?: unknown; code?: unknown } | null;
      const abort = { name: String(e?.name ?? 'AbortError'), message: String(e?.message ?? reason), ...(typeof e?.code === 'string' ? { code: e.code } : {}) };
      port.postMessage({ abort } satisfies ToThread);
      const hard = this.hard!;
      setTimeout(() => this.port === port && hard.abort(reason), THREAD_ABORT_GRACE_MS).unref();
    }
  }

  /** Starts the handler. */
  run(threads: Threads | undefined): void {
    const row = this.row;
    const timeout = row.timeout ?? this.spec.timeout;
    if (timeout > 0) {
      this.timer = setTimeout(() => {
        const err = new TaskTimeoutError(`attempt ${row.attempts} of task ${row.task} #${row.id} timed out after ${timeout} ms`);
        this.abort(err);
        this.fail(err);
      }, timeout);
      this.timer.unref();
    }
    let value: unknown;
    try {
      const data = this.core.codec.decode(row.data);
      if (this.spec.handler) {
        const self = this;
        const ctx: TaskContext = {
          id: row.id,
          task: row.task,
          attempt: row.attempts,
          get signal() {
            return self.signal;
          },
          progress: (v: unknown) => this.progress(v),
        };
        value = this.spec.handler(data, ctx);
      } else {
        value = this.runInThread(threads!, data);
      }
    } catch (err) {
      this.fail(err);
      return;
    }
    if (value !== null && typeof (value as { then?: unknown })?.then === 'function') {
      (value as Promise<unknown>).then(
        (v) => this.succeed(v),
        (e: unknown) => this.fail(e),
      );
    } else this.succeed(value);
  }

  /** Runs the job in a pool thread with a ctx that crosses the boundary (see lib/tasks/thread-entry.ts). */
  private runInThread(threads: Threads, data: unknown): Promise<unknown> {
    const row = this.row;
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.hard = new AbortController();
    port1.on('message', (m: FromThread) => {
      this.progress(m.value).then(
        () => port1.postMessage({ ack: m.progress } satisfies ToThread),
        (err: unknown) => port1.postMessage({ ack: m.progress, error: err instanceof Error ? err.message : String(err) } satisfies ToThread),
      );
    });
    port1.unref();
    const job: ThreadJob = { module: threads.module, name: row.task, data, id: row.id, task: row.task, attempt: row.attempts, port: port2 };
    const done = (): void => {
      this.port = undefined;
      port1.close();
    };
    const p = threads.pool.run(job, { name: 'runTask', transferList: [port2], signal: this.hard.signal }) as Promise<ThreadOutcome>;
    p.then(done, done);
    return p.then((o) => {
      if ('value' in o) return o.value;
      if ('thrown' in o) throw o.thrown;
      const e = new Error(o.error.message) as Error & { code?: string };
      e.name = o.error.name;
      if (o.error.stack !== undefined) e.stack = o.error.stack;
      if (o.error.code !== undefined) e.code = o.error.code;
      throw e;
    });
  }

  private progress(v: unknown): Promise<void> {
    if (this.done) return Promise.resolve();
    let bytes: Buffer;
    try {
      bytes = this.core.codec.encode(v === undefined ? null : v);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.onProgress(this, bytes);
  }

  private settle(f: Omit<Finished, 'attempt'>): void {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.onDone({ attempt: this, ...f });
  }

  private succeed(value: unknown): void {
    if (this.done) return;
    let result: Buffer | null;
    try {
      result = this.core.encodeValue(value);
    } catch (err) {
      this.fail(err);
      return;
    }
    const r = this.row;
    this.settle({ outcome: { kind: 'succeeded', id: r.id, attempt: r.attempts, owner: this.owner, result, now: Date.now() }, value });
  }

  private fail(error: unknown): void {
    if (this.done) return;
    const r = this.row;
    const now = Date.now();
    const text = errorJson(error);
    const max = r.max_attempts ?? this.spec.maxAttempts;
    if (r.attempts < max) {
      const backoff = r.backoff === null ? this.spec.backoff : JSON.parse(r.backoff);
      const delay = backoffDelay(backoff, r.attempts);
      this.settle({ outcome: { kind: 'retry', id: r.id, attempt: r.attempts, owner: this.owner, error: text, now, runAt: now + delay }, error, delay });
    } else {
      this.settle({ outcome: { kind: 'failed', id: r.id, attempt: r.attempts, owner: this.owner, error: text, now }, error });
    }
  }

  /** Gives the job back without charging the attempt (a stopping worker). */
  release(): Finished | undefined {
    if (this.done) return undefined;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    const r = this.row;
    return { attempt: this, outcome: { kind: 'release', id: r.id, attempt: r.attempts, owner: this.owner, now: Date.now() } };
  }

  /** Drops the attempt without an outcome (its claim was lost). */
  drop(): void {
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
