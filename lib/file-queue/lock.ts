/**
 * The folder lock of a file queue and its helpers (see docs/format.md, "Locking"):
 *
 * - `lock`: the lock file (mutual exclusion, refreshed mtime, stale takeover; dirlock.ts);
 * - `tokens/<token>`: the fencing token (an empty file) of the current holder, created after taking the lock and removed when giving
 *   it up. A process that finds another holder's token removes it and waits before touching the log: that is how a
 *   stalled holder is fenced off, independently of the lock file's own rules;
 * - `want`: created by a process waiting for the lock; a holder that keeps the lock between calls gives it up when it
 *   sees it.
 *
 * @module
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { lockDir, removeLock, type DirHold } from './dirlock.js';
import { QueueError } from '../common/errors.js';
import { isOwnerAlive } from '../common/owner.js';

/** How long a lock file must be seen held by a process that is gone before it is broken. */
const DEAD_TOKEN_MS = 50;
/** How long a lock file must be seen held with no token at all before it is broken. */
const NO_TOKEN_MS = 500;

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

/** Creates the empty file `path` (an existing one is fine). An empty file takes no data block: cheaper than mkdir. */
function touchFile(path: string): void {
  closeSync(openSync(path, 'a'));
}

/** Removes the marker `path` (a file, or a directory left by an older build: {@link removeLock}); false when it was not there. */
function removeMarker(path: string): boolean {
  try {
    removeLock(path);
    return true;
  } catch {
    return false;
  }
}

/** The lock file of a queue folder, plus the token and want markers. */
export class FolderLock {
  readonly lockPath: string;
  readonly tokensDir: string;
  readonly wantPath: string;
  private hold: DirHold | undefined;
  /** Inode of the lock file we created: release only that one, never a successor's. */
  private ino = -1;
  private generation = 0;
  private suspect: { id: string; since: number } | undefined;
  /** Set when the lock file's refresh finds the hold lost (its refresh failed or found another owner). */
  compromised = false;

  constructor(private readonly dir: string) {
    this.lockPath = join(dir, 'lock');
    this.tokensDir = join(dir, 'tokens');
    this.wantPath = join(dir, 'want');
  }

  /** One attempt to take the lock file; false when another process holds it. */
  tryLock(stale: number): boolean {
    const gen = ++this.generation;
    try {
      this.hold = lockDir(this.lockPath, {
        stale,
        onCompromised: () => {
          // Only for the hold it was registered with (an abandoned earlier hold's timer may report late).
          if (gen === this.generation) this.compromised = true;
        },
      });
      this.compromised = false;
      this.suspect = undefined; // an old verdict must not carry over to a later, reused lock file
      try {
        this.ino = statSync(this.lockPath).ino;
      } catch {
        this.ino = -1;
      }
      return true;
    } catch (err) {
      if (code(err) === 'ELOCKED') return false;
      throw new QueueError(`cannot lock queue folder ${this.dir}: ${(err as Error).message}`, 'ERR_QUEUE_IO', { cause: err });
    }
  }

  /**
   * Gives the lock file back (best effort; also stops its refresh timer). When the lock file is no
   * longer the one we created (another process took the lock over after it went stale), it is left alone: releasing
   * would remove the new holder's lock. The inode is only a hint (a file system reuses the number of a removed
   * file at once): a holder that knows it was fenced off calls {@link forget} instead.
   */
  unlock(): void {
    const hold = this.hold;
    if (!hold) return;
    let ours = false;
    try {
      ours = statSync(this.lockPath).ino === this.ino;
    } catch {
      ours = false;
    }
    if (!ours) {
      this.forget();
      return;
    }
    this.hold = undefined;
    hold.release();
  }

  /**
   * Drops our hold without touching the lock file: for a holder that was fenced off (its token is gone), whose
   * lock file was therefore removed by whoever took over, so that `lock` now is a successor's whatever its inode.
   * Stops the refresh timer.
   */
  forget(): void {
    const hold = this.hold;
    if (!hold) return;
    this.hold = undefined;
    hold.forget();
  }

  get locked(): boolean {
    return this.hold !== undefined;
  }

  tokenPath(token: string): string {
    return join(this.tokensDir, token);
  }

  createToken(token: string): void {
    try {
      touchFile(this.tokenPath(token));
    } catch (err) {
      if (code(err) !== 'ENOENT') throw err;
      mkdirSync(this.tokensDir, { recursive: true });
      touchFile(this.tokenPath(token));
    }
  }

  hasToken(token: string): boolean {
    return existsSync(this.tokenPath(token));
  }

  /** Removes a token; false when it was gone already (for our own token: we were fenced off). */
  removeToken(token: string): boolean {
    return removeMarker(this.tokenPath(token));
  }

  listTokens(): string[] {
    try {
      return readdirSync(this.tokensDir);
    } catch {
      return [];
    }
  }

  /** Marks that this process waits for the lock. */
  want(): void {
    try {
      touchFile(this.wantPath);
    } catch {
      // the folder is being removed
    }
  }

  wanted(): boolean {
    return existsSync(this.wantPath);
  }

  clearWant(): void {
    removeMarker(this.wantPath);
  }

  /**
   * If the lock file stays held while no live process has a token (every token names a process that is gone,
   * or there is no token at all), removes it so that the next attempt can take the lock at once instead of after
   * `stale` ms. The verdict needs the same lock file (inode and ctime) seen in that state for a while:
   * DEAD_TOKEN_MS when tokens name dead processes, NO_TOKEN_MS when there is none (a holder dies between taking the
   * lock and creating its token, or between removing its token and unlocking), and is forgotten when this process
   * takes the lock. Fencing keeps this safe even if the guess is wrong.
   */
  breakIfHolderDead(): boolean {
    const id = this.lockId();
    if (id === undefined) return false;
    const tokens = this.listTokens();
    if (tokens.some((t) => isOwnerAlive(t))) {
      this.suspect = undefined;
      return false;
    }
    const now = performance.now();
    if (!this.suspect || this.suspect.id !== id) {
      this.suspect = { id, since: now };
      return false;
    }
    if (now - this.suspect.since < (tokens.length === 0 ? NO_TOKEN_MS : DEAD_TOKEN_MS)) return false;
    this.suspect = undefined;
    try {
      if (this.lockId() !== id) return false;
      removeLock(this.lockPath);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Which lock file this is: inode and ctime. Inode numbers are reused at once; the ctime tells two files
   * apart, and also changes when a live holder refreshes the mtime.
   */
  private lockId(): string | undefined {
    try {
      const st = statSync(this.lockPath, { bigint: true });
      return `${st.ino}:${st.ctimeNs}`;
    } catch {
      return undefined;
    }
  }
}
