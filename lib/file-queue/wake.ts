/**
 * The wake-up channel of a queue folder (docs/format.md, "Wake-up channel"): the file `wake`. A process that gives the
 * lock up writes one byte to it; a Promise class that waits for the lock, for items, for room or for `join()` watches
 * it (inotify, through `fs.watch`, on its event loop) and tries again at once instead of at its next poll. It carries
 * no data: a missed or spurious wake-up costs one poll interval or one attempt, never correctness (the polls stay as
 * the backstop, e.g. on file systems without change notification).
 *
 * Sync classes ring but do not watch: their thread sleeps in `Atomics.wait`, which only another thread can end early,
 * and a helper thread costs ~55 ms of CPU to start (measured on the 2-core test machine), more than the whole idle
 * wait it would serve; they keep their polls (1-20 ms).
 *
 * @module
 */
import { closeSync, constants as fsc, openSync, watch, writeSync, type FSWatcher } from 'node:fs';

const BYTE = Buffer.from([1]);

/** The `wake` file of one queue folder, as this thread uses it. */
export class WakeChannel {
  private fd = -1;
  private watcher: FSWatcher | undefined;

  /** @param onWake - called on this thread's event loop when the file changes (another process, or this one, rang) */
  constructor(
    readonly path: string,
    private readonly onWake: () => void,
  ) {}

  /** Wakes every process that watches the folder (best effort: a failure only means they poll). */
  ring(): void {
    try {
      if (this.fd < 0) this.fd = openSync(this.path, fsc.O_WRONLY | fsc.O_CREAT, 0o644);
      writeSync(this.fd, BYTE, 0, 1, 0);
    } catch {
      // polls stand in
    }
  }

  /** Starts watching on this thread's event loop (until {@link close}); it does not keep the process alive. */
  watch(): void {
    if (this.watcher || !this.exists()) return;
    try {
      this.watcher = watch(this.path, { persistent: false }, () => this.onWake());
      this.watcher.on('error', () => this.unwatch());
    } catch {
      this.watcher = undefined;
    }
  }

  /** Stops watching and closes the file. */
  close(): void {
    this.unwatch();
    if (this.fd >= 0) {
      try {
        closeSync(this.fd);
      } catch {
        // closed
      }
      this.fd = -1;
    }
  }

  private unwatch(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  /** Creates the file if needed (it must exist to be watched). */
  private exists(): boolean {
    if (this.fd >= 0) return true;
    try {
      this.fd = openSync(this.path, fsc.O_WRONLY | fsc.O_CREAT, 0o644);
      return true;
    } catch {
      return false;
    }
  }
}
