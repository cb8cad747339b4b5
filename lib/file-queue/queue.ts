/**
 * The file-segment queues: {@link FileQueueSync} (blocking) and {@link FileQueue} (Promises), over the same files.
 *
 * @module
 */
import { checkItemId } from '../common/options.js';
import { AsyncQueueShell } from '../common/async-shell.js';
import { SyncQueueShell } from '../common/sync-shell.js';
import { FileCore } from './core.js';
import type { FileQueueOptions } from './options.js';

/**
 * A persistent queue in a folder of append-only segment files, with a blocking API. Many processes and instances may
 * share one folder (sync and Promise classes alike); every item goes to exactly one `get()`. The format is described
 * in docs/format.md.
 *
 * @typeParam T - the item type
 * @example
 * ```ts
 * const q = FileQueueSync.open<{ n: number }>('./jobs', { durability: 'normal' });
 * q.put({ n: 1 });
 * const job = q.get({ timeout: 1000 });
 * q.close();
 * ```
 */
export class FileQueueSync<T = unknown> extends SyncQueueShell<T, T> {
  private readonly plain: FileCore<T>;

  private constructor(core: FileCore<T>) {
    super(core, 'FileQueueSync');
    this.plain = core;
  }

  /**
   * Removes the waiting item with id `id` (as `put()` returned it, or as `.id` of the error that a get or peek of an
   * item that cannot be read threw). Only the next item a get would take can be removed (an append-only log cannot cut an item out of its middle).
   * @returns whether an item was removed
   */
  remove(id: number): boolean {
    this.checkOpen();
    const checked = checkItemId(id, 'FileQueueSync.remove()');
    return this.run(() => this.plain.remove(checked));
  }

  /**
   * Opens the queue in folder `dir`, creating the folder (one level; its parent must exist) and recovering it after a
   * crash (a torn last record is dropped; see `skipCorrupt` for damaged records).
   * @param dir - the queue's folder
   * @throws TypeError/RangeError for a bad path or option, {@link QueueLockedError} when the folder stays locked,
   *   {@link QueueCorruptError} for damaged files
   */
  static open<T = unknown>(dir: string | URL, options?: FileQueueOptions<T>): FileQueueSync<T> {
    return new FileQueueSync<T>(FileCore.openSync<T>(dir, options, 'FileQueueSync.open()'));
  }
}

/**
 * A persistent queue in a folder of append-only segment files, with a Promise API: the twin of {@link FileQueueSync},
 * same methods, same files. Concurrent `put()` calls share one write and one fsync (group commit); waiting for the
 * folder lock does not block the event loop. `for await (const item of queue)` takes items until the queue is closed.
 *
 * @typeParam T - the item type
 * @example
 * ```ts
 * const q = await FileQueue.open<{ n: number }>('./jobs');
 * await q.put({ n: 1 });
 * for await (const job of q) { handle(job); await q.taskDone(); }
 * ```
 */
export class FileQueue<T = unknown> extends AsyncQueueShell<T, T> {
  private readonly plain: FileCore<T>;

  private constructor(core: FileCore<T>, deferCommit: boolean) {
    super(core, 'FileQueue', deferCommit);
    this.plain = core;
  }

  /** Promise twin of {@link FileQueueSync.remove}. */
  remove(id: number): Promise<boolean> {
    return this.call(() => this.plain.remove(checkItemId(id, 'FileQueue.remove()')));
  }

  /** Promise twin of {@link FileQueueSync.open}. */
  static async open<T = unknown>(dir: string | URL, options?: FileQueueOptions<T>): Promise<FileQueue<T>> {
    const core = await FileCore.openAsync<T>(dir, options, 'FileQueue.open()');
    return new FileQueue<T>(core, core.groupCommitDeferred);
  }
}
