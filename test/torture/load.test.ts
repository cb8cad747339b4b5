/**
 * Torture 7: load. Eight processes (sync and Promise classes mixed, random durability) put and get at random for a
 * bounded time, with no kills: every returned put is delivered exactly once (across the processes and a final
 * drain), nothing invented or corrupt, and no call fails at all (in particular no raw SQLITE_BUSY: every error
 * would have to be typed, and there should be none). For SQLite, the WAL file must stay bounded while other
 * connections merely stay open (an idle raw connection and an idle queue instance); a connection that holds a read
 * transaction open pins the WAL, which then grows with every write — measured here and documented in docs/sqlite.md.
 *
 * TORTURE_LOAD_MS sets the load time (default 5000).
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SQLITE_CLASSES, tempDir, type AnyQueue } from '../helpers/classes.js';
import { analyzeRun, drain, families, kill9, makePayload, prng, report, seedFor, spawnChild, subSeed, waitForOutput, workerPath, type Child } from './helpers.js';

const SEED = seedFor('load.test.ts');
const LOAD_MS = Number(process.env.TORTURE_LOAD_MS ?? 5000);
const PROCS = 8;
const READER = workerPath('sqlite-reader.mjs');
const { dir, cleanup } = tempDir('pq-torture-load-');
afterAll(() => cleanup());

const walSize = (loc: string): number => {
  try {
    return statSync(`${loc}-wal`).size;
  } catch {
    return 0;
  }
};

/** Samples the WAL size every 25 ms until stopped; returns the largest seen. */
function watchWal(loc: string): () => number {
  let max = 0;
  const iv = setInterval(() => (max = Math.max(max, walSize(loc))), 25);
  return () => {
    clearInterval(iv);
    return Math.max(max, walSize(loc));
  };
}

const MiB = 1024 * 1024;
/**
 * A WAL that checkpoints normally restarts after ~1000 pages (4 MiB), and the library truncates one past 8 MiB; the
 * slack is for bursts between two checks on a busy machine. Without the truncation the sustained-write test below
 * reached 41-55 MiB in 6 s (plain queue; the ack queue 22-44 MiB).
 */
const WAL_BOUND = 32 * MiB;

for (const fam of families()) {
  describe(`load: ${fam.name}`, () => {
    it(`${PROCS} processes putting and getting for ${LOAD_MS} ms: exactly once, no errors${fam.backend === 'sqlite' ? ', WAL bounded beside idle connections' : ''}`, async () => {
      const rng = prng(subSeed(SEED, `load:${fam.name}`));
      // the folder's name is the PostgreSQL queue's name: unique per test file (kill and load must not share a table)
      const loc = fam.classes[0]!.location(join(dir, `load_${fam.name.replace(/\W/g, '_')}`));
      const { mkdirSync } = await import('node:fs');
      mkdirSync(join(dir, `load_${fam.name.replace(/\W/g, '_')}`), { recursive: true });
      const table = fam.ack ? 'ack_queue_default' : 'queue_default';
      // Create the queue, then park an idle raw connection and an idle queue instance on it.
      const first: AnyQueue = await fam.classes[0]!.open(loc);
      const idle: Child[] = [];
      if (fam.backend === 'sqlite') {
        const r = spawnChild({ file: loc, table, mode: 'idle' }, { script: READER, timeoutMs: 120_000 });
        idle.push(r);
        await waitForOutput(r, (o) => o.includes('ready'));
      }
      const stopWatch = fam.backend === 'sqlite' ? watchWal(loc) : () => 0;
      const producers: { log: string }[] = [];
      const consumers: { log: string; mode: string; killed: boolean }[] = [];
      const kids: Child[] = [];
      for (let i = 0; i < PROCS; i++) {
        const cls = fam.classes[i % fam.classes.length]!;
        // One log per family and child: families that share 'plain' or 'ack' must not append to each other's logs.
        const log = join(dir, `load-${fam.name.replace(/\W/g, '_')}-${i}.log`);
        producers.push({ log });
        consumers.push({ log, mode: fam.ack ? 'ack' : 'auto', killed: false });
        const job = {
          role: 'mixed',
          cls: cls.name,
          location: loc,
          log,
          prefix: `L${i}`,
          seed: rng.int(0, 2 ** 31),
          durationMs: LOAD_MS,
          getTimeout: 20,
          maxLen: rng.pick([50, 500, 3000]),
          options: { durability: rng.pick(['full', 'normal', 'normal', 'off'].filter((d) => cls.durabilities.includes(d))) }, // PostgreSQL: no 'off'
        };
        kids.push(spawnChild(job, { timeoutMs: LOAD_MS + 60_000 }));
      }
      const exits = await Promise.all(kids.map((k) => k.exit));
      const walMax = stopWatch();
      for (const [i, ex] of exits.entries()) expect(ex, `load process ${i}: ${kids[i]!.stderr()}`).toEqual({ code: 0, signal: null, timedOut: false });
      for (const r of idle) await kill9(r);
      await first.close();
      const drainer: AnyQueue = await fam.classes[0]!.open(loc, { durability: fam.classes[0]!.durabilities.includes('off') ? 'off' : 'normal' }); // no fsync per ack
      const drained = await drain(fam.classes[0]!, drainer);
      await drainer.close();
      const { stats, violations } = analyzeRun({ producers, consumers, drained });
      report({ part: 'load', family: fam.name, seed: SEED, ms: LOAD_MS, procs: PROCS, walMaxMiB: +(walMax / MiB).toFixed(2), ...stats, violations: violations.length });
      expect(violations).toEqual([]);
      expect(stats.repeats).toBe(0);
      expect(stats.lostInFlight).toBe(0);
      expect(stats.putsReturned).toBeGreaterThan(100);
      if (fam.backend === 'sqlite') expect(walMax, `WAL grew to ${(walMax / MiB).toFixed(1)} MiB beside idle connections`).toBeLessThan(WAL_BOUND);
    }, LOAD_MS + 120_000);
  });
}

describe('SQLite WAL under sustained writes from many processes', () => {
  for (const ack of [false, true]) {
    const classes = SQLITE_CLASSES.filter((c) => c.ack === ack);
    it(`${ack ? 'ack' : 'plain'}: 8 processes writing without fsync (durability 'normal') keep the WAL bounded`, async () => {
      // Fast commits back to back leave SQLite's passive auto-checkpoint no moment to finish, so the WAL used to grow
      // by every commit.
      const loc = join(dir, `wal-${ack ? 'ack' : 'plain'}.db`);
      const first: AnyQueue = await classes[0]!.open(loc);
      const stopWatch = watchWal(loc);
      const kids = Array.from({ length: PROCS }, (_, i) =>
        spawnChild(
          {
            role: 'mixed',
            cls: classes[i % 2]!.name,
            location: loc,
            log: join(dir, `wal-${ack}-${i}.log`),
            prefix: `W${i}`,
            seed: i + 1,
            durationMs: 6000,
            getTimeout: 20,
            maxLen: 3000,
            options: { durability: 'normal' },
          },
          { timeoutMs: 60_000 },
        ),
      );
      const exits = await Promise.all(kids.map((k) => k.exit));
      const walMax = stopWatch();
      for (const [i, ex] of exits.entries()) expect(ex, kids[i]!.stderr()).toEqual({ code: 0, signal: null, timedOut: false });
      await first.close();
      report({ part: 'wal-sustained', family: ack ? 'sqlite ack' : 'sqlite plain', walMaxMiB: +(walMax / MiB).toFixed(2) });
      expect(walMax, `WAL grew to ${(walMax / MiB).toFixed(1)} MiB`).toBeLessThan(WAL_BOUND);
    }, 90_000);
  }
});

describe('SQLite WAL and a reader that holds a read transaction open', () => {
  const cls = SQLITE_CLASSES.find((c) => c.name === 'SqliteQueueSync')!;
  it('a pinned snapshot makes the WAL grow with every write; once it ends, the WAL is reused from its start again', async () => {
    const rng = prng(subSeed(SEED, 'pin'));
    const loc = join(dir, 'pin.db');
    const q: AnyQueue = await cls.open(loc, { durability: 'normal' });
    const items = Array.from({ length: 500 }, (_, i) => makePayload(`w-${i}`, rng, 2000));
    const churn = async (rounds: number): Promise<void> => {
      for (let r = 0; r < rounds; r++) {
        await q.putMany(items.slice(0, 250));
        await q.putMany(items.slice(250));
        await q.getMany(500);
        for (let i = 0; i < 500; i++) await q.taskDone();
      }
    };
    await churn(2);
    const before = walSize(loc);
    const r = spawnChild({ file: loc, table: 'queue_default', mode: 'pin' }, { script: READER, timeoutMs: 120_000 });
    await waitForOutput(r, (o) => o.includes('ready'));
    await churn(12);
    const pinned = walSize(loc);
    await kill9(r);
    await churn(12);
    const after = walSize(loc);
    report({ part: 'wal-pin', beforeMiB: +(before / MiB).toFixed(2), pinnedMiB: +(pinned / MiB).toFixed(2), afterMiB: +(after / MiB).toFixed(2) });
    // Documented, not fixed: SQLite cannot checkpoint past a snapshot that a reader still uses.
    expect(pinned).toBeGreaterThan(before);
    expect(pinned).toBeGreaterThan(8 * MiB);
    // The same amount of writing after the reader is gone does not grow the file further: checkpoints complete and
    // the WAL restarts from its beginning (the file keeps its size up to journal_size_limit, 64 MiB).
    expect(after).toBeLessThan(pinned + 2 * MiB);
    await q.close();
  }, 120_000);
});
