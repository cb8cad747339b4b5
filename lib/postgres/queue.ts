/**
 * The public PostgreSQL classes: {@link PostgresQueue} and {@link PostgresAckQueue}. Promise classes only: every call
 * is a network round trip, and a blocking (thread-sleeping) API over a connection would stall the event loop that the
 * client library itself needs. The methods, options and errors are those of the SQLite Promise classes.
 *
 * @module
 */
import type { QueueCore } from '../common/core.js';
import { AsyncQueueShell } from '../common/async-shell.js';
import { checkItemId } from '../common/options.js';
import type { AckMessage, AckQueueItem, ClearAckedOptions } from '../sqlite-queue/ack-types.js';
import { PgAckCore } from './ack-core.js';
import { PgPlainCore } from './plain-core.js';
import { resolvePgOptions, type PostgresAckQueueOptions, type PostgresQueueOptions, type PostgresTarget } from './options.js';

/* The cores return Promises from the methods QueueCore types as synchronous; the Promise shell awaits every core call. */
const asCore = <T, G>(core: unknown): QueueCore<T, G> => core as QueueCore<T, G>;

/**
 * A persistent FIFO/FILO/priority queue in a PostgreSQL table, shared by every process on every host that opens the
 * same `name` (and order, `unique`) in the same `schema`. Each item goes to exactly one `get()`
 * (`FOR UPDATE SKIP LOCKED`); a blocked `get()` wakes on `LISTEN/NOTIFY`.
 */
export class PostgresQueue<T = unknown> extends AsyncQueueShell<T, T> {
  private readonly pgCore: PgPlainCore<T>;

  private constructor(core: PgPlainCore<T>, deferCommit: boolean) {
    super(asCore(core), 'PostgresQueue', deferCommit);
    this.pgCore = core;
  }

  /**
   * Opens (creating on first use) the queue.
   * @param target - connection string, a `pg.Pool` you own (never ended by `close()`), or a `pg.PoolConfig`
   * @param options - see {@link PostgresQueueOptions}
   */
  static async open<T = unknown>(target: PostgresTarget, options?: PostgresQueueOptions<T>): Promise<PostgresQueue<T>> {
    const opts = resolvePgOptions(options, false, 'PostgresQueue.open()');
    const core = await PgPlainCore.open<T>(target, opts, 'PostgresQueue.open()');
    return new PostgresQueue<T>(core, opts.durability === 'full');
  }

  /**
   * Deletes the waiting item with id `id` (one the serializer cannot read, say).
   * @returns whether an item was removed
   */
  remove(id: number): Promise<boolean> {
    return this.call(() => this.pgCore.remove(checkItemId(id, 'PostgresQueue.remove()')));
  }

  /** Closes the queue (see the SQLite class) and ends the pool it made; a caller's pool stays open. */
  override async close(): Promise<void> {
    const first = !this.closed;
    try {
      await super.close();
    } finally {
      if (first) await this.pgCore.end();
    }
  }
}

/**
 * An acknowledgement queue in a PostgreSQL table: `get()` reserves a message for this instance (and, with
 * `visibilityTimeout`, for that long on the server's clock); `ack()`, `nack()` and `ackFailed()` settle it.
 */
export class PostgresAckQueue<T = unknown> extends AsyncQueueShell<T, AckMessage<T>> {
  private readonly ackCore: PgAckCore<T>;

  private constructor(core: PgAckCore<T>, deferCommit: boolean) {
    super(asCore(core), 'PostgresAckQueue', deferCommit);
    this.ackCore = core;
  }

  /**
   * Opens (creating on first use) the ack queue.
   * @param target - connection string, a `pg.Pool` you own (never ended by `close()`), or a `pg.PoolConfig`
   * @param options - see {@link PostgresAckQueueOptions}
   */
  static async open<T = unknown>(target: PostgresTarget, options?: PostgresAckQueueOptions<T>): Promise<PostgresAckQueue<T>> {
    const opts = resolvePgOptions(options, true, 'PostgresAckQueue.open()');
    const core = await PgAckCore.open<T>(target, opts, 'PostgresAckQueue.open()');
    return new PostgresAckQueue<T>(core, opts.durability === 'full');
  }

  /** Marks a message this instance holds as done; false if it does not hold it (any more). */
  ack(idOrMessage: number | AckMessage<T>): Promise<boolean> {
    return this.call(() => this.ackCore.setStatus(idOrMessage, 'ack', 'ack'));
  }

  /** Makes a message this instance holds ready again; false if it does not hold it. */
  nack(idOrMessage: number | AckMessage<T>): Promise<boolean> {
    return this.call(() => this.ackCore.setStatus(idOrMessage, 'nack', 'nack'));
  }

  /** Marks a message this instance holds as failed (kept, never delivered again); false if it does not hold it. */
  ackFailed(idOrMessage: number | AckMessage<T>): Promise<boolean> {
    return this.call(() => this.ackCore.setStatus(idOrMessage, 'fail', 'ackFailed'));
  }

  /** Messages ready to get. */
  async readyCount(): Promise<number> {
    this.checkOpen();
    return this.io(() => this.ackCore.readyCount());
  }

  /** Messages taken and not yet settled (by any client). */
  async unackCount(): Promise<number> {
    this.checkOpen();
    return this.io(() => this.ackCore.countStatus('unack'));
  }

  /** Acked messages kept in the table. */
  async ackedCount(): Promise<number> {
    this.checkOpen();
    return this.io(() => this.ackCore.countStatus('acked'));
  }

  /** Failed messages kept in the table. */
  async ackFailedCount(): Promise<number> {
    this.checkOpen();
    return this.io(() => this.ackCore.countStatus('failed'));
  }

  /** Deletes acked (and with `includeFailed`, failed) rows; the number deleted. */
  async clearAcked(options?: ClearAckedOptions): Promise<number> {
    this.checkOpen();
    return this.io(() => this.ackCore.clearAcked(options));
  }

  /** Replaces a message's stored data; false if there is no such row. */
  async update(idOrMessage: number | AckMessage<T>, data: T): Promise<boolean> {
    this.checkOpen();
    return this.io(() => this.ackCore.update(idOrMessage, data));
  }

  /** Every row with its status, oldest first. */
  async items(): Promise<AckQueueItem<T>[]> {
    this.checkOpen();
    return this.io(() => this.ackCore.items());
  }

  /** Closes the queue, giving back the messages this instance holds, and ends the pool it made. */
  override async close(): Promise<void> {
    const first = !this.closed;
    try {
      await super.close();
    } finally {
      if (first) await this.ackCore.end();
    }
  }
}
