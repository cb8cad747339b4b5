/**
 * What the public shells share (sync-shell.ts: {@link SyncQueueShell}, blocking, sleeps the thread while it waits;
 * async-shell.ts: {@link AsyncQueueShell}, Promises, sleeps on timers, one write line for puts): the call options and
 * their checks, done the same way for both before they call the same {@link QueueCore}.
 *
 * @module
 */
import type { PutEntry, QueueCore } from './core.js';
import { argTypeError, argValueError, describe, QueueClosedError, rangeError } from './errors.js';
import { checkTimeout, checkValue, validateOptions, type OptionSchema } from './options.js';
import type { RetryableFor } from './retry.js';
import './dispose.js';

/** Options of `put()`. */
export interface PutOptions {
  /**
   * Wait while the queue is full (`maxSize`); false throws {@link QueueFullError} at once.
   * @default true
   */
  block?: boolean | undefined;
  /**
   * Milliseconds to wait for room before throwing {@link QueueFullError}; must be >= 0.
   * @default Infinity (wait as long as it takes)
   */
  timeout?: number | undefined;
  /**
   * Priority for `order: 'priority'` queues: an integer, lower first. Other queues reject it.
   * @default 0
   */
  priority?: number | undefined;
}

/** Options of `putMany()`: like {@link PutOptions}; the priority applies to every item. */
export type PutManyOptions = PutOptions;

/** Options of `get()` and `getMany()`. */
export interface GetOptions {
  /**
   * Wait for an item; false throws {@link QueueEmptyError} at once when the queue is empty.
   * @default true
   */
  block?: boolean | undefined;
  /**
   * Milliseconds to wait before throwing {@link QueueEmptyError}; must be >= 0.
   * @default Infinity (wait as long as it takes)
   */
  timeout?: number | undefined;
}

/** Options of `join()`. */
export interface JoinOptions {
  /**
   * Milliseconds to wait; `join()` then returns false.
   * @default Infinity
   */
  timeout?: number | undefined;
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

/** Argument checks and preparation shared by both shells. */
export abstract class ShellBase<T, G> {
  /** @internal */
  protected readonly core: QueueCore<T, G>;
  /** @internal */
  protected closed = false;
  /** What the core calls a passing lock conflict, retried for as long as it allows. @internal */
  protected readonly retryable: RetryableFor;
  /** Tells the core that a wait is about to sleep (see `QueueCore.willWait`). @internal */
  protected readonly willWait: () => void;

  /** @internal */
  protected constructor(core: QueueCore<T, G>, private readonly className: string) {
    this.core = core;
    this.retryable = (err) => core.retryableFor?.(err);
    this.willWait = () => core.willWait?.();
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
    const entries: PutEntry[] = [];
    for (let i = 0; i < items.length; i++) {
      if (!(i in items)) {
        throw argValueError(`The "items" argument of ${this.className}.putMany() must not be a sparse array: items[${i}] is a hole`);
      }
      entries.push(this.core.preparePut(items[i]!, opts.priority));
    }
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
