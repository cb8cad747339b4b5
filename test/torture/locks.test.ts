/**
 * Torture 4: locks (SQLite: SQLite's own write lock). A process killed with SIGKILL while it holds an open
 * BEGIN IMMEDIATE transaction must not stop anyone (others proceed at once, nothing of the dead transaction shows),
 * and a holder that stalls longer than an instance's busyTimeout must make that instance's calls fail with
 * QueueLockedError (ERR_QUEUE_LOCKED) after about busyTimeout, never with a raw SQLITE_BUSY; a Promise class must
 * keep its event loop free meanwhile (a 5 ms setInterval keeps ticking), also while opening.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { caught, SQLITE_CLASSES, tempDir, type AnyQueue } from '../helpers/classes.js';
import { drain, kill9, lib, sleep, spawnChild, waitForOutput, workerPath, type Child } from './helpers.js';

const HOLDER = workerPath('sqlite-holder.mjs');

let dir: string;
let cleanup: () => void;
const kids: Child[] = [];
beforeEach(() => ({ dir, cleanup } = tempDir('pq-torture-locks-')));
afterEach(async () => {
  for (const c of kids.splice(0)) await kill9(c);
  cleanup();
});

/** Measures the longest gap between ticks of a 5 ms interval while `fn` runs. */
async function loopGap<R>(fn: () => Promise<R>): Promise<{ result: R | Error; ms: number; maxGap: number }> {
  let last = performance.now();
  let maxGap = 0;
  const iv = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 5);
  const t0 = performance.now();
  let result: R | Error;
  try {
    result = await fn();
  } catch (err) {
    result = err as Error;
  }
  const ms = performance.now() - t0;
  await sleep(20); // let a tick measure a blocked stretch that ended with fn
  clearInterval(iv);
  return { result, ms, maxGap };
}

function expectLocked(err: unknown, what: string): void {
  expect(err, what).toBeInstanceOf(lib.QueueLockedError);
  const e = err as InstanceType<typeof lib.QueueLockedError>;
  expect(e.code, what).toBe('ERR_QUEUE_LOCKED');
  expect(String((e.cause as { code?: string })?.code), what).toMatch(/^SQLITE_BUSY/);
}

for (const cls of SQLITE_CLASSES) {
  const table = cls.ack ? 'ack_queue_default' : 'queue_default';

  describe(`locks: ${cls.name}`, () => {
    const holder = async (file: string, holdMs?: number): Promise<Child> => {
      const c = spawnChild({ file, table, ack: cls.ack, holdMs }, { script: HOLDER, timeoutMs: 60_000 });
      kids.push(c);
      await waitForOutput(c, (o) => o.includes('held'));
      return c;
    };

    it('a holder killed with SIGKILL inside BEGIN IMMEDIATE: others proceed at once, its writes never show', async () => {
      const file = join(dir, 'q.db');
      const q: AnyQueue = await cls.open(file, { busyTimeout: 5000 });
      await q.putMany(['a', 'b']);
      const h = await holder(file);
      // A Promise instance's put starts while the lock is held and must finish right after the kill.
      const pending = cls.flavour === 'async' ? q.put('c') : undefined;
      await sleep(50);
      await kill9(h);
      const t0 = performance.now();
      if (pending) await pending;
      else await q.put('c');
      const q2: AnyQueue = await cls.open(file, { busyTimeout: 5000 });
      expect(await q2.size()).toBe(3);
      expect(performance.now() - t0).toBeLessThan(2500);
      const items = await drain(cls, q2);
      expect(items).toEqual(['a', 'b', 'c']);
      await q.close();
      await q2.close();
    });

    it('a holder that stalls past busyTimeout: QueueLockedError after about busyTimeout, never a raw SQLITE_BUSY', async () => {
      const file = join(dir, 'q.db');
      // Long enough that an event loop blocked for the whole wait stands out from scheduling noise on a busy machine.
      const busyTimeout = 600;
      const q: AnyQueue = await cls.open(file, { busyTimeout });
      await q.put('before');
      const h = await holder(file, 20_000);
      const calls: [string, () => unknown][] = [
        ['put', () => q.put('x')],
        ['putMany', () => q.putMany(['x', 'y'])],
        ['get', () => q.get({ timeout: 50 })],
        ['open', () => cls.open(file, { busyTimeout })],
      ];
      for (const [what, call] of calls) {
        const { result, ms, maxGap } = await loopGap(async () => call());
        expectLocked(result, what);
        expect(ms, what).toBeGreaterThanOrEqual(busyTimeout * 0.8);
        expect(ms, what).toBeLessThan(busyTimeout + 3000);
        if (cls.flavour === 'async') expect(maxGap, `${what}: event loop blocked for ${Math.round(maxGap)} ms`).toBeLessThan(busyTimeout / 2);
      }
      // Reads go on while a writer holds the lock (WAL).
      expect(await q.size()).toBe(1);
      await kill9(h);
      expect(await q.size()).toBe(1);
      expect(await drain(cls, q)).toEqual(['before']);
      await q.close();
    });

    it('close() of an instance holding items while another process stalls the lock: event loop free, items come back', async () => {
      const file = join(dir, 'q.db');
      const q: AnyQueue = await cls.open(file, { busyTimeout: 600, ...(cls.ack ? {} : { autoCommit: false }) });
      await q.putMany(['held', 'waiting']);
      await q.get();
      const h = await holder(file, 20_000);
      const { result, maxGap } = await loopGap(async () => q.close());
      expect(result).toBeUndefined();
      if (cls.flavour === 'async') expect(maxGap, `event loop blocked for ${Math.round(maxGap)} ms`).toBeLessThan(300);
      await kill9(h);
      const q2: AnyQueue = await cls.open(file);
      const back: unknown[] = [];
      const t0 = performance.now();
      while (back.length < 2 && performance.now() - t0 < 5000) {
        try {
          const g = await q2.get({ timeout: 200 });
          back.push(cls.ack ? g.data : g);
          if (cls.ack) await q2.ack(g);
          else await q2.taskDone();
        } catch (err) {
          if (!(err instanceof lib.QueueEmptyError)) throw err;
        }
      }
      expect(back.sort()).toEqual(['held', 'waiting']);
      await q2.close();
    });

    it('open() while another process holds the write lock briefly: waits it out (Promise class: on timers)', async () => {
      const file = join(dir, 'q.db');
      const q0: AnyQueue = await cls.open(file);
      await q0.close();
      await holder(file, 700);
      const { result, ms, maxGap } = await loopGap(async () => cls.open(file, { busyTimeout: 10_000 }));
      expect(result).not.toBeInstanceOf(Error);
      expect(ms).toBeGreaterThanOrEqual(400);
      if (cls.flavour === 'async') expect(maxGap, `event loop blocked for ${Math.round(maxGap)} ms`).toBeLessThan(300);
      const q = result as AnyQueue;
      await q.put('after');
      expect(await drain(cls, q)).toEqual(['after']);
      await q.close();
    });
  });
}
