/**
 * The contract between a storage backend and the public shells. A backend implements one core per queue kind; the
 * sync shell and the Promise shell both drive that same core, so the twins differ only in how they wait (and, for
 * group commit, how they batch puts) — never in queue logic.
 *
 * @module
 */
import type { Retry, Signal } from './wait.js';

/** One put, encoded and validated, ready for the core. */
export interface PutEntry {
  /** The encoded item. */
  data: Buffer;
  /** Priority for `order: 'priority'` queues, else undefined. */
  priority: number | undefined;
}

/**
 * Storage core of one open queue instance. Every `try*` method is non-blocking: it does the work and returns the
 * result, or returns {@link Retry} when it must wait (empty queue for a get, full queue for a put, outstanding work for
 * a join). Cores throw only typed errors.
 *
 * @typeParam T - item type
 * @typeParam G - what `get()` returns (T, or an ack message)
 */
export interface QueueCore<T, G> {
  /** Wakes in-process waiters of this queue when any instance writes it. */
  readonly signal: Signal;
  /** Validates per-put options and the item; encodes it. Throws TypeError/RangeError/SerializationError. */
  preparePut(item: T, priority: unknown): PutEntry;
  /** One put in its own commit; the id, null when a unique queue dropped it, Retry when full. */
  tryPut(entry: PutEntry): number | null | Retry;
  /** All entries in one commit, or none (Retry when they do not all fit). */
  tryPutMany(entries: PutEntry[]): (number | null)[] | Retry;
  /**
   * Group commit: as many entries as fit, in order, in one commit; Retry for each entry that did not fit. May be
   * async (the Promise shell awaits it).
   */
  commitBatch(entries: PutEntry[]): (number | null | Retry)[] | Promise<(number | null | Retry)[]>;
  /** Takes the next item. */
  tryGet(): G | Retry;
  /** Takes 1..max items in one commit. */
  tryGetMany(max: number): G[] | Retry;
  /** The next item without taking it. */
  peek(): T | undefined;
  /** Marks one taken item finished; throws QueueError ERR_QUEUE_TASK_DONE if none is outstanding. */
  taskDone(): void;
  /** True when the queue is empty and every taken item (of every process) is done. */
  tryJoin(): true | Retry;
  /** Waiting items. */
  size(): number;
  /** Whether no item is waiting. */
  empty(): boolean;
  /** Whether `maxSize > 0` and `size() >= maxSize`. */
  full(): boolean;
  /** Whether `maxSize` can never admit this many items at once (a putMany larger than maxSize). */
  tooBig(count: number): boolean;
  /** Damaged items (or records) skipped so far by this instance because of the `skipCorrupt` option. */
  readonly corruptSkipped: number;
  /** Releases everything; idempotent. */
  close(): void;
  /**
   * For the Promise shell's `close()`: gives back the items this instance holds (autoCommit false, unacked
   * messages) before {@link QueueCore.close}, so that a lock conflict can be retried on timers. Once called, `close()`
   * does not try again. Optional: a core without it gives its items back in `close()`.
   */
  releaseHeld?(): void;
  /**
   * For the Promise shell: if `err` is a passing lock conflict that the shell should retry asynchronously, the total
   * milliseconds it may keep retrying; else undefined.
   */
  retryableFor?(err: unknown): number | undefined;
  /**
   * The caller is about to sleep before another attempt (waiting for items, room or `join()`): the core may arrange
   * to be woken sooner than the next poll by another process's change (the file queues' wake-up channel). Optional.
   */
  willWait?(): void;
}
