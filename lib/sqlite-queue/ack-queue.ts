/**
 * The SQLite ack queues: {@link SqliteAckQueueSync} (blocking) and {@link SqliteAckQueue} (Promises).
 *
 * @module
 */
import { AsyncQueueShell } from '../common/async-shell.js';
import { SyncQueueShell } from '../common/sync-shell.js';
import { AckCore } from './ack-core.js';
import type { AckMessage, AckQueueItem, ClearAckedOptions } from './ack-types.js';
import { openAsync } from './core-base.js';
import { resolveSqliteOptions, type SqliteAckQueueOptions } from './options.js';

/**
 * A persistent ack queue in a SQLite file, blocking API. `get()` returns `{ id, data, attempts }` and reserves the
 * message; `ack()` finishes it, `nack()` returns it to the queue, `ackFailed()` parks it as failed. A message whose
 * holder dies, closes the queue, or lets `visibilityTimeout` run out is delivered again (at-least-once).
 *
 * @typeParam T - the item type
 * @example
 * ```ts
 * const q = SqliteAckQueueSync.open<string>('mail.db', { visibilityTimeout: 30_000 });
 * q.put('hello');
 * const msg = q.get();
 * try { send(msg.data); q.ack(msg); } catch { q.nack(msg); }
 * ```
 */
export class SqliteAckQueueSync<T = unknown> extends SyncQueueShell<T, AckMessage<T>> {
  private readonly ackCore: AckCore<T>;

  private constructor(core: AckCore<T>) {
    super(core, 'SqliteAckQueueSync');
    this.ackCore = core;
  }

  /**
   * Opens (creating if needed) the ack queue `options.name` in `file`.
   * @param file - path of the SQLite database file; its folder must exist
   */
  static open<T = unknown>(file: string | URL, options?: SqliteAckQueueOptions<T>): SqliteAckQueueSync<T> {
    const opts = resolveSqliteOptions(options, true, 'SqliteAckQueueSync.open()');
    return new SqliteAckQueueSync<T>(new AckCore<T>(file, opts, 'sync', 'SqliteAckQueueSync.open()'));
  }

  /** Marks a message done (from ready or unack). @returns whether its status changed */
  ack(idOrMessage: number | AckMessage<T>): boolean {
    this.checkOpen();
    return this.ackCore.setStatus(idOrMessage, 'ack', 'ack');
  }

  /** Returns an unacked message to the queue, ready for the next `get()`. @returns whether its status changed */
  nack(idOrMessage: number | AckMessage<T>): boolean {
    this.checkOpen();
    return this.ackCore.setStatus(idOrMessage, 'nack', 'nack');
  }

  /** Marks a message failed; it is kept (see `ackFailedCount()`, `clearAcked({ includeFailed })`). @returns whether its status changed */
  ackFailed(idOrMessage: number | AckMessage<T>): boolean {
    this.checkOpen();
    return this.ackCore.setStatus(idOrMessage, 'fail', 'ackFailed');
  }

  /** Messages ready to get (the same as `size()`), counting those whose `visibilityTimeout` lease ran out. */
  readyCount(): number {
    this.checkOpen();
    return this.ackCore.readyCount();
  }

  /** Messages taken and not yet acked, nacked or failed, by any process (not those whose lease ran out: they are ready). */
  unackCount(): number {
    this.checkOpen();
    return this.ackCore.countStatus('unack');
  }

  /** Acked messages still stored (see `clearAcked()`). */
  ackedCount(): number {
    this.checkOpen();
    return this.ackCore.countStatus('acked');
  }

  /** Messages marked failed. */
  ackFailedCount(): number {
    this.checkOpen();
    return this.ackCore.countStatus('failed');
  }

  /** Deletes acked (and optionally failed) rows, oldest first. @returns how many were deleted */
  clearAcked(options?: ClearAckedOptions): number {
    this.checkOpen();
    return this.ackCore.clearAcked(options);
  }

  /** Replaces the data of a stored message. @returns false when no such message exists (or, in a unique queue, an equal one does) */
  update(idOrMessage: number | AckMessage<T>, data: T): boolean {
    this.checkOpen();
    return this.ackCore.update(idOrMessage, data);
  }

  /** Every stored message with its status, in queue order. */
  items(): AckQueueItem<T>[] {
    this.checkOpen();
    return this.ackCore.items();
  }
}

/**
 * The Promise twin of {@link SqliteAckQueueSync}: same methods, same file, Promises of the same results. Iterating
 * with `for await` yields messages until the queue is closed.
 *
 * @typeParam T - the item type
 */
export class SqliteAckQueue<T = unknown> extends AsyncQueueShell<T, AckMessage<T>> {
  private readonly ackCore: AckCore<T>;

  private constructor(core: AckCore<T>, deferCommit: boolean) {
    super(core, 'SqliteAckQueue', deferCommit);
    this.ackCore = core;
  }

  /** Promise twin of {@link SqliteAckQueueSync.open}. */
  static async open<T = unknown>(file: string | URL, options?: SqliteAckQueueOptions<T>): Promise<SqliteAckQueue<T>> {
    const opts = resolveSqliteOptions(options, true, 'SqliteAckQueue.open()');
    const core = await openAsync(() => new AckCore<T>(file, opts, 'async', 'SqliteAckQueue.open()'), opts.busyTimeout);
    return new SqliteAckQueue<T>(core, opts.durability === 'full');
  }

  /** Promise twin of {@link SqliteAckQueueSync.ack}. */
  ack(idOrMessage: number | AckMessage<T>): Promise<boolean> {
    return this.call(() => this.ackCore.setStatus(idOrMessage, 'ack', 'ack'));
  }

  /** Promise twin of {@link SqliteAckQueueSync.nack}. */
  nack(idOrMessage: number | AckMessage<T>): Promise<boolean> {
    return this.call(() => this.ackCore.setStatus(idOrMessage, 'nack', 'nack'));
  }

  /** Promise twin of {@link SqliteAckQueueSync.ackFailed}. */
  ackFailed(idOrMessage: number | AckMessage<T>): Promise<boolean> {
    return this.call(() => this.ackCore.setStatus(idOrMessage, 'fail', 'ackFailed'));
  }

  /** Promise twin of {@link SqliteAckQueueSync.readyCount}. */
  async readyCount(): Promise<number> {
    this.checkOpen();
    return this.io(() => this.ackCore.readyCount());
  }

  /** Promise twin of {@link SqliteAckQueueSync.unackCount}. */
  async unackCount(): Promise<number> {
    this.checkOpen();
    return this.io(() => this.ackCore.countStatus('unack'));
  }

  /** Promise twin of {@link SqliteAckQueueSync.ackedCount}. */
  async ackedCount(): Promise<number> {
    this.checkOpen();
    return this.io(() => this.ackCore.countStatus('acked'));
  }

  /** Promise twin of {@link SqliteAckQueueSync.ackFailedCount}. */
  async ackFailedCount(): Promise<number> {
    this.checkOpen();
    return this.io(() => this.ackCore.countStatus('failed'));
  }

  /** Promise twin of {@link SqliteAckQueueSync.clearAcked}. */
  async clearAcked(options?: ClearAckedOptions): Promise<number> {
    this.checkOpen();
    return this.io(() => this.ackCore.clearAcked(options));
  }

  /** Promise twin of {@link SqliteAckQueueSync.update}. */
  async update(idOrMessage: number | AckMessage<T>, data: T): Promise<boolean> {
    this.checkOpen();
    return this.io(() => this.ackCore.update(idOrMessage, data));
  }

  /** Promise twin of {@link SqliteAckQueueSync.items}. */
  async items(): Promise<AckQueueItem<T>[]> {
    this.checkOpen();
    return this.io(() => this.ackCore.items());
  }
}
