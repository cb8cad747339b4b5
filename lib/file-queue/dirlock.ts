/**
 * A lock file with a refreshed mtime and stale takeover: the mutual exclusion under a file queue's folder lock
 * (see docs/format.md, "Locking"; the module and `lockDir` keep their names from when the lock was a directory).
 * It does what proper-lockfile's `lockSync` did for us, without its signal-exit dependency, which installs
 * SIGINT/SIGTERM/SIGHUP handlers when it is loaded: while a sync `get()` blocks the thread those handlers never run,
 * so Ctrl-C and `kill` could not stop the process. This module installs no handler; a lock left by a process that
 * died is broken by the takeover rules in lock.ts (and by `stale`, as before).
 *
 * @module
 */
import { closeSync, openSync, rmdirSync, statSync, unlinkSync, utimesSync } from 'node:fs';

/** A held lock file. */
export interface DirHold {
  /** Stops refreshing and removes the lock file (best effort). */
  release(): void;
  /** Stops refreshing and leaves the file alone (it is a successor's). */
  forget(): void;
}

/** Options of {@link lockDir}. */
export interface DirLockOptions {
  /** A lock file whose mtime is older than this many ms is taken over. */
  stale: number;
  /** Called once when the hold is found lost: its file is gone, its mtime is not ours, or a refresh came late. */
  onCompromised: (err: Error) => void;
}

function errno(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/**
 * Creates the lock file `path`, failing with EEXIST when it exists (O_CREAT | O_EXCL). An empty file: unlike a
 * directory it takes no data block, so taking and giving back the lock costs two cheap metadata operations (a
 * mkdir + rmdir pair measured ~130 µs on an ext4 mounted with `discard`, this pair ~20 µs).
 */
function createExclusive(path: string): void {
  closeSync(openSync(path, 'wx'));
}

/**
 * Removes the lock file or marker `path`, or the directory an older build made in its place (`rmdir` when `unlink`
 * answers EISDIR/EPERM). Throws what the file system says.
 */
export function removeLock(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM') throw err;
    rmdirSync(path);
  }
}

/**
 * Takes the lock file `path` (one attempt). Throws an error with code `ELOCKED` when another holder has it and
 * it is not stale; other errors are the file system's. The mtime is refreshed every `stale / 2` ms (at least every
 * second) by an unref'ed timer, so a live holder is never taken for stale unless its event loop stalls past `stale`.
 */
export function lockDir(path: string, options: DirLockOptions): DirHold {
  try {
    createExclusive(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    let stale = false;
    let gone = false;
    try {
      stale = statSync(path).mtimeMs < Date.now() - options.stale;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      gone = true; // released between our create and stat: try once more (never remove what is there by then)
    }
    if (!stale && !gone) throw errno(`Lock file ${path} is held by another process`, 'ELOCKED');
    if (stale) {
      try {
        removeLock(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    try {
      createExclusive(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw errno(`Lock file ${path} is held by another process`, 'ELOCKED');
      throw e;
    }
  }
  try {
    return new Hold(path, options);
  } catch (e) {
    // Removed between our create and its first refresh (broken as stale or as a dead holder's): not ours.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw errno(`Lock file ${path} is held by another process`, 'ELOCKED');
    throw e;
  }
}

class Hold implements DirHold {
  private timer: NodeJS.Timeout | undefined;
  /** The mtime as the file system reported it after our last update (its own precision). */
  private mtimeMs: number;
  private lastUpdate = Date.now();
  private readonly every: number;

  constructor(
    private readonly path: string,
    private readonly options: DirLockOptions,
  ) {
    this.every = Math.max(Math.min(1000, options.stale), Math.floor(options.stale / 2));
    this.mtimeMs = this.touch();
    this.schedule();
  }

  /** Sets the mtime to now; returns it as stored. */
  private touch(): number {
    const now = new Date();
    utimesSync(this.path, now, now);
    return statSync(this.path).mtimeMs;
  }

  private schedule(): void {
    this.timer = setTimeout(() => this.refresh(), this.every);
    this.timer.unref();
  }

  private refresh(): void {
    this.timer = undefined;
    let lost: string | undefined;
    if (Date.now() - this.lastUpdate > this.options.stale) lost = 'the lock was not refreshed within its stale time';
    else {
      try {
        if (statSync(this.path).mtimeMs !== this.mtimeMs) lost = 'the lock file is not ours any more';
        else this.mtimeMs = this.touch();
      } catch (err) {
        lost = `the lock file cannot be refreshed: ${(err as Error).message}`;
      }
    }
    if (lost !== undefined) {
      this.options.onCompromised(errno(`${lost} (${this.path})`, 'ECOMPROMISED'));
      return;
    }
    this.lastUpdate = Date.now();
    this.schedule();
  }

  private stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  release(): void {
    this.stop();
    try {
      removeLock(this.path);
    } catch {
      // already gone
    }
  }

  forget(): void {
    this.stop();
  }
}
