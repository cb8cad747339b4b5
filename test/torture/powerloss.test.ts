/**
 * Torture 2: power loss, file backend. Rounds of producer and consumer child processes (FileQueueSync and FileQueue,
 * autoCommit true and false, durability 'full' and 'normal', in some rounds also 'off') run on one queue folder with the recording fs layer of
 * powerloss-fs.mjs installed on the store's `io` object. At a random moment every child is SIGKILLed at once (the
 * power loss); the parent then builds the folder a rebooted machine would find (only what was fsynced: file contents
 * at their last fsync, directory entries at the last directory fsync; variants keep part of the unsynced tail, zeroed
 * or garbled) and checks:
 * - the rebuilt folder opens without help (no QueueCorruptError: the model never damages synced bytes);
 * - nothing invented or corrupted (each payload carries sha256(key, body));
 * - 'full': every put that returned is delivered or still there; a get (autoCommit true) or taskDone() (autoCommit
 *   false) that returned is not undone: its item does not come back;
 * - 'normal': the same, except for calls that returned within the last syncIntervalMs + MARGIN_MS before the power
 *   loss;
 * - the documented at-least-once redelivery (autoCommit false, taken but not done) and the in-flight batch of a
 *   killed autoCommit:true consumer (removed durably, not yet logged) are the only other exceptions.
 * The main variant continues as the queue of the next round; the other variants of the same crash are drained in the
 * parent and checked the same way.
 *
 * TORTURE_SEED replays a run (up to OS scheduling); TORTURE_PL_ROUNDS sets the rounds per scenario (default 4);
 * TORTURE_PL_KEEP=1 keeps the temp folder (event logs, child logs, the folders after each power loss) for inspection.
 */
import { cpSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FILE_CLASSES, tempDir, type QueueClass } from '../helpers/classes.js';
import { checkPayload, drain, kill9, prng, readLines, report, seedFor, sleep, spawnChild, subSeed, workerPath, type Child } from './helpers.js';
// @ts-expect-error plain JavaScript module shared with the child processes
import { rebuild, recordBase } from './powerloss-fs.mjs';

const SEED = seedFor('powerloss.test.ts');
const ROUNDS = Number(process.env.TORTURE_PL_ROUNDS ?? 4);
const SYNC_MS = 50;
/**
 * Slack on top of syncIntervalMs for 'normal'. A put's bytes are written before put() returns; they are fdatasynced by
 * the next flush, which starts at most syncIntervalMs later (the interval timer, or the next write once the last flush
 * is that old) and then takes the fdatasync's own time (up to 10 ms more in the layer), plus the event-loop delay of
 * the timer and the scheduling delay of the flushing thread on a loaded 2-core machine (other suites run beside this
 * one, load average 7-8). The oldest excused losses seen are under 100 ms; the margin is wide on purpose. A lost put
 * older than syncIntervalMs + 450 ms means no flush happened for that long: the failure this looks for (e.g. a
 * synchronous consumer that blocked in a 2 s get() without flushing its last TAKE). The oldest excused loss is printed.
 */
const MARGIN_MS = 450;
const WINDOW_NS = BigInt((SYNC_MS + MARGIN_MS) * 1e6);
const WORKER = workerPath('powerloss-worker.mjs');
const { dir, cleanup } = tempDir('pq-torture-powerloss-');
afterAll(() => {
  if (process.env.TORTURE_PL_KEEP) console.log(`[torture] powerloss: folders kept in ${dir}`);
  else cleanup();
});

interface ProdRec {
  log: string;
  dur: string;
}
interface ConsRec {
  log: string;
  dur: string;
  auto: boolean;
  cls: string;
}
interface Round {
  crashT: bigint;
  producers: ProdRec[];
  consumers: ConsRec[];
}

/** Checks what was delivered (consumer logs of every round) and `drained` (the queue now) against the rules above. */
function analyze(rounds: Round[], drained: unknown[]): { stats: Record<string, number>; violations: string[] } {
  const violations: string[] = [];
  const intents = new Set<string>();
  const puts = new Map<string, { ts: bigint; dur: string; round: number }>();
  type Receipt = { excused: boolean; why: string };
  const deliveries = new Map<string, Receipt[]>();
  const add = (k: string, r: Receipt): void => {
    if (!deliveries.has(k)) deliveries.set(k, []);
    deliveries.get(k)!.push(r);
  };
  let allowance = 0;
  const inWindow = (ts: bigint, r: number, dur = 'normal'): boolean => dur === 'off' || ts > rounds[r]!.crashT - WINDOW_NS;
  rounds.forEach((round, r) => {
    for (const p of round.producers) {
      for (const line of readLines(p.log) as string[]) {
        const [tag, key, t] = line.split(' ');
        if (tag === 'I') intents.add(key!);
        else if (tag === 'P') puts.set(key!, { ts: BigInt(t!), dur: p.dur, round: r });
        else if (tag === 'ERR') violations.push(`producer ${p.log}: ${line}`);
      }
    }
    for (const c of round.consumers) {
      let batch: { max: number; got: number } | undefined;
      const mine = new Map<string, { ts: bigint; done?: bigint }>();
      const order: string[] = [];
      for (const line of readLines(c.log) as string[]) {
        const [tag, key, t] = line.split(' ');
        if (tag === 'T') batch = { max: Number(key), got: 0 };
        else if (tag === 'R') {
          mine.set(key!, { ts: BigInt(t!) });
          order.push(key!);
          if (batch) batch.got++;
        } else if (tag === 'D') {
          const m = mine.get(key!);
          if (m) m.done = BigInt(t!);
        } else if (tag === 'E') batch = undefined;
        else if (tag === 'X') violations.push(`consumer ${c.log} received a value that is not an intact payload: ${line}`);
        else if (tag === 'ERR') violations.push(`consumer ${c.log}: ${line}`);
      }
      // Every child dies in the power loss: an autoCommit:true get under way may have removed its batch durably.
      if (c.auto && batch) allowance += Math.max(0, batch.max - batch.got);
      for (const k of order) {
        const m = mine.get(k)!;
        const normal = c.dur !== 'full'; // 'off' promises nothing: treated as an infinite window below
        const ago = (t: bigint): string => `${c.cls}, ${Number(round.crashT - t) / 1e6} ms before the power loss`;
        // A receipt excuses one later delivery of the same item when the removal it stands for was allowed to be undone.
        if (!c.auto && m.done === undefined) add(k, { excused: true, why: 'taken, not done (at-least-once)' });
        else if (!c.auto) add(k, { excused: normal && inWindow(m.done!, r, c.dur), why: `taskDone() returned (${c.dur}, ${ago(m.done!)})` });
        else add(k, { excused: normal && inWindow(m.ts, r, c.dur), why: `get() returned, autoCommit (${c.dur}, ${ago(m.ts)})` });
      }
    }
  });
  for (const v of drained) {
    const k = checkPayload(v) as string | undefined;
    if (k === undefined) violations.push(`the queue holds a value that is not an intact payload: ${JSON.stringify(v)?.slice(0, 200)}`);
    else add(k, { excused: false, why: 'in the queue' });
  }
  let repeats = 0;
  let repeatsExcused = 0;
  for (const [k, ds] of deliveries) {
    if (!intents.has(k)) violations.push(`key ${k} was delivered but never put (invented)`);
    if (ds.length > 1) {
      repeats += ds.length - 1;
      // Each delivery but the last must have been undone by the crash for the next one to be allowed.
      const bad = ds.slice(0, -1).filter((d) => !d.excused);
      if (bad.length > 0) violations.push(`key ${k} delivered ${ds.length} times; not excused: ${bad.map((d) => d.why).join('; ')}`);
      else repeatsExcused += ds.length - 1;
    }
  }
  let lostNormal = 0;
  let lostOff = 0;
  let oldestExcusedMs = 0;
  const lost: string[] = [];
  for (const [k, p] of puts) {
    if (deliveries.has(k)) continue;
    if (p.dur === 'normal' && inWindow(p.ts, p.round)) oldestExcusedMs = Math.max(oldestExcusedMs, Number(rounds[p.round]!.crashT - p.ts) / 1e6);
    if (p.dur === 'off') lostOff++;
    else if (p.dur === 'normal' && inWindow(p.ts, p.round)) lostNormal++;
    else lost.push(`${k} (${p.dur}, returned ${Number(rounds[p.round]!.crashT - p.ts) / 1e6} ms before the power loss)`);
  }
  if (lost.length > allowance) {
    violations.push(`${lost.length} returned put(s) lost, only ${allowance} in flight in killed autoCommit:true gets: ${lost.slice(0, 6).join(', ')}`);
  }
  const stats = {
    intents: intents.size,
    putsReturned: puts.size,
    delivered: deliveries.size,
    drained: drained.length,
    repeats,
    repeatsExcused,
    lostInWindowNormal: lostNormal,
    oldestLostNormalMs: Math.round(oldestExcusedMs),
    lostOff,
    lostOther: lost.length,
    inFlightAllowance: allowance,
  };
  return { stats, violations };
}

interface Scenario {
  name: string;
  order: 'fifo' | 'filo';
  unique: boolean;
  segmentBytes: number;
}
const SCENARIOS: Scenario[] = [
  { name: 'fifo', order: 'fifo', unique: false, segmentBytes: 16 * 1024 },
  { name: 'fifo-unique', order: 'fifo', unique: true, segmentBytes: 8 * 1024 },
  { name: 'filo', order: 'filo', unique: false, segmentBytes: 8 * 1024 },
];
const VARIANTS = ['drop', 'prefix', 'zeros', 'garbage'];

/** Opens `loc` with a fresh instance of `cls`, drains it (every item taken and done) and closes it. */
async function drainFolder(cls: QueueClass, loc: string, sc: Scenario): Promise<unknown[]> {
  const q = await cls.open(loc, { order: sc.order, unique: sc.unique, durability: 'off' });
  try {
    return await drain(cls, q);
  } finally {
    await q.close();
  }
}

describe('power loss: file queue', () => {
  for (const sc of SCENARIOS) {
    it(`${sc.name}: ${ROUNDS} power losses at random moments; only unsynced work is lost, within the promise`, async () => {
      const rng = prng(subSeed(SEED, `powerloss:${sc.name}`));
      const base = join(dir, sc.name);
      const loc = join(base, 'queue');
      mkdirSync(base, { recursive: true }); // the queue folder itself is created by the first child of round 0
      const rounds: Round[] = [];
      const violations: string[] = [];
      const summaries: Record<string, unknown>[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        const evDir = join(base, `ev-${r}`);
        const folderIsNew = !existsSync(loc);
        recordBase(loc, evDir);
        const durMode = rng.pick(['full', 'normal', 'mixed', 'mixed-off']);
        const round: Round = { crashT: 0n, producers: [], consumers: [] };
        const kids: Child[] = [];
        const nProd = rng.int(1, 2);
        const nCons = rng.int(1, 2);
        for (let i = 0; i < nProd + nCons; i++) {
          const cls = rng.pick(FILE_CLASSES) as QueueClass;
          const dur = durMode === 'mixed' ? rng.pick(['full', 'normal']) : durMode === 'mixed-off' ? rng.pick(['full', 'normal', 'off']) : durMode;
          const log = join(base, `r${r}-${i}.log`);
          const options: Record<string, unknown> = { durability: dur, syncIntervalMs: SYNC_MS, segmentBytes: sc.segmentBytes, order: sc.order, unique: sc.unique };
          const job: Record<string, unknown> = { cls: cls.name, location: loc, log, evDir, seed: rng.int(0, 2 ** 31), options, pauseMs: rng.pick([0, 5, 20]), asyncDelayMs: rng.pick([0, 10]) };
          if (i < nProd) {
            Object.assign(job, { role: 'produce', prefix: `${sc.name}-r${r}p${i}` });
            // Some producers stop after a few puts: consumers then empty the queue and wait in get().
            if (rng.chance(0.3)) job.count = rng.int(5, 60);
            round.producers.push({ log, dur });
          } else {
            const auto = rng.chance(0.5);
            options.autoCommit = auto;
            Object.assign(job, { role: 'consume', batch: rng.pick([1, 1, 4]), getTimeout: rng.pick([20, 200, 2000]) });
            round.consumers.push({ log, dur, auto, cls: cls.name });
          }
          kids.push(spawnChild(job, { script: WORKER, timeoutMs: 30_000 }));
        }
        // Let the first producer get some puts through, then lose power at a random moment.
        const t0 = performance.now();
        while (!readLines(round.producers[0]!.log).some((l: string) => l.startsWith('P ')) && performance.now() - t0 < 15_000) {
          if (kids[0]!.child.exitCode !== null) break;
          await sleep(5);
        }
        await sleep(rng.int(30, 900));
        round.crashT = process.hrtime.bigint();
        const alive = kids.map((k) => k.child.exitCode === null && k.child.signalCode === null);
        for (const k of kids) k.child.kill('SIGKILL');
        for (const [i, k] of kids.entries()) {
          await kill9(k);
          if (!alive[i]) violations.push(`round ${r}: a child exited before the power loss: ${k.stderr().slice(0, 500)}`);
        }
        rounds.push(round);

        // Build the folder after the power loss: the main variant continues, the others are checked and dropped.
        const variants = [rng.pick(VARIANTS), rng.pick(VARIANTS)];
        const builds: { out: string; summary: Record<string, unknown> }[] = [];
        variants.forEach((variant, i) => {
          const out = join(base, `after-${r}-${i}`);
          builds.push({ out, summary: rebuild(loc, evDir, out, { variant, lockDirs: rng.pick(['keep', 'drop']), rng: rng.fork(), folderIsNew }) });
        });
        // Other variants: open, drain, check against everything so far.
        for (const b of builds.slice(1)) {
          if (process.env.TORTURE_PL_KEEP) cpSync(b.out, `${b.out}-before-open`, { recursive: true });
          try {
            const drained = await drainFolder(rng.pick(FILE_CLASSES), b.out, sc);
            const res = analyze(rounds, drained);
            for (const v of res.violations) violations.push(`round ${r} (${JSON.stringify(b.summary)}): ${v}`);
          } catch (err) {
            violations.push(`round ${r}: the folder after the power loss (${JSON.stringify(b.summary)}) did not open: ${(err as Error).name} ${(err as { code?: string }).code} ${(err as Error).message}`);
          }
          rmSync(b.out, { recursive: true, force: true });
        }
        // Main variant: it becomes the queue (kept aside on failure for inspection).
        const main = builds[0]!;
        rmSync(loc, { recursive: true, force: true });
        renameSync(main.out, loc);
        const keep = join(base, `after-${r}-copy`);
        cpSync(loc, keep, { recursive: true });
        try {
          const cls = rng.pick(FILE_CLASSES) as QueueClass;
          const q = await cls.open(loc, { order: sc.order, unique: sc.unique });
          expect(await q.size()).toBeGreaterThanOrEqual(0);
          const head = await q.peek();
          if (head !== undefined && checkPayload(head) === undefined) violations.push(`round ${r}: peek() gave a value that is not an intact payload`);
          await q.close();
          rmSync(keep, { recursive: true, force: true });
        } catch (err) {
          violations.push(`round ${r}: the folder after the power loss (${JSON.stringify(main.summary)}) did not open (copy in ${keep}): ${(err as Error).name} ${(err as { code?: string }).code} ${(err as Error).message}`);
          break;
        }
        summaries.push({ round: r, durMode, children: kids.length, ...main.summary });
        if (existsSync(evDir) && violations.length === 0) rmSync(evDir, { recursive: true, force: true });
      }
      let stats: Record<string, number> = {};
      if (violations.length === 0) {
        const drained = await drainFolder(FILE_CLASSES[0]!, loc, sc);
        const res = analyze(rounds, drained);
        stats = res.stats;
        violations.push(...res.violations);
      }
      report({ part: 'powerloss', scenario: sc.name, seed: SEED, rounds: rounds.length, ...stats, violations: violations.length });
      for (const s of summaries) console.log(`[torture] powerloss ${sc.name}: ${JSON.stringify(s)}`);
      expect(violations).toEqual([]);
      expect(stats.putsReturned).toBeGreaterThan(0);
    }, 120_000);
  }
});
