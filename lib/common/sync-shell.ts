/**
 * {@link SyncQueueShell}: the methods of every synchronous queue class.
 *
 * @module
 */
import { QueueEmptyError, QueueFullError } from './errors.js';
import { ShellBase, type GetOptions, type JoinOptions, type PutManyOptions, type PutOptions } from './shell.js';
import { retrySync } from './retry.js';
import { waitSync } from './wait.js';

const emptyError = (): Error => new QueueEmptyError();
const fullError = (): Error => new QueueFullError();

/**
 * Methods shared by every synchronous queue class. Blocking calls sleep the thread (no spinning) and poll for other
 * processes' changes at most {@link MAX_POLL_MS} apart.
 */
export abstract class SyncQueueShell<T, G> extends ShellBase<T, G> {
  /**
   * Runs one core call; a passing lock conflict is retried (the thread sleeps between attempts) for as long as the
   * core allows, then the conflict's typed error is thrown.
   * @internal
   */
  protected run<R>(fn: () => R): R {
    return retrySync(fn, this.retryable);
  }

  /**
   * Adds an item. Blocks while the queue is full (`maxSize`), per `block`/`timeout`.
   * @returns the item's id, or null when a unique queue already holds an equal item
   * @throws {@link SerializationError} when the item cannot be encoded (nothing is written)
   * @throws {@link QueueFullError} when still full after the wait
   */
  put(item: T, options?: PutOptions): number | null {
    const { entry, wait } = this.preparePut(item, options);
    return waitSync(() => this.run(() => this.core.tryPut(entry)), { timeout: wait, onTimeout: fullError });
  }

  /**
   * Adds all items in one commit (one fsync), or none of them.
   * @returns one id (or null for a dropped duplicate) per item
   */
  putMany(items: readonly T[], options?: PutManyOptions): (number | null)[] {
    const { entries, wait } = this.preparePutMany(items, options);
    if (entries.length === 0) return [];
    return waitSync(() => this.run(() => this.core.tryPutMany(entries)), { timeout: wait, onTimeout: fullError });
  }

  /**
   * Takes the next item, waiting for one per `block`/`timeout`.
   * @throws {@link QueueEmptyError} when none came in time
   */
  get(options?: GetOptions): G {
    const wait = this.prepareGet(options);
    return waitSync(() => this.run(() => this.core.tryGet()), { timeout: wait, onTimeout: emptyError });
  }

  /** Takes 1 to `max` items in one commit, waiting for the first per `block`/`timeout`. */
  getMany(max: number, options?: GetOptions): G[] {
    const wait = this.prepareGetMany(max, options);
    return waitSync(() => this.run(() => this.core.tryGetMany(max)), { timeout: wait, onTimeout: emptyError });
  }

  /** The next item without taking it, or undefined when the queue is empty. */
  peek(): T | undefined {
    this.checkOpen();
    return this.run(() => this.core.peek());
  }

  /**
   * Marks one taken item as finished (for `join()`; with `autoCommit: false` it also makes the removal durable).
   * @throws {@link QueueError} `ERR_QUEUE_TASK_DONE` when called more times than items were taken
   */
  taskDone(): void {
    this.checkOpen();
    this.run(() => this.core.taskDone());
  }

  /**
   * Waits until the queue is empty and every taken item, in every process, is done.
   * @returns true when that happened, false when `timeout` ran out first
   */
  join(options?: JoinOptions): boolean {
    const timeout = this.prepareJoin(options);
    try {
      waitSync(() => this.run(() => this.core.tryJoin()), { timeout, onTimeout: emptyError });
      return true;
    } catch (err) {
      if (err instanceof QueueEmptyError) return false;
      throw err;
    }
  }

  /** Number of waiting items, counted across processes. */
  size(): number {
    this.checkOpen();
    return this.run(() => this.core.size());
  }

  /** Whether no item is waiting. */
  empty(): boolean {
    this.checkOpen();
    return this.run(() => this.core.empty());
  }

  /** Whether `maxSize > 0` and the queue holds `maxSize` items or more. */
  full(): boolean {
    this.checkOpen();
    return this.run(() => this.core.full());
  }

  /** Closes the queue. Idempotent; afterwards every call throws {@link QueueClosedError}. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.core.close();
  }

  /** Same as {@link SyncQueueShell.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
