/**
 * File queues under process crashes, with real child processes: producers and consumers killed with SIGKILL at
 * random points, a lock holder killed while it holds the lock, and a lock holder stalled (SIGSTOP) for longer than
 * the lock's stale time and then resumed (fencing).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as lib from '../dist/esm/file.js';
import { io } from '../dist/esm/file-queue/io.js';
import { tempDir } from './helpers/classes.js';

const WORKER = fileURLToPath(new URL('./workers/file-worker.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Child {
  proc: ChildProcess;
  out: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
}

let dir: string;
let cleanup: () => void;
const children: Child[] = [];

beforeEach(() => {
  ({ dir, cleanup } = tempDir('pq-file-proc-'));
});
afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.proc.exitCode === null && c.proc.signalCode === null) {
      c.proc.kill('SIGCONT');
      c.proc.kill('SIGKILL');
      await c.exit;
    }
  }
  cleanup();
});

let seq = 0;
function start(job: Record<string, unknown>): Child {
  const out = join(dir, `log-${seq++}.txt`);
  const proc = spawn(process.execPath, [WORKER, JSON.stringify({ out, ...job })], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d) => (err += String(d)));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  const c = { proc, out, exit, stderr: () => err };
  children.push(c);
  return c;
}

async function kill9(c: Child): Promise<void> {
  c.proc.kill('SIGKILL');
  await c.exit;
}

/** Complete lines of a child's log. */
function lines(c: Child): string[] {
  if (!existsSync(c.out)) return [];
  const text = readFileSync(c.out, 'utf8');
  return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter((l) => l.length > 0);
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Takes everything left (items of dead holders come back within the 1 s sweep). */
async function drainAll(q: lib.FileQueue<{ p: number; n: number }>): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    try {
      const m = await q.get({ timeout: 1500 });
      out.push(`${m.p}:${m.n}`);
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_QUEUE_EMPTY') return out;
      throw err;
    }
  }
}

describe('file queue: SIGKILL at random points', () => {
  for (const autoCommit of [true, false]) {
    it(`producers and consumers killed and restarted (autoCommit ${autoCommit}): every returned put is there, each item once${autoCommit ? '' : ' or redelivered'}`, async () => {
      const q0 = join(dir, 'queue');
      const options = { durability: 'normal', autoCommit, segmentBytes: 16 * 1024 };
      let nextId = 0;
      const producers: { c: Child; id: number }[] = [];
      const consumers: Child[] = [];
      const all: { c: Child; id: number; kind: 'p' | 'c' }[] = [];
      const startProducer = (i: number): void => {
        const id = nextId++;
        const c = start({ role: 'produce', cls: i % 2 ? 'FileQueue' : 'FileQueueSync', dir: q0, options, id, pad: 50, batch: i % 3 === 2 ? 5 : undefined });
        producers[i] = { c, id };
        all.push({ c, id, kind: 'p' });
      };
      const startConsumer = (i: number): void => {
        const c = start({ role: 'consume', cls: i % 2 ? 'FileQueueSync' : 'FileQueue', dir: q0, options });
        consumers[i] = c;
        all.push({ c, id: -1, kind: 'c' });
      };
      for (let i = 0; i < 3; i++) startProducer(i);
      for (let i = 0; i < 2; i++) startConsumer(i);
      let consumerKills = 0;
      const rnd = mulberry(autoCommit ? 7 : 11);
      for (let round = 0; round < 12; round++) {
        await sleep(150 + rnd() * 200);
        if (rnd() < 0.5) {
          const i = Math.floor(rnd() * producers.length);
          await kill9(producers[i]!.c);
          startProducer(i);
        } else {
          const i = Math.floor(rnd() * consumers.length);
          await kill9(consumers[i]!);
          consumerKills++;
          startConsumer(i);
        }
      }
      for (const p of producers) await kill9(p.c);
      await sleep(300);
      for (const c of consumers) await kill9(c);
      for (const x of all) expect(x.c.stderr()).toBe('');

      const q = await lib.FileQueue.open<{ p: number; n: number }>(q0, { durability: 'off' });
      const rest = await drainAll(q);
      await q.close();
      const consumed = all.filter((x) => x.kind === 'c').flatMap((x) => lines(x.c));
      const seen = [...consumed, ...rest];
      const counts = new Map<string, number>();
      for (const k of seen) counts.set(k, (counts.get(k) ?? 0) + 1);
      const acked = all.filter((x) => x.kind === 'p').flatMap((x) => lines(x.c).map((n) => `${x.id}:${n}`));
      expect(acked.length).toBeGreaterThan(100);
      const missing = acked.filter((k) => !counts.has(k));
      const dups = [...counts].filter(([, n]) => n > 1);
      if (autoCommit) {
        // A consumer killed between get() returning and logging loses that one item from our view, never more.
        expect(missing.length).toBeLessThanOrEqual(consumerKills);
        expect(dups).toEqual([]);
      } else {
        // At-least-once: nothing missing; an item is repeated only if its consumer was killed before taskDone().
        expect(missing).toEqual([]);
        expect(dups.length).toBeLessThanOrEqual(consumerKills);
        for (const [, n] of dups) expect(n).toBe(2);
      }
      // Only real items: every key seen belongs to a producer's sequence.
      for (const k of seen) expect(k).toMatch(/^\d+:\d+$/);
    });
  }
});

describe('file queue: lock holders that die or stall', () => {
  it('a producer killed while it holds the lock does not block the queue until the stale time', async () => {
    const q0 = join(dir, 'queue');
    const p = start({ role: 'produce', cls: 'FileQueueSync', dir: q0, options: { durability: 'off' }, id: 0 });
    await until(() => lines(p).length > 2000);
    await kill9(p); // almost certainly inside its hot loop, holding the lock
    const t0 = performance.now();
    const q = lib.FileQueueSync.open<{ p: number; n: number }>(q0, { durability: 'off', lockTimeout: 5000 });
    q.put({ p: 9, n: 0 });
    const took = performance.now() - t0;
    expect(took).toBeLessThan(2000); // the default stale time is 10 s: the dead holder was recognised
    const acked = lines(p).map((n) => `0:${n}`);
    const got = (q.getMany(1_000_000, { block: false }) as { p: number; n: number }[]).map((m) => `${m.p}:${m.n}`);
    q.close();
    const set = new Set(got);
    expect(set.size).toBe(got.length);
    for (const k of acked) expect(set.has(k)).toBe(true);
    expect(got[got.length - 1]).toBe('9:0');
  });

  it('a producer and a consumer stalled past the stale time are fenced off: no lost put, no double delivery', async () => {
    const q0 = join(dir, 'queue');
    const options = { durability: 'off', lockStale: 2000, segmentBytes: 64 * 1024 };
    const seed = lib.FileQueueSync.open(q0, options);
    for (let n = 0; n < 3000; n++) seed.put({ p: 100, n });
    seed.close();
    const prod = start({ role: 'produce', cls: 'FileQueueSync', dir: q0, options, id: 1 });
    const cons = start({ role: 'consume', cls: 'FileQueueSync', dir: q0, options });
    await until(() => lines(prod).length > 500 && lines(cons).length > 500);
    prod.proc.kill('SIGSTOP');
    cons.proc.kill('SIGSTOP');
    // The parent takes the lock once it is stale, fences the stalled holder, and works.
    const q = await lib.FileQueue.open<{ p: number; n: number }>(q0, { ...options, lockTimeout: 15_000 });
    const mine: string[] = [];
    for (let i = 0; i < 200; i++) {
      await q.put({ p: 2, n: i });
      const m = await q.get();
      mine.push(`${m.p}:${m.n}`);
      await q.taskDone();
    }
    prod.proc.kill('SIGCONT');
    cons.proc.kill('SIGCONT');
    const before = [lines(prod).length, lines(cons).length];
    // Both resumed children make progress. They used to stall in about one run in ten (CI-like full runs): fenced
    // off, a resumed child removed its fencer's lock/ (same inode number) and the two fenced each other without end
    // (docs/format.md, "Failures found and fixed").
    await until(() => lines(prod).length > before[0]! + 300 && lines(cons).length > before[1]! + 300, 20_000).catch(() => {
      throw new Error(`resumed producer/consumer stalled: ${lines(prod).length - before[0]!} puts, ${lines(cons).length - before[1]!} gets in 20 s`);
    });
    await kill9(prod);
    await kill9(cons);
    expect(prod.stderr() + cons.stderr()).toBe('');
    const rest = await drainAll(q);
    await q.close();
    const seen = [...lines(cons), ...mine, ...rest];
    const counts = new Map<string, number>();
    for (const k of seen) counts.set(k, (counts.get(k) ?? 0) + 1);
    expect([...counts].filter(([, n]) => n > 1)).toEqual([]);
    const acked = [...Array.from({ length: 3000 }, (_, n) => `100:${n}`), ...lines(prod).map((n) => `1:${n}`), ...Array.from({ length: 200 }, (_, n) => `2:${n}`)];
    // The consumer may have been killed between a get and its log line: at most one item unaccounted for.
    expect(acked.filter((k) => !counts.has(k)).length).toBeLessThanOrEqual(1);
  }, 60_000);
});

describe('file queue: a holder stalled just before opening the segment it appends to', () => {
  for (const cls of [lib.FileQueueSync, lib.FileQueue] as const) {
    it(`${cls.name}: whose segment was deleted meanwhile by the process that fenced it off: fenced, the put retried, not ERR_QUEUE_IO`, async () => {
      // Found by the lock torture test (a worker SIGSTOPped while holding the lock died with "cannot open queue
      // segment …: ENOENT" after SIGCONT). Here the stall is made exactly there: the test's thread blocks inside the
      // open of the segment for its put (token checked just before) while a child takes the stale lock over, fences
      // the test process off, drains the queue, and so deletes that segment.
      const q0 = join(dir, 'queue');
      const options = { durability: 'off', lockStale: 2000, segmentBytes: 4096 } as const;
      const seed = lib.FileQueueSync.open<{ p: number; n: number }>(q0, options);
      for (let n = 0; n < 20; n++) seed.put({ p: 1, n });
      seed.close(); // the last instance: the next open starts with no append descriptor, so its put opens the segment
      const q = await cls.open<{ p: number; n: number }>(q0, { ...options, lockTimeout: 30_000 });
      const segment = readdirSync(q0).filter((f) => f.endsWith('.log')).sort().at(-1)!;
      const drainer = [
        `import { FileQueueSync } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist/esm/file.js')).href)};`,
        `const q = FileQueueSync.open(${JSON.stringify(q0)}, { ...${JSON.stringify(options)}, lockTimeout: 30000 });`,
        'let n = 0;',
        "try { for (;;) n += q.getMany(1000, { block: false }).length; } catch (err) { if (err.code !== 'ERR_QUEUE_EMPTY') throw err; }",
        'q.close();',
        'process.stdout.write(String(n));',
      ].join('\n');
      const open = io.openSync;
      let drained: ReturnType<typeof spawnSync> | undefined;
      let segmentLeft: boolean | undefined;
      io.openSync = ((path: string, ...rest: unknown[]) => {
        if (drained === undefined && String(path).endsWith(segment)) {
          // The child waits for the stale lock (2 s: this thread cannot refresh it), fences us off, takes all 20 items.
          drained = spawnSync(process.execPath, ['--input-type=module', '-e', drainer], { encoding: 'utf8', timeout: 30_000 });
          segmentLeft = existsSync(join(q0, segment));
        }
        return (open as (...a: unknown[]) => number)(path, ...rest);
      }) as typeof io.openSync;
      let id: unknown;
      try {
        id = await q.put({ p: 2, n: 0 });
      } finally {
        io.openSync = open;
      }
      expect(drained, 'the put never opened its segment').toBeDefined();
      expect(drained!.stderr, 'the drainer failed').toBe('');
      expect(drained!.stdout, 'items the drainer took').toBe('20');
      expect(segmentLeft, 'the segment was still there: the test did not make the case').toBe(false);
      expect(id).toBeDefined();
      expect(await q.size()).toBe(1);
      expect(await q.get()).toEqual({ p: 2, n: 0 });
      await q.close();
    }, 60_000);
  }
});

describe('file queue: the wake-up channel is a hint, never needed for correctness', () => {
  it('waiting consumers in other processes get every item when the channel cannot work (the polls stand in)', async () => {
    const q0 = join(dir, 'queue');
    mkdirSync(join(q0, 'wake'), { recursive: true }); // a folder where the file 'wake' belongs: nobody can ring or watch it
    const q = await lib.FileQueue.open<{ p: number; n: number }>(q0, { durability: 'off' });
    const cons = [start({ role: 'consume', cls: 'FileQueueSync', dir: q0, options: { durability: 'off' } }), start({ role: 'consume', cls: 'FileQueue', dir: q0, options: { durability: 'off' } })];
    for (let n = 0; n < 40; n++) {
      await q.put({ p: 1, n });
      await sleep(5);
    }
    await until(() => cons.flatMap(lines).length === 40);
    await q.close();
    for (const c of cons) await kill9(c);
    expect(new Set(cons.flatMap(lines)).size).toBe(40);
    expect(cons.map((c) => c.stderr()).join('')).toBe('');
  });

  it('a holder SIGKILLed while consumers of both classes wait on the channel does not stall them until the stale time', async () => {
    const q0 = join(dir, 'queue');
    const options = { durability: 'off' };
    const cons = [start({ role: 'consume', cls: 'FileQueueSync', dir: q0, options }), start({ role: 'consume', cls: 'FileQueue', dir: q0, options })];
    const p = start({ role: 'produce', cls: 'FileQueueSync', dir: q0, options, id: 0 });
    await until(() => lines(p).length > 2000 && cons.every((c) => lines(c).length > 0));
    await kill9(p); // almost certainly holding the lock, in its hot loop
    const acked = lines(p).map((n) => `0:${n}`);
    const q = await lib.FileQueue.open<{ p: number; n: number }>(q0, { ...options, lockTimeout: 5000 });
    const t0 = performance.now();
    for (let n = 0; n < 20; n++) await q.put({ p: 9, n });
    // The default stale time is 10 s: the dead holder is recognised, and the waiting consumers carry on.
    await until(() => cons.flatMap(lines).filter((k) => k.startsWith('9:')).length === 20, 5000);
    expect(performance.now() - t0).toBeLessThan(5000);
    await q.close();
    for (const c of cons) await kill9(c);
    const got = cons.flatMap(lines);
    expect(new Set(got).size).toBe(got.length);
    // A consumer killed between get() and its log line loses that one item from our view.
    expect(acked.filter((k) => !got.includes(k)).length).toBeLessThanOrEqual(cons.length);
  }, 30_000);
});

/** A small seeded PRNG, so a failing run can be repeated. */
function mulberry(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
