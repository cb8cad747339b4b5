/**
 * {@link AsyncQueueShell}: the methods of every Promise queue class.
 *
 * @module
 */
import type { PutEntry, QueueCore } from './core.js';
import { QueueClosedError, QueueEmptyError } from './errors.js';
import { isThenable, PutLine } from './put-line.js';
import { retryAsync } from './retry.js';
import { ShellBase, type GetOptions, type JoinOptions, type PutManyOptions, type PutOptions } from './shell.js';
import { AsyncWaits, RETRY, type Retry } from './wait.js';

const emptyError = (): Error => new QueueEmptyError();

/**
 * Methods shared by every Promise queue class: the same as {@link SyncQueueShell}, returning Promises. Waiting is
 * on timers and in-process signals; concurrent puts share one commit (group commit); passing lock conflicts are
 * retried without blocking the event loop.
 */
export abstract class AsyncQueueShell<T, G> extends ShellBase<T, G> {
  /** @internal */
  protected readonly waits: AsyncWaits;
  private readonly line: PutLine;

  /** @internal */
  protected constructor(core: QueueCore<T, G>, className: string, deferCommit: boolean) {
    super(core, className);
    this.waits = new AsyncWaits(core.signal);
    this.line = new PutLine(
      {
        batch: (entries) => this.ioSyncFirst(() => this.core.commitBatch(entries)),
        many: (entries) => this.ioSyncFirst(() => this.core.tryPutMany(entries)),
        willWait: this.willWait,
      },
      core.signal,
      deferCommit,
    );
  }

  /**
   * Runs one core call; a passing lock conflict is retried asynchronously (with backoff) for as long as the core
   * allows, then the conflict's typed error is thrown.
   * @internal
   */
  protected async io<R>(fn: () => R | Promise<R>, evenIfClosed = false): Promise<R> {
    try {
      return await fn();
    } catch (err) {
      return this.retry(fn, err, evenIfClosed);
    }
  }

  /**
   * Runs one core call now, after checking that the queue is open, and hands its result back as a settled Promise
   * when the core answered synchronously (no async function, no extra ticks: the hot path of `get()` and `ack()`).
   * A closed queue or a thrown error is a rejection; a passing lock conflict is retried as in
   * {@link AsyncQueueShell.io}.
   * @internal
   */
  protected call<R>(fn: () => R | Promise<R>): Promise<R> {
    try {
      this.checkOpen();
    } catch (err) {
      return Promise.reject(err);
    }
    const r = this.ioSyncFirst(fn);
    return isThenable(r) ? r : Promise.resolve(r);
  }

  /**
   * Like {@link AsyncQueueShell.io}, but a result the core produces synchronously comes back as it is (no Promise,
   * no tick): the group commit's hot path. A passing lock conflict is retried the same way, asynchronously.
   * @internal
   */
  protected ioSyncFirst<R>(fn: () => R | Promise<R>): R | Promise<R> {
    let r: R | Promise<R>;
    try {
      r = fn();
    } catch (err) {
      return this.retry(fn, err);
    }
    if (isThenable(r)) return r.then(undefined, (err: unknown) => this.retry(fn, err));
    return r;
  }

  /**
   * Retries `fn` after `err` while the core calls it a passing lock conflict (see {@link retryAsync}; a pause ends
   * early when the core's signal is notified), else throws. After close() only calls made `evenIfClosed` (close's own
   * work) keep retrying.
   */
  private retry<R>(fn: () => R | Promise<R>, err: unknown, evenIfClosed = false): Promise<R> {
    const stop = (): boolean => this.closed && !evenIfClosed;
    return retryAsync(fn, this.retryable, { failed: { err }, stop, signal: this.core.signal });
  }

  /**
   * Runs `fn` once the puts called before it have committed (or wait for room): calls of one caller take effect in
   * call order. No cost when no put is pending.
   */
  private afterPuts<R>(fn: () => Promise<R>): Promise<R> {
    const s = this.line.settled();
    return s === undefined ? fn() : s.then(fn);
  }

  /**
   * Promise twin of {@link SyncQueueShell.put}. Concurrent puts share one commit; every put and putMany commits in
   * call order.
   */
  put(item: T, options?: PutOptions): Promise<number | null> {
    let prepared: { entry: PutEntry; wait: number };
    try {
      prepared = this.preparePut(item, options);
    } catch (err) {
      return Promise.reject(err); // as from an async function: bad input is a rejection, never a throw
    }
    return this.line.put(prepared.entry, prepared.wait);
  }

  /** Promise twin of {@link SyncQueueShell.putMany}: one commit, after the puts called before it and before later ones. */
  async putMany(items: readonly T[], options?: PutManyOptions): Promise<(number | null)[]> {
    const { entries, wait } = this.preparePutMany(items, options);
    if (entries.length === 0) return [];
    return this.line.putMany(entries, wait);
  }

  /** Promise twin of {@link SyncQueueShell.get}; sees the puts called before it. */
  get(options?: GetOptions): Promise<G> {
    let wait: number;
    try {
      wait = this.prepareGet(options);
    } catch (err) {
      return Promise.reject(err); // as from an async function: bad input is a rejection, never a throw
    }
    const s = this.line.settled();
    if (s !== undefined) return s.then(() => this.getNow(wait));
    return this.getNow(wait);
  }

  private getNow(wait: number): Promise<G> {
    // The first attempt runs now; only a get that must wait (or retry a lock conflict) enters the waiting loop.
    const attempt = (): G | Retry | Promise<G | Retry> => this.ioSyncFirst(() => this.core.tryGet());
    const first = attempt();
    if (first !== RETRY && !isThenable(first)) return Promise.resolve(first);
    return this.waits.run(attempt, { timeout: wait, onTimeout: emptyError, willSleep: this.willWait }, { value: first });
  }

  /** Promise twin of {@link SyncQueueShell.getMany}. */
  async getMany(max: number, options?: GetOptions): Promise<G[]> {
    const wait = this.prepareGetMany(max, options);
    return this.afterPuts(() => this.waits.run(() => this.io(() => this.core.tryGetMany(max)), { timeout: wait, onTimeout: emptyError, willSleep: this.willWait }));
  }

  /** Promise twin of {@link SyncQueueShell.peek}. */
  async peek(): Promise<T | undefined> {
    this.checkOpen();
    return this.afterPuts(() => this.io(() => this.core.peek()));
  }

  /** Promise twin of {@link SyncQueueShell.taskDone}. */
  async taskDone(): Promise<void> {
    this.checkOpen();
    return this.io(() => this.core.taskDone());
  }

  /** Promise twin of {@link SyncQueueShell.join}. */
  async join(options?: JoinOptions): Promise<boolean> {
    const timeout = this.prepareJoin(options);
    try {
      await this.afterPuts(() => this.waits.run(() => this.io(() => this.core.tryJoin()), { timeout, onTimeout: emptyError, willSleep: this.willWait }));
      return true;
    } catch (err) {
      if (err instanceof QueueEmptyError) return false;
      throw err;
    }
  }

  /** Promise twin of {@link SyncQueueShell.size}. */
  async size(): Promise<number> {
    this.checkOpen();
    return this.afterPuts(() => this.io(() => this.core.size()));
  }

  /** Promise twin of {@link SyncQueueShell.empty}. */
  async empty(): Promise<boolean> {
    this.checkOpen();
    return this.afterPuts(() => this.io(() => this.core.empty()));
  }

  /** Promise twin of {@link SyncQueueShell.full}. */
  async full(): Promise<boolean> {
    this.checkOpen();
    return this.afterPuts(() => this.io(() => this.core.full()));
  }

  /**
   * Closes the queue after the puts already accepted are committed. Pending `get()`/`put()`/`join()` waits reject
   * with {@link QueueClosedError}. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.line.close();
    } finally {
      this.waits.closeAll(new QueueClosedError());
      try {
        // Give back held items with lock conflicts retried on timers, not inside SQLite (which would block the loop).
        if (this.core.releaseHeld) await this.io(() => this.core.releaseHeld!(), true);
      } catch {
        // Best effort, as in the sync class: what stays held returns to the queue when this process is gone.
      }
      this.core.close();
    }
  }

  /** Same as {@link AsyncQueueShell.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Yields items as `get()` returns them, until the queue is closed. */
  async *[Symbol.asyncIterator](): AsyncIterator<G> {
    for (;;) {
      if (this.closed) return;
      try {
        yield await this.get();
      } catch (err) {
        if (err instanceof QueueClosedError) return;
        throw err;
      }
    }
  }
}
