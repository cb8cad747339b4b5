/**
 * Retrying a call that failed with a passing lock conflict, with backoff: the one helper behind the sync and Promise
 * shells and the cores' open. The core says what is retryable, and for how long (`QueueCore.retryableFor`). An
 * asynchronous retry's pause ends early when the queue's {@link Signal} is notified (a write in this process, or a
 * release of the lock by another process that the file queues' wake-up channel reports).
 *
 * @module
 */
import { napAsync, sleepSync, type Signal } from './wait.js';

/** For how many ms after `err` the call may be retried; undefined when `err` is not retryable. */
export type RetryableFor = (err: unknown) => number | undefined;

/** Longest pause between two attempts of a synchronous retry (the thread sleeps). */
const SYNC_MAX_PAUSE_MS = 4;
/** Longest pause between two attempts of an asynchronous retry (on timers). */
const ASYNC_MAX_PAUSE_MS = 20;

/** Runs `fn`, retrying it (sleeping the thread between attempts) while it fails with what `retryable` accepts. */
export function retrySync<R>(fn: () => R, retryable: RetryableFor): R {
  let deadline: number | undefined;
  let pause = 1;
  for (;;) {
    try {
      return fn();
    } catch (err) {
      const allowed = retryable(err);
      if (allowed === undefined) throw err;
      deadline ??= performance.now() + allowed;
      const left = deadline - performance.now();
      if (left <= 0) throw err;
      sleepSync(Math.min(pause, left));
      pause = Math.min(pause * 2, SYNC_MAX_PAUSE_MS);
    }
  }
}

/** Options of {@link retryAsync}. */
export interface RetryAsyncOptions {
  /** The error of an attempt already made (then `fn` is retried, not called at once). */
  failed?: { err: unknown };
  /** Checked before each retry: true stops retrying (the last error is thrown). */
  stop?: () => boolean;
  /** Ends a pause early when notified (the queue's signal, rung by the file queues' wake-up channel). */
  signal?: Pick<Signal, 'on' | 'off'>;
}

/** Runs `fn`, retrying it on timers while it fails with what `retryable` accepts. */
export async function retryAsync<R>(fn: () => R | Promise<R>, retryable: RetryableFor, options: RetryAsyncOptions = {}): Promise<R> {
  let deadline: number | undefined;
  let pause = 1;
  let err: unknown;
  if (options.failed) err = options.failed.err;
  else {
    try {
      return await fn();
    } catch (e) {
      err = e;
    }
  }
  for (;;) {
    const allowed = retryable(err);
    if (allowed === undefined || options.stop?.()) throw err;
    deadline ??= performance.now() + allowed;
    const left = deadline - performance.now();
    if (left <= 0) throw err;
    const woken = await napAsync(Math.min(pause, left), options.signal);
    pause = woken ? 1 : Math.min(pause * 2, ASYNC_MAX_PAUSE_MS);
    try {
      return await fn();
    } catch (e) {
      err = e;
    }
  }
}
