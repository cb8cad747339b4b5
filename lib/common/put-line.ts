/**
 * The write line of a Promise queue instance: every `put()` and `putMany()` joins one line and commits in call order
 * (SPEC guarantee 9), whatever the durability. Consecutive puts share a commit (group commit: one transaction, one
 * fsync); a `putMany()` commits on its own, all or nothing, between the puts called before and after it. When the
 * queue is full (`maxSize`) the line stops at its head: nothing called later overtakes a put that waits for room,
 * a later call whose own wait is shorter (`block: false`, a smaller `timeout`) fails with QueueFullError when its
 * time is up, and room is awaited without spinning (woken by this process's writes, polling for other processes').
 * The sync classes need none of this: their calls commit one at a time, in call order.
 *
 * @module
 */
import type { PutEntry } from './core.js';
import { QueueClosedError, QueueFullError } from './errors.js';
import { MAX_POLL_MS, RETRY, type Retry, type Signal } from './wait.js';

type Ids = (number | null)[];
type MaybeAsync<X> = X | Promise<X>;

interface Unit {
  entries: PutEntry[];
  /** A putMany (all or nothing, resolves with the ids) rather than a put (resolves with one id). */
  many: boolean;
  /** performance.now() after which the unit fails with QueueFullError if it still has no room. */
  deadline: number;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/** How a {@link PutLine} commits. Both may answer synchronously or with a Promise. */
export interface PutLineCommits {
  /** Puts, in order, as many as fit: an id (or null) per entry, Retry for the entries past the room (a suffix). */
  batch(entries: PutEntry[]): MaybeAsync<(number | null | Retry)[]>;
  /** A putMany: all the entries, or Retry when they do not all fit now. */
  many(entries: PutEntry[]): MaybeAsync<Ids | Retry>;
  /** The head is about to sleep waiting for room (see `QueueCore.willWait`). */
  willWait?(): void;
}

const resolved = Promise.resolve();

/** See the module comment. */
export class PutLine {
  private line: Unit[] = [];
  private scheduled = false;
  private running: Promise<void> | undefined;
  /** Set while the head waits for room: calls that must not overtake puts (gets) need not wait for those. */
  private stalled = false;
  private idle: (() => void)[] = [];
  private closed = false;
  private wakeNap: (() => void) | undefined;

  /**
   * @param commits - how to write a batch of puts and a putMany
   * @param signal - the queue's process-wide signal (a write by any instance may have made room)
   * @param deferToImmediate - wait for `setImmediate` before committing (more puts join the batch; use when a commit
   *   costs an fsync), instead of a microtask
   */
  constructor(
    private readonly commits: PutLineCommits,
    private readonly signal: Signal,
    private readonly deferToImmediate: boolean,
  ) {}

  /** A put: resolves with its id (null for a dropped duplicate). `wait`: ms it may wait for room. */
  put(entry: PutEntry, wait: number): Promise<number | null> {
    return this.join([entry], false, wait) as Promise<number | null>;
  }

  /** A putMany: resolves with its ids. */
  putMany(entries: PutEntry[], wait: number): Promise<Ids> {
    return this.join(entries, true, wait) as Promise<Ids>;
  }

  private join(entries: PutEntry[], many: boolean, wait: number): Promise<unknown> {
    if (this.closed) return Promise.reject(new QueueClosedError());
    return new Promise((resolve, reject) => {
      this.line.push({ entries, many, deadline: performance.now() + wait, resolve, reject });
      this.schedule();
    });
  }

  /**
   * For a call that must see the puts called before it (a get): undefined when no put is waiting to commit, else a
   * Promise that resolves once they are committed or the line waits for room.
   */
  settled(): Promise<void> | undefined {
    if (this.line.length === 0 || this.stalled) return undefined;
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /**
   * Stops taking puts. What can be committed now still is; a put that waits for room fails with QueueClosedError.
   * Resolves when the line is empty.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.wakeNap?.();
    while (this.running || this.line.length > 0) {
      if (!this.running) this.start();
      await this.running;
    }
  }

  private schedule(): void {
    if (this.scheduled || this.running) return;
    this.scheduled = true;
    const go = (): void => {
      this.scheduled = false;
      if (!this.running) this.start();
    };
    if (this.deferToImmediate) setImmediate(go);
    // A plain Promise job, not queueMicrotask(): Node's queueMicrotask wraps every callback in a new AsyncResource.
    else void resolved.then(go);
  }

  private start(): void {
    const run = this.pump();
    this.running = run;
    void run.finally(() => {
      if (this.running === run) this.running = undefined;
      if (this.line.length > 0 && !this.closed) this.schedule();
      else this.release();
    });
  }

  /** Commits the line in order; an async function that only awaits a commit that is itself async. */
  private async pump(): Promise<void> {
    let poll = 1;
    while (this.line.length > 0) {
      const head = this.line[0]!;
      let blocked: boolean;
      if (head.many) {
        let r: Ids | Retry;
        try {
          const x = this.commits.many(head.entries);
          r = isThenable(x) ? await x : x;
        } catch (err) {
          this.line.shift();
          head.reject(err);
          continue;
        }
        blocked = r === RETRY;
        if (!blocked) {
          this.line.shift();
          head.resolve(r);
        }
      } else {
        let n = 1;
        while (n < this.line.length && !this.line[n]!.many) n++;
        const batch = this.line.slice(0, n);
        let r: (number | null | Retry)[];
        try {
          const x = this.commits.batch(batch.map((u) => u.entries[0]!));
          r = isThenable(x) ? await x : x;
        } catch (err) {
          this.line.splice(0, n);
          for (const u of batch) u.reject(err);
          continue;
        }
        let k = 0;
        while (k < n && r[k] !== RETRY) k++;
        this.line.splice(0, k);
        for (let i = 0; i < k; i++) batch[i]!.resolve(r[i]);
        blocked = k < n;
      }
      if (!blocked) {
        poll = 1;
        continue;
      }
      // The head has no room: fail what is out of time, then sleep until a write or the next poll or deadline.
      this.expire(this.closed ? new QueueClosedError() : undefined);
      if (this.line.length === 0) break;
      this.stalled = true;
      this.release();
      const due = Math.min(...this.line.map((u) => u.deadline)) - performance.now();
      this.commits.willWait?.();
      const woken = await this.nap(Math.max(0, Math.min(poll, due)));
      this.stalled = false;
      poll = woken ? 1 : Math.min(poll * 2, MAX_POLL_MS);
    }
    this.release();
  }

  /** Fails the units whose time is up (all of them with `err` when given). */
  private expire(err?: Error): void {
    const now = performance.now();
    const keep: Unit[] = [];
    for (const u of this.line) {
      if (err) u.reject(err);
      else if (u.deadline <= now) u.reject(new QueueFullError());
      else keep.push(u);
    }
    this.line = keep;
  }

  private release(): void {
    const waiting = this.idle;
    this.idle = [];
    for (const fn of waiting) fn();
  }

  /** Sleeps up to `ms`; true when woken by a write to the queue (or close), false on the timer. */
  private nap(ms: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const done = (woken: boolean): void => {
        clearTimeout(timer);
        this.signal.off(wake);
        this.wakeNap = undefined;
        resolve(woken);
      };
      const wake = (): void => done(true);
      const timer = setTimeout(done, ms, false);
      this.signal.on(wake);
      this.wakeNap = wake;
    });
  }
}

/** Whether `v` is a Promise (or another thenable). */
export function isThenable<X>(v: X | Promise<X>): v is Promise<X> {
  return typeof (v as { then?: unknown })?.then === 'function';
}
