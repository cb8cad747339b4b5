/**
 * The fencing protocol on top of the folder lock (docs/format.md, "Locking and fencing", steps 1 to 4): a hold of
 * the lock with this thread's token, fencing off a previous holder that did not give the lock back, token checks
 * before and after writes, and giving the lock up without ever removing a successor's lock.
 *
 * @module
 */
import { QueueLockedError } from '../common/errors.js';
import { sleepSync } from '../common/wait.js';
import type { FolderLock } from './lock.js';

/** A fencer waits this long after removing another holder's token before it touches the log (FENCE_WAIT). */
const FENCE_WAIT_MS = 50;
/** A holder re-checks that its token still exists at least this often (must stay below FENCE_WAIT_MS). */
const TOKEN_CHECK_MS = 20;
/** Look for a dead lock holder at most this often while waiting. */
const DEAD_CHECK_MS = 25;

/** Internal: this thread's hold on the log was taken over; the operation did not happen and is retried. */
export class Fenced extends Error {}

/** A passing lock conflict; the shells retry it (see QueueCore.retryableFor). */
export class LockBusyError extends QueueLockedError {}

/** What an attempt to take the lock came to. */
export type Acquired =
  /** Not taken (held by another process, or this one yields for a moment, or its fence wait is not over). */
  | 'busy'
  /** Taken; the previous holder gave it back cleanly. */
  | 'clean'
  /** Taken after fencing a previous holder off: the caller ends the last segment (END, fence) before anything else. */
  | 'fence';

/** One thread's hold of a folder lock, with its fencing token. */
export class FencedHold {
  /** The lock is held and caught up with: the log may be written. */
  held = false;
  heldSince = 0;
  /** Do not take the lock before this time (after yielding it to a waiter). */
  yieldUntil = 0;
  private lastCheck = 0;
  private lastDeadCheck = 0;
  /** Our token was created for the current hold (so its absence means we were fenced off). */
  private tokenMade = false;
  /** Set while this process owes a fence: it removed another holder's token and may touch the log from then on. */
  private fenceDue: number | undefined;

  constructor(
    readonly lock: FolderLock,
    private readonly token: string,
  ) {}

  /**
   * One attempt to take the lock (step 1). With `waitFence` a fence wait is slept here; without, the attempt returns
   * 'busy' until the wait is over (the caller is retried on timers).
   */
  acquire(stale: number, waitFence: boolean): Acquired {
    const now = performance.now();
    const lock = this.lock;
    if (lock.locked && !this.held && lock.compromised) lock.unlock(); // taken over while we waited
    let fenced: boolean;
    if (lock.locked && !this.held) {
      // We took the lock and fenced a previous holder off, and waited out FENCE_WAIT_MS on timers.
      if (now < (this.fenceDue ?? 0)) return 'busy';
      fenced = true;
    } else {
      if (now < this.yieldUntil) return 'busy';
      if (!lock.tryLock(stale)) {
        lock.want();
        if (now - this.lastDeadCheck >= DEAD_CHECK_MS) {
          this.lastDeadCheck = now;
          if (lock.breakIfHolderDead()) return this.acquire(stale, waitFence);
        }
        return 'busy';
      }
      try {
        const t0 = performance.now();
        lock.createToken(this.token);
        this.tokenMade = true;
        this.lastCheck = t0;
        for (const other of lock.listTokens()) {
          if (other === this.token) continue;
          lock.removeToken(other);
          this.fenceDue = Math.max(this.fenceDue ?? 0, performance.now() + FENCE_WAIT_MS);
        }
        // fenceDue may also be left from a fence this process owed and did not finish (see release).
        fenced = this.fenceDue !== undefined;
        if (fenced) {
          const left = this.fenceDue! - performance.now();
          if (left > 0 && !waitFence) return 'busy';
          sleepSync(left);
        }
      } catch (err) {
        this.release();
        throw err;
      }
    }
    lock.clearWant();
    this.held = true;
    this.heldSince = performance.now();
    return fenced ? 'fence' : 'clean';
  }

  /** The fence is written (END, fence): nothing is owed any more. */
  fenceDone(): void {
    this.fenceDue = undefined;
  }

  /** Throws Fenced unless our token still exists (before destructive steps: step 3). */
  check(): void {
    const t = performance.now();
    if (!this.lock.hasToken(this.token)) throw new Fenced();
    this.lastCheck = t;
  }

  /** Before a write (step 2): throws Fenced if not held, or if the last check is stale and the token is gone. */
  checkBeforeWrite(): void {
    if (!this.held) throw new Fenced();
    if (performance.now() - this.lastCheck >= TOKEN_CHECK_MS) this.check();
  }

  /** After a write (step 2): false when the last check was stale and the token is gone now. */
  confirmAfterWrite(): boolean {
    if (performance.now() - this.lastCheck < TOKEN_CHECK_MS) return true;
    const t = performance.now();
    if (!this.lock.hasToken(this.token)) return false;
    this.lastCheck = t;
    return true;
  }

  /** Whether our token is gone (we were fenced off). */
  tokenGone(): boolean {
    return !this.lock.hasToken(this.token);
  }

  /** Gives the lock up cleanly (step 4): token first (nobody needs to fence us), then the lock. */
  release(): void {
    if (!this.held && !this.lock.locked) return;
    const fenceOwed = this.fenceDue !== undefined;
    this.held = false;
    // A fence not finished yet (its END not written) must not be forgotten: our token stays, so whoever takes the
    // lock next fences (waits, writes END) in our place; fenceDue stays, so do we if we come back first.
    const tokenGone = fenceOwed ? !this.lock.hasToken(this.token) : !this.lock.removeToken(this.token);
    this.dropLock(tokenGone);
  }

  /** The hold was taken over: forget it (the fencer removed our token); the next call acquires again. */
  lost(): void {
    this.held = false;
    this.dropLock(!this.lock.hasToken(this.token));
  }

  /**
   * Lets the lock go. Our token gone (`tokenGone`, for a hold we made a token for) means we were fenced off: whoever
   * removed it took the lock after ours was broken, so lock/ is not ours and is never removed, whatever its inode
   * number (docs/format.md, "Failures found and fixed", 4). Otherwise the lock is given back as usual.
   */
  private dropLock(tokenGone: boolean): void {
    if (tokenGone && this.tokenMade) this.lock.forget();
    else this.lock.unlock();
    this.tokenMade = false;
  }
}
