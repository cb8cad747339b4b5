/**
 * The plain SQLite queues: {@link SqliteQueueSync} (blocking) and {@link SqliteQueue} (Promises).
 *
 * @module
 */
import { checkItemId } from '../common/options.js';
import { AsyncQueueShell } from '../common/async-shell.js';
import { SyncQueueShell } from '../common/sync-shell.js';
import { resolveSqliteOptions, type SqliteQueueOptions } from './options.js';
import { openAsync } from './core-base.js';
import { PlainCore } from './plain-core.js';

/**
 * A persistent queue in a SQLite file, with a blocking API. Many processes and instances may share one file; every
 * item goes to exactly one `get()`. The tables are Python persist-queue's, so a Python process can share the file.
 *
 * @typeParam T - the item type
 * @example
 * ```ts
 * const q = SqliteQueueSync.open<{ n: number }>('jobs.db', { durability: 'normal' });
 * q.put({ n: 1 });
 * const job = q.get({ timeout: 1000 });
 * q.close();
 * ```
 */
export class SqliteQueueSync<T = unknown> extends SyncQueueShell<T, T> {
  private readonly plain: PlainCore<T>;

  private constructor(core: PlainCore<T>) {
    super(core, 'SqliteQueueSync');
    this.plain = core;
  }

  /**
   * Removes the waiting item with id `id` (as `put()` returned it, or as `.id` of the error that a get or peek of an
   * item that cannot be read threw).
   * @returns whether an item was removed
   */
  remove(id: number): boolean {
    this.checkOpen();
    return this.plain.remove(checkItemId(id, 'SqliteQueueSync.remove()'));
  }

  /**
   * Opens (creating if needed) the queue `options.name` of the given order in `file`.
   * @param file - path of the SQLite database file; its folder must exist
   * @throws TypeError/RangeError for a bad path or option, {@link QueueLockedError} when the file stays locked
   */
  static open<T = unknown>(file: string | URL, options?: SqliteQueueOptions<T>): SqliteQueueSync<T> {
    const opts = resolveSqliteOptions(options, false, 'SqliteQueueSync.open()');
    return new SqliteQueueSync<T>(new PlainCore<T>(file, opts, 'sync', 'SqliteQueueSync.open()'));
  }
}

/**
 * A persistent queue in a SQLite file, with a Promise API: the twin of {@link SqliteQueueSync}, same methods, same
 * file. Concurrent `put()` calls share one transaction (group commit) and lock conflicts are retried without
 * blocking the event loop. `for await (const item of queue)` takes items until the queue is closed.
 *
 * @typeParam T - the item type
 * @example
 * ```ts
 * const q = await SqliteQueue.open<{ n: number }>('jobs.db');
 * await q.put({ n: 1 });
 * for await (const job of q) { handle(job); await q.taskDone(); }
 * ```
 */
export class SqliteQueue<T = unknown> extends AsyncQueueShell<T, T> {
  private readonly plain: PlainCore<T>;

  private constructor(core: PlainCore<T>, deferCommit: boolean) {
    super(core, 'SqliteQueue', deferCommit);
    this.plain = core;
  }

  /** Promise twin of {@link SqliteQueueSync.remove}. */
  remove(id: number): Promise<boolean> {
    return this.call(() => this.plain.remove(checkItemId(id, 'SqliteQueue.remove()')));
  }

  /** Promise twin of {@link SqliteQueueSync.open}. */
  static async open<T = unknown>(file: string | URL, options?: SqliteQueueOptions<T>): Promise<SqliteQueue<T>> {
    const opts = resolveSqliteOptions(options, false, 'SqliteQueue.open()');
    const core = await openAsync(() => new PlainCore<T>(file, opts, 'async', 'SqliteQueue.open()'), opts.busyTimeout);
    return new SqliteQueue<T>(core, opts.durability === 'full');
  }
}
