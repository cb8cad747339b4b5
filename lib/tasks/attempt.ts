/**
 * One running attempt of a job inside a {@link Worker}: calls the handler (on the event loop or in the thread pool),
 * enforces the attempt timeout, and turns what the handler did into an {@link Outcome}.
 *
 * @module
 * @internal
 */
import type { Piscina } from 'piscina';
import { backoffDelay } from './options.js';
import { errorJson, type TaskCore } from './core.js';
import { TaskTimeoutError } from './errors.js';
import type { ResolvedHandler } from './handlers.js';
import type { JobRow, Outcome } from './store.js';
import type { TaskContext } from './types.js';

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

  /** Aborts the handler's signal (cancel, stop, timeout, lost claim). */
  abort(reason: unknown): void {
    this.ac ??= new AbortController();
    if (!this.ac.signal.aborted) this.ac.abort(reason);
  }

  /** Starts the handler. */
  run(pool: Piscina | undefined): void {
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
        value = pool!.run(data, { name: row.task, signal: this.signal });
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
