/**
 * The flushes of the segment being appended to, per `durability` (docs/api.md): `full` syncs after every write,
 * `normal` at most every `syncIntervalMs` (on the thread pool, and from an unref'd timer), `off` never.
 *
 * @module
 */
import { io, ioError } from './io.js';
import type { FileDurability } from './options.js';
import type { SegFd } from './segment-dir.js';

/** fdatasync of the current append descriptor. */
export class Flusher {
  /** Written since the last flush. */
  dirty = false;
  private lastFlush = 0;
  private flushing = false;

  constructor(
    private readonly current: () => SegFd | undefined,
    private readonly dir: string,
    private readonly settings: () => { durability: FileDurability; syncIntervalMs: number } | undefined,
  ) {}

  /** After a write: makes it durable per `durability` (sync). */
  durable(): void {
    const d = this.settings()!.durability;
    if (d === 'full') this.flushSync();
    else if (d === 'normal' && performance.now() - this.lastFlush >= this.settings()!.syncIntervalMs) this.flushAsync().catch(() => undefined);
  }

  /** fdatasync of the current segment, synchronously. */
  flushSync(): void {
    const f = this.current();
    if (!f) return;
    this.dirty = false;
    this.lastFlush = performance.now();
    try {
      io.fdatasyncSync(f.fd);
    } catch (err) {
      throw ioError(`cannot flush queue segment in ${this.dir}`, err);
    }
  }

  /** fdatasync of the current segment on the thread pool (the event loop stays free). */
  flushAsync(): Promise<void> {
    const f = this.current();
    if (!f) return Promise.resolve();
    this.dirty = false;
    this.lastFlush = performance.now();
    f.refs++;
    return new Promise<void>((resolve, reject) => {
      io.fdatasync(f.fd, (err) => {
        f.unref();
        if (err) reject(ioError(`cannot flush queue segment in ${this.dir}`, err));
        else resolve();
      });
    });
  }

  /**
   * `durability: 'normal'`, before this thread blocks in a wait (a synchronous get/put/lock wait): starts the flush
   * that the interval timer cannot run while the event loop is blocked (fdatasync runs on the thread pool meanwhile).
   */
  flushBeforeWait(): void {
    if (this.dirty && this.settings()?.durability === 'normal') this.flushAsync().catch(() => undefined);
  }

  /** Background flush for `durability: 'normal'` (called by an unref'd timer). */
  backgroundFlush(): void {
    if (!this.dirty || this.flushing) return;
    this.flushing = true;
    this.flushAsync()
      .catch(() => undefined)
      .finally(() => {
        this.flushing = false;
      });
  }
}
