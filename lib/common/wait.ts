/**
 * The waiting machinery behind blocking `get()`, `put()` into a full queue and `join()`.
 *
 * A queue's core exposes non-blocking attempts that either produce a result or return {@link RETRY}. The sync shells
 * run them through {@link waitSync}, which sleeps the thread between attempts (`Atomics.wait`, no spinning); the
 * Promise shells run them through {@link AsyncWaits}, which sleeps on a timer and is woken at once by a
 * {@link Signal} raised by any queue instance of this process that writes the same queue. Another process's writes
 * are seen by the next poll: polls start at 1 ms and back off to {@link MAX_POLL_MS}, so a waiter sees a foreign put
 * within that time while costing next to no CPU (the cores make a repeated attempt cheap when nothing changed). A
 * backend may wake a Promise class's waiters sooner when another process signals, through the {@link Signal} (the file
 * queues' wake-up channel, lib/file-queue/wake.ts); the polls stay as the backstop, so a lost wake-up costs time,
 * never correctness.
 *
 * @module
 */
import { QueueClosedError } from './errors.js';

/** Returned by a core attempt that found nothing to do yet. */
export const RETRY: unique symbol = Symbol('persist-queue.retry');
/** The type of {@link RETRY}. */
export type Retry = typeof RETRY;

/** Longest sleep between two attempts, so another process's change is seen within this many ms. */
export const MAX_POLL_MS = 20;
const MIN_POLL_MS = 1;

/** A process-wide wake-up for one queue (one file and table, or one directory). */
export class Signal {
  private readonly listeners = new Set<() => void>();
  /** Wakes every waiter of this queue in this process. */
  notify(): void {
    if (this.listeners.size === 0) return;
    for (const fn of [...this.listeners]) fn();
  }
  /** @internal */
  on(fn: () => void): void {
    this.listeners.add(fn);
  }
  /** @internal */
  off(fn: () => void): void {
    this.listeners.delete(fn);
  }
}

const signals = new Map<string, { signal: Signal; refs: number }>();

/** The process-wide {@link Signal} for a queue identity; call {@link releaseSignal} when the instance closes. */
export function acquireSignal(key: string): Signal {
  let entry = signals.get(key);
  if (!entry) {
    entry = { signal: new Signal(), refs: 0 };
    signals.set(key, entry);
  }
  entry.refs++;
  return entry.signal;
}

/** Drops one reference taken by {@link acquireSignal}. */
export function releaseSignal(key: string): void {
  const entry = signals.get(key);
  if (entry && --entry.refs <= 0) signals.delete(key);
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the thread for `ms` milliseconds without using the CPU. */
export function sleepSync(ms: number): void {
  if (ms > 0) Atomics.wait(sleepCell, 0, 0, ms);
}

/** What to do when a wait runs out. */
export interface WaitOptions {
  /** Milliseconds the call may wait in all: 0 = one attempt, Infinity = no limit. */
  timeout: number;
  /** Builds the error thrown when the time is up (e.g. a QueueEmptyError). */
  onTimeout: () => Error;
  /**
   * Called before each sleep of a Promise class's wait (not before a call that will not sleep, such as a zero
   * timeout): a backend may arrange to be woken early (`QueueCore.willWait`).
   */
  willSleep?: () => void;
}

/**
 * Runs `attempt` until it returns something other than {@link RETRY}, sleeping between attempts.
 * Used by every sync class.
 */
export function waitSync<R>(attempt: () => R | Retry, options: WaitOptions): R {
  const first = attempt();
  if (first !== RETRY) return first;
  const deadline = performance.now() + options.timeout;
  let poll = MIN_POLL_MS;
  for (;;) {
    const left = deadline - performance.now();
    if (left <= 0) throw options.onTimeout();
    sleepSync(Math.min(poll, left));
    poll = Math.min(poll * 2, MAX_POLL_MS);
    const r = attempt();
    if (r !== RETRY) return r;
  }
}

/**
 * Sleeps up to `ms` on a timer, or until `signal` is notified; resolves true when
 * woken by the signal. For short waits that need no cancelling (lock-conflict retries).
 */
export function napAsync(ms: number, signal?: Pick<Signal, 'on' | 'off'>): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const done = (woken: boolean): void => {
      clearTimeout(timer);
      signal?.off(wake);
      resolve(woken);
    };
    const wake = (): void => done(true);
    const timer = setTimeout(done, ms, false);
    signal?.on(wake);
  });
}

interface Sleeper {
  wake(): void;
  fail(err: Error): void;
}

/**
 * The Promise twin of {@link waitSync}, one per queue instance. It keeps track of the sleeping calls so that
 * `close()` can end them ({@link AsyncWaits.closeAll}) and leave no timer behind.
 */
export class AsyncWaits {
  private readonly sleepers = new Set<Sleeper>();
  private closedError: Error | undefined;

  /** @param signal - the queue's process-wide signal; a notify wakes every sleeper at once */
  constructor(private readonly signal: Pick<Signal, 'on' | 'off'>) {}

  /**
   * Runs `attempt` until it returns something other than {@link RETRY}.
   * @param first - the result of a first attempt the caller already made (then `attempt` is not called at once)
   */
  async run<R>(
    attempt: () => R | Retry | Promise<R | Retry>,
    options: WaitOptions,
    first?: { value: R | Retry | Promise<R | Retry> },
  ): Promise<R> {
    const r0 = await (first ? first.value : attempt());
    if (r0 !== RETRY) return r0;
    const deadline = performance.now() + options.timeout;
    let poll = MIN_POLL_MS;
    for (;;) {
      if (this.closedError) throw this.closedError;
      const left = deadline - performance.now();
      if (left <= 0) throw options.onTimeout();
      options.willSleep?.();
      const woken = await this.sleep(Math.min(poll, left));
      poll = woken ? MIN_POLL_MS : Math.min(poll * 2, MAX_POLL_MS);
      const r = await attempt();
      if (r !== RETRY) return r;
    }
  }

  /** Sleeps up to `ms`; resolves true when woken by the signal, false on the timer. */
  private sleep(ms: number): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const sleeper: Sleeper = {
        wake: () => done(true),
        fail: (err) => {
          cleanup();
          reject(err);
        },
      };
      const cleanup = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        this.signal.off(sleeper.wake);
        this.sleepers.delete(sleeper);
      };
      const done = (woken: boolean): void => {
        cleanup();
        resolve(woken);
      };
      this.sleepers.add(sleeper);
      this.signal.on(sleeper.wake);
      timer = setTimeout(done, ms, false);
    });
  }

  /** Ends every sleeping call with `err` (default {@link QueueClosedError}); later waits fail at once. */
  closeAll(err: Error = new QueueClosedError()): void {
    this.closedError = err;
    for (const s of [...this.sleepers]) s.fail(err);
  }
}
