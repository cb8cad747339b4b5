/**
 * Torture 4: locks (SQLite: SQLite's own write lock). A process killed with SIGKILL while it holds an open
 * BEGIN IMMEDIATE transaction must not stop anyone (others proceed at once, nothing of the dead transaction shows),
 * and a holder that stalls longer than an instance's busyTimeout must make that instance's calls fail with
 * QueueLockedError (ERR_QUEUE_LOCKED) after about busyTimeout, never with a raw SQLITE_BUSY; a Promise class must
 * keep its event loop free meanwhile (a 5 ms setInterval keeps ticking), also while opening.
 */
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as format from '../../dist/esm/file-queue/format.js';
import { caught, FILE_CLASSES, SQLITE_CLASSES, tempDir, type AnyQueue } from '../helpers/classes.js';
import { analyzeRun, checkPayload, drain, kill9, lib, prng, readLines, report, seedFor, sleep, spawnChild, subSeed, waitForOutput, workerPath, type Child } from './helpers.js';

const HOLDER = workerPath('sqlite-holder.mjs');

let dir: string;
let cleanup: () => void;
const kids: Child[] = [];
beforeEach(() => ({ dir, cleanup } = tempDir('pq-torture-locks-')));
afterEach(async () => {
  for (const c of kids.splice(0)) {
    c.child.kill('SIGCONT');
    await kill9(c);
  }
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

// =====================================================================================================================
// File queues: the lock file of the folder plus fencing tokens (docs/format.md, "Locking and fencing").

const FILE_SEED = seedFor('locks.test.ts (file)');

/** A child's token in `tokens/` names its pid: `pid.starttime.thread.random`. */
const holds = (loc: string, pid: number): boolean => {
  try {
    return readdirSync(join(loc, 'tokens')).some((t) => t.startsWith(`${pid}.`));
  } catch {
    return false;
  }
};

/** Busy-polls (the parent's thread only) until child `c` holds the lock, or `ms` pass. */
function waitHolding(loc: string, c: Child, ms: number): boolean {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (c.child.exitCode !== null || c.child.signalCode !== null) return false;
    if (holds(loc, c.child.pid!)) return true;
  }
  return false;
}

/**
 * Stops child `c` with SIGSTOP while it holds the lock: its token is still there once it is stopped (a holder removes
 * its token before it unlocks, so the token proves the lock). Retries (SIGCONT) when the stop landed just after it let
 * go. Returns false when that never happened.
 */
async function stopHolding(loc: string, c: Child): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    if (!waitHolding(loc, c, 5000)) return false;
    c.child.kill('SIGSTOP');
    await sleep(5); // the signal is delivered asynchronously
    if (holds(loc, c.child.pid!)) return true;
    c.child.kill('SIGCONT');
    await sleep(1);
  }
  return false;
}

/** The tokens in the folder's `tokens/` (for failure messages). */
const tokens = (loc: string): string => {
  try {
    return readdirSync(join(loc, 'tokens')).join(', ') || '(none)';
  } catch (err) {
    return String((err as NodeJS.ErrnoException).code);
  }
};

/** What a failure message says about a worker that made no progress: class, last log lines, tokens, stderr. */
const describeWorker = (w: Worker, loc: string): string =>
  `worker ${w.c.child.pid} (${w.cls}, ${w.mode}) last lines: ${readLines(w.log).slice(-12).join(' | ')}; tokens: ${tokens(loc)}; stderr: ${w.c.stderr().slice(-800)}`;

/** Put and get lines (P/R) logged so far by the given logs. */
const progress = (logs: string[]): number => logs.reduce((n, l) => n + readLines(l).filter((x: string) => x.startsWith('P ') || x.startsWith('R ')).length, 0);

/** Resolves with the ms until `pred()` holds (polling every 5 ms), or rejects after `ms`. */
async function within(pred: () => boolean, ms: number, what: string, loc?: string): Promise<number> {
  const t0 = performance.now();
  while (!pred()) {
    if (loc) scanFences(loc);
    if (performance.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms (TORTURE_SEED=${FILE_SEED})`);
    await sleep(5);
  }
  return performance.now() - t0;
}

/** END records with reason fence seen in the folder so far (segments come and go: call this often). */
const fences = new Set<string>();
function scanFences(loc: string): number {
  let names: string[] = [];
  try {
    names = readdirSync(loc).filter((x) => x.startsWith('seg-'));
  } catch {
    return fences.size;
  }
  for (const f of names) {
    let b: Buffer;
    try {
      b = readFileSync(join(loc, f));
    } catch {
      continue; // deleted meanwhile
    }
    const nonce = b.length >= format.SEG_HEADER ? b.readUInt32LE(16) : 0;
    for (let off = format.SEG_HEADER; off + format.REC_HEADER <= b.length; ) {
      const h = format.checkHeader(b, off);
      if (!h.ok || off + format.REC_HEADER + h.len > b.length) break;
      if (h.type === format.T_END && b[off + format.REC_HEADER] === format.END_FENCE) fences.add(`${f}:${nonce}:${off}`);
      off += format.REC_HEADER + h.len;
    }
  }
  return fences.size;
}

interface Worker {
  c: Child;
  log: string;
  mode: 'manual' | 'auto';
  cls: string;
  killed: boolean;
}

describe('locks: file queues (FileQueue, FileQueueSync)', () => {
  let n = 0;
  beforeEach(() => fences.clear());
  /** A child that puts and gets at random (autoCommit false: at-least-once, or true) until the stop file exists. */
  const spawnWorker = (loc: string, rng: ReturnType<typeof prng>, options: Record<string, unknown>, extra: Record<string, unknown> = {}): Worker => {
    const cls = rng.pick(FILE_CLASSES);
    const mode = rng.pick(['manual', 'auto'] as const);
    const log = join(dir, `w${n}.log`);
    const job = {
      role: 'mixed',
      cls: cls.name,
      location: loc,
      log,
      prefix: `w${n++}`,
      seed: rng.int(0, 2 ** 31),
      getTimeout: 50,
      pauseMs: rng.pick([0, 2]),
      stopFile: join(dir, 'stop'),
      options: { durability: rng.pick(['off', 'normal']), segmentBytes: 64 * 1024, autoCommit: mode === 'auto', ...options },
      ...extra,
    };
    const c = spawnChild(job, { timeoutMs: 90_000 });
    kids.push(c);
    return { c, log, mode, cls: `${cls.name} ${String(job.options.durability)}`, killed: false };
  };

  /** Stops every worker, drains the queue, checks exactly-once and that the log replays from scratch to the same state. */
  async function finish(loc: string, workers: Worker[], label: string): Promise<Record<string, unknown>> {
    scanFences(loc);
    writeFileSync(join(dir, 'stop'), '');
    for (const w of workers) {
      const ex = await w.c.exit;
      if (!w.killed) {
        const tail = readLines(w.log).filter((l) => l.startsWith('ERR')).slice(-2).join(' | ');
        expect(ex, `${label}: ${w.log} did not stop cleanly: ${w.c.stderr()} ${tail} (TORTURE_SEED=${FILE_SEED})`).toEqual({ code: 0, signal: null, timedOut: false });
      }
    }
    // The log replays cleanly from its segments alone (no checkpoint) to the state the checkpoint gives.
    scanFences(loc);
    const copy = `${loc}-replay`;
    cpSync(loc, copy, { recursive: true });
    rmSync(join(copy, 'checkpoint'), { force: true });
    const q = await lib.FileQueueSync.open(loc, { durability: 'off' });
    const q2 = await lib.FileQueueSync.open(copy, { durability: 'off' });
    expect(q2.size(), `${label}: replay without checkpoint`).toBe(q.size());
    const drained = await drain(FILE_CLASSES[0]!, q);
    const again = await drain(FILE_CLASSES[0]!, q2);
    expect(again.map((v) => checkPayload(v)), `${label}: replay without checkpoint`).toEqual(drained.map((v) => checkPayload(v)));
    q.close();
    q2.close();
    const { stats, violations } = analyzeRun({
      producers: workers.map((w) => ({ log: w.log })),
      consumers: workers.map((w) => ({ log: w.log, mode: w.mode, killed: w.killed })),
      drained,
    });
    const summary = { part: 'locks', label, seed: FILE_SEED, fences: fences.size, ...stats };
    report(summary);
    expect(violations, `${label} (TORTURE_SEED=${FILE_SEED})`).toEqual([]);
    expect(stats.putsReturned, label).toBeGreaterThan(50);
    return summary;
  }

  it('holders killed with SIGKILL inside their critical section: others go on long before lockStale, exactly once', async () => {
    const rng = prng(subSeed(FILE_SEED, 'locks:file:kill'));
    const loc = join(dir, 'q');
    // The default stale time (10 s): the dead holder must be recognised by its pid, not by waiting.
    const options = { lockStale: 10_000, lockTimeout: 30_000 };
    const workers = [0, 1, 2].map(() => spawnWorker(loc, rng, options));
    const delays: number[] = [];
    let tokenLeft = 0;
    for (let k = 0; k < 5; k++) {
      const i = rng.int(0, 2);
      await within(() => progress([workers[i]!.log]) > 20, 15_000, `worker ${workers[i]!.log} started`);
      await sleep(rng.int(0, 200));
      const victim = workers[i]!;
      expect(waitHolding(loc, victim.c, 5000), `worker ${victim.log} never held the lock (TORTURE_SEED=${FILE_SEED})`).toBe(true);
      victim.c.child.kill('SIGKILL');
      if (holds(loc, victim.c.child.pid!)) tokenLeft++;
      victim.killed = true;
      victim.c.killed = true;
      await victim.c.exit;
      const others = workers.filter((w) => w !== victim).map((w) => w.log);
      const before = progress(others);
      delays.push(Math.round(await within(() => progress(others) > before + 5, 10_000, 'others after a killed holder', loc)));
      // Only a holder that fences removes another process's token.
      expect(holds(loc, victim.c.child.pid!), 'the killed holder was not fenced off (its token is still there)').toBe(false);
      workers[i] = spawnWorker(loc, rng, options);
      workers.push(victim);
    }
    console.log(`[torture] file locks, killed holders: others went on after ${delays.join(', ')} ms; ${tokenLeft}/5 kills left the victim's token behind`);
    // lockStale is 10 s; a dead holder is recognised by its pid after ~50 ms (generous bound for a loaded machine).
    for (const d of delays) expect(d, `others waited for the stale time (TORTURE_SEED=${FILE_SEED})`).toBeLessThan(4000);
    expect(tokenLeft, 'no kill landed while the victim held the lock').toBeGreaterThan(0);
    await finish(loc, workers, 'killed holders');

  }, 60_000);

  it('a holder whose event loop stalls past lockStale (Atomics.wait, SIGSTOP): others take over, the stalled one is fenced', async () => {
    const rng = prng(subSeed(FILE_SEED, 'locks:file:stall'));
    const loc = join(dir, 'q');
    const options = { lockStale: 2000, lockTimeout: 30_000 };
    const workers = [0, 1].map(() => spawnWorker(loc, rng, options));
    const staller = spawnWorker(loc, rng, options, { stall: { afterSteps: rng.int(20, 60), ms: 4500 } });
    workers.push(staller);
    const others = workers.filter((w) => w !== staller).map((w) => w.log);
    await within(() => readLines(staller.log).includes('S held'), 20_000, 'the stalled worker held the lock');
    const atStall = progress(others);
    await sleep(500);
    // A live holder's lock is not broken before it is stale (its mtime is refreshed every lockStale / 2).
    expect(progress(others), 'others wrote while a live holder held the lock').toBe(atStall);
    await within(() => progress(others) > atStall + 5, 8000, 'others took over the stale lock', loc);
    // Only a holder that fences removes another process's token.
    await within(() => !holds(loc, staller.c.child.pid!), 2000, 'the stalled holder was fenced off (its token removed)', loc);
    expect(readLines(staller.log).includes('C'), 'others went on only after the stalled holder resumed').toBe(false);
    await within(() => readLines(staller.log).includes('C'), 10_000, 'the stalled worker resumed');
    // It goes on working after being fenced off.
    const resumed = progress([staller.log]);
    await within(() => progress([staller.log]) > resumed + 5, 15_000, 'the stalled worker made progress after resuming').catch((err: Error) => {
      throw new Error(`${err.message}; ${describeWorker(staller, loc)}; others' progress ${progress(others)}`);
    });

    // SIGSTOP at a random moment while a worker holds the lock (possibly between its token check and its write).
    await sleep(rng.int(0, 200));
    const victim = workers[rng.int(0, 1)]!;
    expect(await stopHolding(loc, victim.c), 'the SIGSTOP victim never held the lock').toBe(true);
    const rest = workers.filter((w) => w !== victim).map((w) => w.log);
    const atStop = progress(rest);
    await within(() => progress(rest) > atStop + 5, 8000, 'others took over from a SIGSTOPped holder', loc);
    await within(() => !holds(loc, victim.c.child.pid!), 2000, 'the SIGSTOPped holder was fenced off (its token removed)', loc);
    victim.c.child.kill('SIGCONT');
    const resumed2 = progress([victim.log]);
    await within(() => progress([victim.log]) > resumed2 + 5, 15_000, 'the SIGSTOPped worker made progress after SIGCONT').catch((err: Error) => {
      throw new Error(`${err.message}; ${describeWorker(victim, loc)}; others' progress ${progress(rest)} (was ${atStop})`);
    });
    await finish(loc, workers, 'stalled holders');
  }, 90_000);

  for (const how of ['SIGKILL', 'SIGSTOP'] as const) {
    it(`five processes reclaim a lock left by a ${how === 'SIGKILL' ? 'killed' : 'stopped'} holder at once, then hammer: never two writers at once`, async () => {
      const rng = prng(subSeed(FILE_SEED, `locks:file:herd:${how}`));
      const loc = join(dir, 'q');
      // SIGKILL: the stale time is out of reach (10 s); the herd must see the holder dead. SIGSTOP: the minimum (2 s).
      const options = { lockStale: how === 'SIGKILL' ? 10_000 : 2000, lockTimeout: 30_000 };
      const holder = spawnWorker(loc, rng, options);
      await within(() => progress([holder.log]) > 30, 15_000, 'the first holder started');
      expect(await stopHolding(loc, holder.c), 'the first holder never held the lock').toBe(true);
      // Five new processes open the queue while the holder is stopped with the lock, and all wait for it.
      const herd = [0, 1, 2, 3, 4].map(() => spawnWorker(loc, rng, options));
      const logs = herd.map((w) => w.log);
      const t0 = performance.now();
      if (how === 'SIGKILL') {
        // Once they are all waiting, the holder dies: every one of them sees a dead holder and breaks the lock.
        await sleep(1500);
        expect(progress(logs), 'the herd wrote while the holder was stopped with the lock').toBe(0);
        holder.c.child.kill('SIGKILL');
        holder.killed = true;
        holder.c.killed = true;
        await holder.c.exit;
      }
      const took = await within(() => progress(logs) > 0, 15_000, 'the herd took the lock', loc);
      await within(() => herd.filter((w) => progress([w.log]) > 20).length === herd.length, 20_000, 'every process of the herd made progress', loc).catch((err: Error) => {
        throw new Error(`${err.message}; writes per herd process: ${herd.map((w) => progress([w.log])).join(', ')}`);
      });
      expect(holds(loc, holder.c.child.pid!), 'the holder left behind was not fenced off (its token is still there)').toBe(false);
      if (how === 'SIGSTOP') {
        holder.c.child.kill('SIGCONT');
        const at = progress([holder.log]);
        await within(() => progress([holder.log]) > at + 5, 15_000, 'the stopped holder made progress after SIGCONT', loc);
      }
      console.log(`[torture] file locks, herd after ${how}: first write ${Math.round(took)} ms after the holder was ${how === 'SIGKILL' ? 'killed (the herd had waited 1.5 s)' : 'stopped'}; all five working after ${Math.round(performance.now() - t0)} ms`);
      await sleep(500);
      await finish(loc, [holder, ...herd], `herd after ${how}`);
    }, 90_000);
  }
});
