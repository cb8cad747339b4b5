/**
 * How an idle {@link Worker} waits: on a timer that ends at the next due time, woken at once by the store's in-process
 * signal (a write of this queue by any instance in this process) or by a finished job of its own, and polling the
 * store's cheap commit counter ({@link TaskStore.version}) from 1 ms backing off to {@link MAX_POLL_MS}, so another
 * process's commit (an enqueue, a cancel) is seen within that time at next to no CPU.
 *
 * @module
 * @internal
 */
import { MAX_POLL_MS } from '../common/wait.js';
import type { TaskStore } from './store.js';

/** Why a sleep ended: `'kick'` (the worker woke itself), `'store'` (a write or commit of the queue), `'time'`. */
export type WakeReason = 'kick' | 'store' | 'time';

/** The wake-up handle a sleeping worker leaves behind. */
export interface Sleeper {
  /** Set while sleeping: ends the sleep with `'kick'`. */
  kick: (() => void) | undefined;
  /** True when the sleep should end at once (finished jobs waiting). */
  pending(): boolean;
}

/** Sleeps until `until` (epoch ms), a kick, an in-process write, or another process's commit. */
export async function sleepUntil(store: TaskStore, until: number, s: Sleeper): Promise<WakeReason> {
  const version = await store.version();
  let poll = 1;
  for (;;) {
    // Always wait for at least one timer tick: the store may be synchronous, and a loop of resolved awaits would
    // starve the event loop.
    const left = Math.max(1, until - Date.now());
    if (s.pending()) return 'kick';
    let timer: NodeJS.Timeout | undefined;
    let woken: WakeReason | undefined;
    await new Promise<void>((resolve) => {
      const end = (why: WakeReason): void => {
        if (woken) return;
        woken = why;
        store.signal.off(onSignal);
        clearTimeout(timer);
        resolve();
      };
      const onSignal = (): void => end('store');
      s.kick = () => end('kick');
      store.signal.on(onSignal);
      timer = setTimeout(() => {
        store.signal.off(onSignal);
        resolve();
      }, Math.min(poll, left));
    });
    s.kick = undefined;
    if (woken) return woken;
    if (Date.now() >= until) return 'time';
    if ((await store.version()) !== version) return 'store';
    poll = Math.min(poll * 2, MAX_POLL_MS);
  }
}
