/**
 * Many processes on one queue, with real child processes: exactly-once hand-off with sync and Promise classes mixed,
 * consumers killed with SIGKILL, join() across processes, wake-up latency and idle CPU of a blocked get(), and a
 * process that must exit by itself after close().
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ALL_CLASSES, tempDir, type QueueClass } from './helpers/classes.js';
import { kill9, spawnWorker, startWorker, type Worker } from './helpers/procs.js';

const backends = [...new Set(ALL_CLASSES.map((c) => c.backend))];
const classesOf = (backend: string, ack: boolean): QueueClass[] => ALL_CLASSES.filter((c) => c.backend === backend && c.ack === ack);
const byName = (name: string): QueueClass => ALL_CLASSES.find((c) => c.name === name)!;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

let dir: string;
let cleanup: () => void;
const workers: Worker[] = [];
const start = (job: Record<string, unknown>): Worker => {
  const w = startWorker(job);
  workers.push(w);
  return w;
};

beforeEach(() => {
  ({ dir, cleanup } = tempDir('pq-mp-'));
});
afterEach(async () => {
  for (const w of workers.splice(0)) if (w.child.exitCode === null && w.child.signalCode === null) await kill9(w);
  cleanup();
});

for (const backend of backends) {
  for (const ack of [false, true]) {
    const classes = classesOf(backend, ack);
    if (classes.length === 0) continue;
    // a backend without sync classes (PostgreSQL) runs the mixed tests with its Promise class in every role
    const sync = classes.find((c) => c.flavour === 'sync') ?? classes.find((c) => c.flavour === 'async')!;
    const async = classes.find((c) => c.flavour === 'async')!;

    describe(`${backend} ${ack ? 'ack' : 'plain'} queues across processes`, () => {
      it('4 producers and 4 consumers, sync and Promise mixed: every item delivered exactly once', async () => {
        const loc = sync.location(dir);
        const options = { durability: 'normal' };
        const perProducer = 400;
        const producerJobs = [
          { cls: sync.name },
          { cls: async.name },
          { cls: sync.name, batch: 25 },
          { cls: async.name, concurrent: 16 },
        ];
        const consumers = [sync, async, sync, async].map((c, i) =>
          start({ role: 'consume', cls: c.name, location: loc, options, out: join(dir, `got-${i}.json`) }),
        );
        const producers = producerJobs.map((j, id) => start({ role: 'produce', location: loc, options, count: perProducer, id, ...j }));
        for (const p of producers) expect((await p.exit).code).toBe(0);
        const q = await async.open(loc, options);
        for (let i = 0; i < consumers.length; i++) await q.put('STOP');
        for (const c of consumers) expect((await c.exit).code, c.stderr()).toBe(0);
        const got = consumers.flatMap((_, i) => JSON.parse(readFileSync(join(dir, `got-${i}.json`), 'utf8')) as { p: number; n: number }[]);
        const keys = got.map((g) => `${g.p}:${g.n}`);
        expect(new Set(keys).size).toBe(keys.length);
        expect(keys.length).toBe(producerJobs.length * perProducer);
        // each producer's items arrive in its own order within each consumer (FIFO)
        for (let i = 0; i < consumers.length; i++) {
          const mine = JSON.parse(readFileSync(join(dir, `got-${i}.json`), 'utf8')) as { p: number; n: number }[];
          for (const p of [0, 1, 2, 3]) {
            const ns = mine.filter((g) => g.p === p).map((g) => g.n);
            expect(ns).toEqual([...ns].sort((a, b) => a - b));
          }
        }
        expect(await q.size()).toBe(0);
        await q.close();
      });

      for (const cls of classes) {
        if (ack) {
          it(`${cls.name}: a consumer killed with SIGKILL loses no message`, async () => {
            const loc = cls.location(dir);
            const q = await async.open(loc);
            const all = Array.from({ length: 40 }, (_, i) => `m${i}`);
            await q.putMany(all);
            // the pause between taking and acking is long enough for the kill to land inside it, even on a busy machine
            const w = start({ role: 'slow-consume', cls: cls.name, location: loc, pauseMs: 150 });
            const held = (await w.next<{ took?: string }>((m) => m.took === 'm3')).took!;
            await kill9(w);
            const finished = w.messages.filter((m) => 'finished' in m).map((m) => m.finished as string);
            expect(finished).not.toContain(held);
            const rest: { data: string; attempts: number }[] = [];
            while (rest.length + finished.length < all.length) {
              const m = await q.get({ timeout: 5000 + cls.deadAfterMs });
              rest.push(m);
              await q.ack(m);
            }
            expect([...finished, ...rest.map((m) => m.data)].sort()).toEqual([...all].sort());
            expect(rest.find((m) => m.data === held)?.attempts).toBe(2);
            expect(await q.size()).toBe(0);
            expect(await q.join({ timeout: 2000 })).toBe(true);
            await q.close();
          });
        } else {
          it(`${cls.name} with autoCommit: false: an item taken by a killed consumer is delivered again`, async () => {
            const loc = cls.location(dir);
            const q = await cls.open(loc, { autoCommit: false });
            await q.putMany(['first', 'second']);
            const w = start({ role: 'hold', cls: cls.name, location: loc, options: { autoCommit: false } });
            expect((await w.next<{ held?: string }>((m) => 'held' in m)).held).toBe('first');
            expect(await q.size()).toBe(1);
            expect(await q.join({ timeout: 30 })).toBe(false);
            await kill9(w);
            // the killed consumer's item comes back (within the 1 s sweep), in no promised order
            const again = [await q.get({ timeout: 5000 + cls.deadAfterMs }), await q.get({ timeout: 5000 + cls.deadAfterMs })];
            expect(again.sort()).toEqual(['first', 'second']);
            await q.taskDone();
            await q.taskDone();
            expect(await q.join({ timeout: 2000 })).toBe(true);
            await q.close();
          });

          it(`${cls.name}: join() counts another process's unfinished task, and a killed consumer does not hold it`, async () => {
            const loc = cls.location(dir);
            const q = await cls.open(loc);
            await q.putMany(['a', 'b']);
            const w1 = start({ role: 'hold', cls: cls.name, location: loc });
            await w1.next((m) => 'held' in m);
            const w2 = start({ role: 'hold', cls: cls.name, location: loc });
            await w2.next((m) => 'held' in m);
            expect(await q.size()).toBe(0);
            expect(await q.join({ timeout: 50 })).toBe(false);
            w1.child.send('done');
            await w1.next((m) => 'done' in m);
            expect(await q.join({ timeout: 50 })).toBe(false);
            await kill9(w2);
            expect(await q.join({ timeout: 5000 + cls.deadAfterMs })).toBe(true);
            await q.close();
          });
        }
      }
    });
  }

  describe(`${backend}: waking and idling`, () => {
    for (const cls of ALL_CLASSES.filter((c) => c.backend === backend)) {
      it(`${cls.name}: a blocked get() in another process wakes within 50 ms of a put, using next to no CPU`, async () => {
        const loc = cls.location(dir);
        const putter = await byName(cls.name.replace(/Sync$/, '')).open(loc);
        const latencies: number[] = [];
        const cpu: number[] = [];
        for (let round = 0; round < 3; round++) {
          const w = start({ role: 'wait-get', cls: cls.name, location: loc });
          await w.next((m) => 'waiting' in m);
          await new Promise((r) => setTimeout(r, 300)); // let it settle into the idle back-off
          await putter.put(`r${round}`);
          const putAt = performance.timeOrigin + performance.now();
          const got = await w.next<{ got: string; at: number; cpuMs: number }>((m) => 'got' in m);
          expect(got.got).toBe(`r${round}`);
          latencies.push(got.at - putAt);
          cpu.push(got.cpuMs);
          await w.exit;
        }
        expect(median(latencies)).toBeLessThan(50);
        // ~300 ms of waiting: polling must cost a small fraction of that
        expect(median(cpu)).toBeLessThan(60);
        await putter.close();
      });

      it(`${cls.name}: after close() nothing keeps the process alive`, async () => {
        const w = spawnWorker({ role: 'close-and-exit', cls: cls.name, location: cls.location(dir) });
        const timer = new Promise((r) => setTimeout(() => r('still running'), 10_000));
        const result = await Promise.race([w.exit, timer]);
        if (result === 'still running') w.child.kill('SIGKILL');
        expect(result, w.stderr()).toEqual({ code: 0, signal: null });
      });
    }
  });
}

