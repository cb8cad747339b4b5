/**
 * The public shells shared by every backend: {@link SyncQueueShell} (blocking, sleeps the thread while it waits) and
 * {@link AsyncQueueShell} (Promises, sleeps on timers, group commit for puts). Both validate arguments the same way
 * and call the same {@link QueueCore}.
 *
 * @module
 */
import type { PutEntry, QueueCore } from './core.js';
import { argTypeError, describe, QueueClosedError, QueueEmptyError, QueueFullError, rangeError } from './errors.js';
import { GroupCommit } from './group-commit.js';
import { checkTimeout, checkValue, validateOptions, type OptionSchema } from './options.js';
import { AsyncWaits, RETRY, sleepSync, waitSync, type Retry } from './wait.js';

/** Options of `put()`. */
export interface PutOptions {
  /**
   * Wait while the queue is full (`maxSize`); false throws {@link QueueFullError} at once.
   * @default true
   */
  block?: boolean;
  /**
   * Milliseconds to wait for room before throwing {@link QueueFullError}; must be >= 0.
   * @default Infinity (wait as long as it takes)
   */
  timeout?: number;
  /**
   * Priority for `order: 'priority'` queues: an integer, lower first. Other queues reject it.
   * @default 0
   */
  priority?: number;
}

/** Options of `putMany()`: like {@link PutOptions}; the priority applies to every item. */
export type PutManyOptions = PutOptions;

/** Options of `get()` and `getMany()`. */
export interface GetOptions {
  /**
   * Wait for an item; false throws {@link QueueEmptyError} at once when the queue is empty.
   * @default true
   */
  block?: boolean;
  /**
   * Milliseconds to wait before throwing {@link QueueEmptyError}; must be >= 0.
   * @default Infinity (wait as long as it takes)
   */
  timeout?: number;
}

/** Options of `join()`. */
export interface JoinOptions {
  /**
   * Milliseconds to wait; `join()` then returns false.
   * @default Infinity
   */
  timeout?: number;
}

const PUT_SCHEMA: OptionSchema = {
  block: { kind: 'boolean' },
  timeout: { kind: 'custom', check: (v, l) => void checkTimeout(v, l) },
  priority: { kind: 'custom', check: () => undefined }, // checked by the core, which knows the queue's order
};
const GET_SCHEMA: OptionSchema = {
  block: { kind: 'boolean' },
  timeout: { kind: 'custom', check: (v, l) => void checkTimeout(v, l) },
};
const JOIN_SCHEMA: OptionSchema = { timeout: { kind: 'custom', check: (v, l) => void checkTimeout(v, l) } };
const MAX_RULE = { kind: 'integer', min: 1, max: 1_000_000 } as const;

function waitTime(opts: { block?: boolean; timeout?: number }): number {
  if (opts.block === false) return 0;
  return opts.timeout ?? Infinity;
}

const disposeSymbol: symbol = (Symbol as { dispose?: symbol }).dispose ?? Symbol.for('nodejs.dispose');
const asyncDisposeSymbol: symbol = (Symbol as { asyncDispose?: symbol }).asyncDispose ?? Symbol.for('nodejs.asyncDispose');

/** Argument checks and preparation shared by both shells. */
abstract class ShellBase<T, G> {
  /** @internal */
  protected readonly core: QueueCore<T, G>;
  /** @internal */
  protected closed = false;

  /** @internal */
  protected constructor(core: QueueCore<T, G>, private readonly className: string) {
    this.core = core;
  }

  /**
   * How many damaged items this instance skipped because the queue was opened with `skipCorrupt: true` (0 without
   * it: a damaged item is then a {@link QueueCorruptError}). Counted in memory, per instance.
   */
  get corruptSkipped(): number {
    return this.core.corruptSkipped;
  }

  /** @internal */
  protected checkOpen(): void {
    if (this.closed) throw new QueueClosedError(`${this.className} is closed`);
  }

  /** @internal */
  protected preparePut(item: T, options: PutOptions | undefined): { entry: PutEntry; wait: number } {
    this.checkOpen();
    const opts = validateOptions<PutOptions>(options, PUT_SCHEMA, `${this.className}.put()`);
    return { entry: this.core.preparePut(item, opts.priority), wait: waitTime(opts) };
  }

  /** @internal */
  protected preparePutMany(items: readonly T[], options: PutManyOptions | undefined): { entries: PutEntry[]; wait: number } {
    this.checkOpen();
    if (!Array.isArray(items)) throw argTypeError(`The "items" argument of ${this.className}.putMany() must be an array. ${describe(items)}`);
    const opts = validateOptions<PutManyOptions>(options, PUT_SCHEMA, `${this.className}.putMany()`);
    const entries = items.map((item) => this.core.preparePut(item, opts.priority));
    if (this.core.tooBig(entries.length)) {
      throw rangeError(`putMany() of ${entries.length} items can never fit: the queue's maxSize is smaller`);
    }
    return { entries, wait: waitTime(opts) };
  }

  /** @internal */
  protected prepareGet(options: GetOptions | undefined, method = 'get()'): number {
    this.checkOpen();
    return waitTime(validateOptions<GetOptions>(options, GET_SCHEMA, `${this.className}.${method}`));
  }

  /** @internal */
  protected prepareGetMany(max: unknown, options: GetOptions | undefined): number {
    this.checkOpen(); // after close() every call is QueueClosedError, whatever its arguments
    checkValue(max, MAX_RULE, 'max');
    return this.prepareGet(options, 'getMany()');
  }

  /** @internal */
  protected prepareJoin(options: JoinOptions | undefined): number {
    this.checkOpen();
    return validateOptions<JoinOptions>(options, JOIN_SCHEMA, `${this.className}.join()`).timeout ?? Infinity;
  }
}

const emptyError = (): Error => new QueueEmptyError();
const fullError = (): Error => new QueueFullError();

/**
 * Methods shared by every synchronous queue class. Blocking calls sleep the thread (no spinning) and poll for other
 * processes' changes at most {@link MAX_POLL_MS} apart.
 */
export abstract class SyncQueueShell<T, G> extends ShellBase<T, G> {
  /**
   * Adds an item. Blocks while the queue is full (`maxSize`), per `block`/`timeout`.
   * @returns the item's id, or null when a unique queue already holds an equal item
   * @throws {@link SerializationError} when the item cannot be encoded (nothing is written)
   * @throws {@link QueueFullError} when still full after the wait
   */
  put(item: T, options?: PutOptions): number | null {
    const { entry, wait } = this.preparePut(item, options);
    return waitSync(() => this.core.tryPut(entry), { timeout: wait, onTimeout: fullError });
  }

  /**
   * Adds all items in one commit (one fsync), or none of them.
   * @returns one id (or null for a dropped duplicate) per item
   */
  putMany(items: readonly T[], options?: PutManyOptions): (number | null)[] {
    const { entries, wait } = this.preparePutMany(items, options);
    if (entries.length === 0) return [];
    return waitSync(() => this.core.tryPutMany(entries), { timeout: wait, onTimeout: fullError });
  }

  /**
   * Takes the next item, waiting for one per `block`/`timeout`.
   * @throws {@link QueueEmptyError} when none came in time
   */
  get(options?: GetOptions): G {
    const wait = this.prepareGet(options);
    return waitSync(() => this.core.tryGet(), { timeout: wait, onTimeout: emptyError });
  }

  /** Takes 1 to `max` items in one commit, waiting for the first per `block`/`timeout`. */
  getMany(max: number, options?: GetOptions): G[] {
    const wait = this.prepareGetMany(max, options);
    return waitSync(() => this.core.tryGetMany(max), { timeout: wait, onTimeout: emptyError });
  }

  /** The next item without taking it, or undefined when the queue is empty. */
  peek(): T | undefined {
    this.checkOpen();
    return this.core.peek();
  }

  /**
   * Marks one taken item as finished (for `join()`; with `autoCommit: false` it also makes the removal durable).
   * @throws {@link QueueError} `ERR_QUEUE_TASK_DONE` when called more times than items were taken
   */
  taskDone(): void {
    this.checkOpen();
    this.core.taskDone();
  }

  /**
   * Waits until the queue is empty and every taken item, in every process, is done.
   * @returns true when that happened, false when `timeout` ran out first
   */
  join(options?: JoinOptions): boolean {
    const timeout = this.prepareJoin(options);
    try {
      waitSync(() => this.core.tryJoin(), { timeout, onTimeout: emptyError });
      return true;
    } catch (err) {
      if (err instanceof QueueEmptyError) return false;
      throw err;
    }
  }

  /** Number of waiting items, counted across processes. */
  size(): number {
    this.checkOpen();
    return this.core.size();
  }

  /** Whether no item is waiting. */
  empty(): boolean {
    this.checkOpen();
    return this.core.empty();
  }

  /** Whether `maxSize > 0` and the queue holds `maxSize` items or more. */
  full(): boolean {
    this.checkOpen();
    return this.core.full();
  }

  /** Closes the queue. Idempotent; afterwards every call throws {@link QueueClosedError}. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.core.close();
  }

  /** Same as {@link SyncQueueShell.close}, for `using`. */
  [disposeSymbol](): void {
    this.close();
  }
}

/**
 * Methods shared by every Promise queue class: the same as {@link SyncQueueShell}, returning Promises. Waiting is
 * on timers and in-process signals; concurrent puts share one commit (group commit); passing lock conflicts are
 * retried without blocking the event loop.
 */
export abstract class AsyncQueueShell<T, G> extends ShellBase<T, G> {
  /** @internal */
  protected readonly waits: AsyncWaits;
  private readonly group: GroupCommit<PutEntry, number | null>;

  /** @internal */
  protected constructor(core: QueueCore<T, G>, className: string, deferCommit: boolean) {
    super(core, className);
    this.waits = new AsyncWaits(core.signal);
    this.group = new GroupCommit((entries) => this.ioSyncFirst(() => this.core.commitBatch(entries)), deferCommit);
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
   * Retries `fn` after `err` while the core calls it a passing lock conflict (backoff 1..20 ms), else throws. After
   * close() only calls made `evenIfClosed` (close's own work) keep retrying.
   */
  private async retry<R>(fn: () => R | Promise<R>, err: unknown, evenIfClosed = false): Promise<R> {
    let deadline: number | undefined;
    let pause = 1;
    for (;;) {
      const allowed = this.core.retryableFor?.(err);
      if (allowed === undefined || (this.closed && !evenIfClosed)) throw err;
      deadline ??= performance.now() + allowed;
      if (performance.now() >= deadline) throw err;
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(pause * 2, 20);
      try {
        return await fn();
      } catch (e) {
        err = e;
      }
    }
  }

  /** Promise twin of {@link SyncQueueShell.put}; concurrent puts share one commit. */
  put(item: T, options?: PutOptions): Promise<number | null> {
    let prepared: { entry: PutEntry; wait: number };
    try {
      prepared = this.preparePut(item, options);
    } catch (err) {
      return Promise.reject(err); // as from an async function: bad input is a rejection, never a throw
    }
    const { entry, wait } = prepared;
    // The first attempt outside the waiting loop: a put that commits (the usual case) costs one Promise less.
    return this.group
      .submit(entry)
      .then((r) => (r !== RETRY ? r : this.waits.run(() => this.group.submit(entry), { timeout: wait, onTimeout: fullError }, { value: r })));
  }

  /** Promise twin of {@link SyncQueueShell.putMany}. */
  async putMany(items: readonly T[], options?: PutManyOptions): Promise<(number | null)[]> {
    const { entries, wait } = this.preparePutMany(items, options);
    if (entries.length === 0) return [];
    return this.waits.run(() => this.io(() => this.core.tryPutMany(entries)), { timeout: wait, onTimeout: fullError });
  }

  /** Promise twin of {@link SyncQueueShell.get}. */
  get(options?: GetOptions): Promise<G> {
    let wait: number;
    try {
      wait = this.prepareGet(options);
    } catch (err) {
      return Promise.reject(err); // as from an async function: bad input is a rejection, never a throw
    }
    // The first attempt runs now; only a get that must wait (or retry a lock conflict) enters the waiting loop.
    const attempt = (): G | Retry | Promise<G | Retry> => this.ioSyncFirst(() => this.core.tryGet());
    const first = attempt();
    if (first !== RETRY && !isThenable(first)) return Promise.resolve(first);
    return this.waits.run(attempt, { timeout: wait, onTimeout: emptyError }, { value: first });
  }

  /** Promise twin of {@link SyncQueueShell.getMany}. */
  async getMany(max: number, options?: GetOptions): Promise<G[]> {
    const wait = this.prepareGetMany(max, options);
    return this.waits.run(() => this.io(() => this.core.tryGetMany(max)), { timeout: wait, onTimeout: emptyError });
  }

  /** Promise twin of {@link SyncQueueShell.peek}. */
  async peek(): Promise<T | undefined> {
    this.checkOpen();
    return this.io(() => this.core.peek());
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
      await this.waits.run(() => this.io(() => this.core.tryJoin()), { timeout, onTimeout: emptyError });
      return true;
    } catch (err) {
      if (err instanceof QueueEmptyError) return false;
      throw err;
    }
  }

  /** Promise twin of {@link SyncQueueShell.size}. */
  async size(): Promise<number> {
    this.checkOpen();
    return this.io(() => this.core.size());
  }

  /** Promise twin of {@link SyncQueueShell.empty}. */
  async empty(): Promise<boolean> {
    this.checkOpen();
    return this.io(() => this.core.empty());
  }

  /** Promise twin of {@link SyncQueueShell.full}. */
  async full(): Promise<boolean> {
    this.checkOpen();
    return this.io(() => this.core.full());
  }

  /**
   * Closes the queue after the puts already accepted are committed. Pending `get()`/`put()`/`join()` waits reject
   * with {@link QueueClosedError}. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.group.drain();
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
  [asyncDisposeSymbol](): Promise<void> {
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

function isThenable<X>(v: X | Promise<X>): v is Promise<X> {
  return typeof (v as { then?: unknown })?.then === 'function';
}

export { RETRY, sleepSync };
export type { Retry };
