/**
 * Options of the SQLite queues, their defaults and their validation.
 *
 * @module
 */
import { argValueError } from '../common/errors.js';
import { validateOptions, type BaseQueueOptions, type OptionSchema } from '../common/options.js';
export { tableName } from '../common/table-name.js';
import type { Durability } from './connection.js';

/** Options of {@link SqliteQueue.open} and {@link SqliteQueueSync.open}. */
export interface SqliteQueueOptions<T = unknown> extends BaseQueueOptions<T> {
  /**
   * Which item `get()` takes: oldest (`'fifo'`), newest (`'filo'`), or lowest `priority` then oldest (`'priority'`).
   * Each order has its own table, as in Python persist-queue.
   * @default 'fifo'
   */
  order?: 'fifo' | 'filo' | 'priority' | undefined;
  /**
   * Ignore a put of an item equal (same encoded bytes; JSON is encoded with sorted keys) to one already waiting; such
   * a put returns null. Only with `order: 'fifo'`.
   * @default false
   */
  unique?: boolean | undefined;
  /**
   * `'full'`: a returned put survives power loss (`synchronous=FULL`). `'normal'`: survives a killed process
   * (`synchronous=NORMAL`, WAL). `'off'`: `synchronous=OFF`.
   * @default 'full'
   */
  durability?: Durability | undefined;
  /**
   * true: `get()` removes the item durably at once. false: a taken item is removed durably by `taskDone()`; items
   * taken but not done are delivered again after a crash, `close()` or reopen (at-least-once).
   * @default true
   */
  autoCommit?: boolean | undefined;
  /**
   * Queue name: the table is `queue_<name>` (`filo_queue_<name>`, `unique_queue_<name>`, `priority_queue_<name>`).
   * Letters, digits and `_` only.
   * @default 'default'
   */
  name?: string | undefined;
  /**
   * Milliseconds a call may wait for another process's write lock before throwing {@link QueueLockedError}.
   * @default 10000
   */
  busyTimeout?: number | undefined;
  /**
   * What a get does with a row whose data fails its checksum: false throws {@link QueueCorruptError} (the row stays);
   * true removes it (ack queues: marks it failed), counts it in `corruptSkipped` and takes the next row.
   * @default false
   */
  skipCorrupt?: boolean | undefined;
}

/** Options of {@link SqliteAckQueue.open} and {@link SqliteAckQueueSync.open}. */
export interface SqliteAckQueueOptions<T = unknown> extends BaseQueueOptions<T> {
  /**
   * `'fifo'` or `'filo'` (tables `ack_queue_<name>`, `ack_filo_queue_<name>`).
   * @default 'fifo'
   */
  order?: 'fifo' | 'filo' | undefined;
  /**
   * Ignore a put of an item equal to one still in the table as ready or unacked (table `ack_unique_queue_<name>`).
   * Only with `order: 'fifo'`.
   * @default false
   */
  unique?: boolean | undefined;
  /** @default 0 — see {@link BaseQueueOptions.maxSize}; counts ready items. */
  maxSize?: number | undefined;
  /** @default 'full' — see {@link SqliteQueueOptions.durability}. */
  durability?: Durability | undefined;
  /** @default 'default' — see {@link SqliteQueueOptions.name}. */
  name?: string | undefined;
  /** @default 10000 — see {@link SqliteQueueOptions.busyTimeout}. */
  busyTimeout?: number | undefined;
  /** @default false — see {@link SqliteQueueOptions.skipCorrupt}; a skipped message is marked failed. */
  skipCorrupt?: boolean | undefined;
  /**
   * Milliseconds a taken message stays reserved; if it is neither acked nor nacked in time it becomes ready again and
   * its next delivery counts one more attempt. 0 = no limit (until the holder acks, nacks, closes or dies).
   * @default 0
   */
  visibilityTimeout?: number | undefined;
}

const NAME_RULE = { kind: 'string', pattern: /^[A-Za-z0-9_]{1,64}$/, patternText: '1 to 64 letters, digits or underscores' } as const;
const COMMON: OptionSchema = {
  unique: { kind: 'boolean' },
  maxSize: { kind: 'integer', min: 0 },
  serializer: { kind: 'custom', check: () => undefined }, // resolveSerializer checks it
  durability: { kind: 'enum', values: ['full', 'normal', 'off'] },
  name: NAME_RULE,
  busyTimeout: { kind: 'integer', min: 0, max: 2_147_483_647 },
  skipCorrupt: { kind: 'boolean' },
};
const PLAIN_SCHEMA: OptionSchema = { ...COMMON, order: { kind: 'enum', values: ['fifo', 'filo', 'priority'] }, autoCommit: { kind: 'boolean' } };
const ACK_SCHEMA: OptionSchema = {
  ...COMMON,
  order: { kind: 'enum', values: ['fifo', 'filo'] },
  visibilityTimeout: { kind: 'integer', min: 0, max: 2_147_483_647 },
};

/** Options after validation and defaults. */
export interface ResolvedSqliteOptions {
  ack: boolean;
  order: 'fifo' | 'filo' | 'priority';
  unique: boolean;
  maxSize: number;
  serializer: unknown;
  durability: Durability;
  autoCommit: boolean;
  name: string;
  busyTimeout: number;
  visibilityTimeout: number;
  skipCorrupt: boolean;
}

/** Validates the options of a plain (`ack: false`) or ack queue and fills in the defaults. */
export function resolveSqliteOptions(options: unknown, ack: boolean, where: string): ResolvedSqliteOptions {
  const o = validateOptions<SqliteQueueOptions & SqliteAckQueueOptions>(options, ack ? ACK_SCHEMA : PLAIN_SCHEMA, where);
  const resolved: ResolvedSqliteOptions = {
    ack,
    order: o.order ?? 'fifo',
    unique: o.unique ?? false,
    maxSize: o.maxSize ?? 0,
    serializer: o.serializer,
    durability: o.durability ?? 'full',
    autoCommit: o.autoCommit ?? true,
    name: o.name ?? 'default',
    busyTimeout: o.busyTimeout ?? 10_000,
    visibilityTimeout: o.visibilityTimeout ?? 0,
    skipCorrupt: o.skipCorrupt ?? false,
  };
  if (resolved.unique && resolved.order !== 'fifo') {
    throw argValueError(`The "unique" option works only with order 'fifo' (Python persist-queue has no unique ${resolved.order} table). Received order '${resolved.order}'`);
  }
  return resolved;
}

