/**
 * Keeping the WAL file of a SQLite queue bounded under sustained writes from many processes (see
 * {@link WalLimit.limit}).
 *
 * @module
 */
import type Database from 'better-sqlite3';
import { statSync } from 'node:fs';

/** How often (at most) a writing instance looks at the size of the WAL file. */
const WAL_CHECK_MS = 25;
/**
 * A WAL larger than this is checkpointed and truncated (see {@link WalLimit.afterWrite}): SQLite's automatic
 * checkpoints (every ~4 MiB) cannot finish while other processes keep writing, and then the WAL grows without bound.
 */
const WAL_TRUNCATE_BYTES = 8 * 1024 * 1024;
/** SQLite's own wait while truncating the WAL: it is housekeeping, tried again a second later if others are busy. */
const WAL_TRUNCATE_BUSY_MS = 20;
/** The same wait once the WAL is three times past {@link WAL_TRUNCATE_BYTES}. */
const WAL_URGENT_BUSY_MS = 200;
/** After a truncating checkpoint was blocked, wait this much longer before the next try. */
const WAL_BLOCKED_BACKOFF_MS = 1000;

/** The WAL housekeeping of one connection. */
export class WalLimit {
  private lastWalCheck = 0;

  constructor(
    private readonly db: Database.Database,
    private readonly file: string,
    private readonly busyMs: number,
  ) {}

  /** After this connection committed a change: at most every {@link WAL_CHECK_MS}, looks at the WAL's size. */
  afterWrite(): void {
    const now = performance.now();
    if (now - this.lastWalCheck >= WAL_CHECK_MS) {
      this.lastWalCheck = now;
      this.limit();
    }
  }

  /**
   * Keeps the WAL bounded under sustained writes from many processes. SQLite's automatic checkpoint is PASSIVE: it
   * copies what it can and never waits, and the WAL only starts over once a checkpoint has copied everything and a
   * writer begins at a moment when no reader uses the WAL. With several processes writing all the time that moment
   * may never come, and the WAL file grows by every commit (the torture suite's load test saw 44 MiB in 10 s). So,
   * at most every 25 ms, a writer looks at the WAL's size and, past {@link WAL_TRUNCATE_BYTES}, runs a TRUNCATE
   * checkpoint: it takes the write lock, copies the WAL into the database, waits briefly for readers to move on, and
   * empties the file. Best effort: if others are busy it gives up after {@link WAL_TRUNCATE_BUSY_MS} and a later
   * writer tries again 25 ms later. (A reader that holds a read transaction open pins the WAL; nothing can help that.)
   */
  private limit(): void {
    let size: number;
    try {
      size = statSync(`${this.file}-wal`).size;
    } catch {
      return;
    }
    if (size <= WAL_TRUNCATE_BYTES || this.db.inTransaction) return;
    // Far past the limit (readers kept getting in the way), wait longer for them: the WAL must not grow for ever.
    const urgent = size > 3 * WAL_TRUNCATE_BYTES;
    try {
      this.db.pragma(`busy_timeout = ${urgent ? WAL_URGENT_BUSY_MS : WAL_TRUNCATE_BUSY_MS}`);
      const [res] = this.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number; log: number }[];
      // log -1: it could not start (another writer had the lock): try again at the next check. Started but blocked
      // (most likely a reader holding a snapshot): do not keep taking the write lock for it every second.
      if (res && res.busy && res.log >= 0 && !urgent) this.lastWalCheck = performance.now() + WAL_BLOCKED_BACKOFF_MS;
    } catch {
      // housekeeping only
    } finally {
      this.db.pragma(`busy_timeout = ${this.busyMs}`);
    }
  }
}
