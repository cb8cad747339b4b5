/**
 * Options of the file-segment queues, their defaults and their validation.
 *
 * @module
 */
import { argValueError } from '../common/errors.js';
import { validateOptions, type BaseQueueOptions, type OptionSchema } from '../common/options.js';

/** The `durability` option of the file queues. */
export type FileDurability = 'full' | 'normal' | 'off';

/** Options of {@link FileQueue.open} and {@link FileQueueSync.open}. */
export interface FileQueueOptions<T = unknown> extends BaseQueueOptions<T> {
  /**
   * Which item `get()` takes: the oldest (`'fifo'`) or the newest (`'filo'`). `'priority'` is for the SQLite queues
   * only and is rejected. A queue folder keeps the order it was created with; opening it with another order is a
   * TypeError.
   * @default 'fifo'
   */
  order?: 'fifo' | 'filo' | undefined;
  /**
   * Ignore a put of an item equal (same encoded bytes; JSON is encoded with sorted keys) to one already waiting; such
   * a put returns null. Only with `order: 'fifo'`. The set of waiting items is kept as 64-bit hashes (about 16 bytes
   * of memory per waiting item) and saved in the checkpoint, so it survives reopen.
   * @default false
   */
  unique?: boolean | undefined;
  /**
   * `'full'`: a returned put (and a get's removal) is on disk before the call returns (fdatasync; concurrent puts of a
   * {@link FileQueue} share one). `'normal'`: survives a killed process; the data is flushed in the background every
   * `syncIntervalMs`, so a power loss loses at most about that much. `'off'`: flushing is left to the OS.
   * @default 'full'
   */
  durability?: FileDurability | undefined;
  /**
   * true: `get()` removes the item durably at once. false: a taken item is removed durably by `taskDone()`; items
   * taken but not done are delivered again (before the other waiting items) after a crash, `close()` or reopen
   * (at-least-once).
   * @default true
   */
  autoCommit?: boolean | undefined;
  /**
   * Size in bytes at which the current segment file is closed and a new one started; also the largest record (an
   * item larger than this, less 40 bytes of framing, is a RangeError). Between 4096 and 1 GiB.
   * @default 67108864 (64 MiB)
   */
  segmentBytes?: number | undefined;
  /**
   * With `durability: 'normal'`: milliseconds between background flushes (an unref'd timer, also checked on every
   * write, so a busy synchronous loop flushes too).
   * @default 1000
   */
  syncIntervalMs?: number | undefined;
  /**
   * false: a record that fails its checksum makes the call that meets it throw {@link QueueCorruptError} (the queue
   * never returns garbage). true: such records are skipped and counted (`corruptSkipped`); a skipped item is lost,
   * a skipped removal may deliver items again.
   * @default false
   */
  skipCorrupt?: boolean | undefined;
  /**
   * Milliseconds a call may wait for another process's lock on the folder before throwing {@link QueueLockedError}.
   * @default 10000
   */
  lockTimeout?: number | undefined;
  /**
   * Milliseconds after which a lock whose holder stopped refreshing it (a stalled or killed process) may be taken
   * over (its `stale` time; at least 2000). A holder that is known dead (its pid is gone) is taken over
   * sooner.
   * @default 10000
   */
  lockStale?: number | undefined;
}

const SCHEMA: OptionSchema = {
  order: { kind: 'enum', values: ['fifo', 'filo', 'priority'] },
  unique: { kind: 'boolean' },
  maxSize: { kind: 'integer', min: 0 },
  serializer: { kind: 'custom', check: () => undefined }, // resolveSerializer checks it
  durability: { kind: 'enum', values: ['full', 'normal', 'off'] },
  autoCommit: { kind: 'boolean' },
  segmentBytes: { kind: 'integer', min: 4096, max: 1 << 30 },
  syncIntervalMs: { kind: 'integer', min: 1, max: 2_147_483_647 },
  skipCorrupt: { kind: 'boolean' },
  lockTimeout: { kind: 'integer', min: 0, max: 2_147_483_647 },
  lockStale: { kind: 'integer', min: 2000, max: 2_147_483_647 },
};

/** Options after validation and defaults. */
export interface ResolvedFileOptions {
  order: 'fifo' | 'filo';
  unique: boolean;
  maxSize: number;
  serializer: unknown;
  durability: FileDurability;
  autoCommit: boolean;
  segmentBytes: number;
  syncIntervalMs: number;
  skipCorrupt: boolean;
  lockTimeout: number;
  lockStale: number;
}

/** Validates the options and fills in the defaults. */
export function resolveFileOptions(options: unknown, where: string): ResolvedFileOptions {
  const o = validateOptions<Omit<FileQueueOptions, 'order'> & { order?: string }>(options, SCHEMA, where);
  if (o.order === 'priority') {
    throw argValueError(`The "order" option 'priority' is only supported by the SQLite queues; file queues take 'fifo' or 'filo'. Received 'priority'`);
  }
  const order = (o.order ?? 'fifo') as 'fifo' | 'filo';
  const unique = o.unique ?? false;
  if (unique && order !== 'fifo') {
    throw argValueError(`The "unique" option works only with order 'fifo'. Received order '${order}'`);
  }
  return {
    order,
    unique,
    maxSize: o.maxSize ?? 0,
    serializer: o.serializer,
    durability: o.durability ?? 'full',
    autoCommit: o.autoCommit ?? true,
    segmentBytes: o.segmentBytes ?? 64 * 1024 * 1024,
    syncIntervalMs: o.syncIntervalMs ?? 1000,
    skipCorrupt: o.skipCorrupt ?? false,
    lockTimeout: o.lockTimeout ?? 10_000,
    lockStale: o.lockStale ?? 10_000,
  };
}
