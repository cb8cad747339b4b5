/**
 * Torture 1: random kill -9. Rounds of producer and consumer child processes (sync and Promise classes mixed,
 * random durability) are killed with SIGKILL at random moments. Producers log each key before put() (I) and after it
 * returned (P: the oracle); consumers log each key they received (R) before taskDone()/ack(), and again (D) after.
 * After every round the queue must open without help in a fresh instance of each class; at the end a drain must give
 * back every returned put that was not delivered, nothing invented or corrupted (each payload carries
 * sha256(key, body)), and repeats only where at-least-once is documented. See analyzeRun() in common.mjs for the
 * exact rules, including the one excused loss: the in-flight batch of a killed autoCommit:true consumer.
 *
 * TORTURE_SEED replays a run; TORTURE_ROUNDS sets the number of rounds (default 4).
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/classes.js';
import { analyzeRun, checkPayload, drain, families, kill9, prng, readLines, report, seedFor, sleep, spawnChild, subSeed, type Child } from './helpers.js';

const SEED = seedFor('kill.test.ts');
const ROUNDS = Number(process.env.TORTURE_ROUNDS ?? 4);
const { dir, cleanup } = tempDir('pq-torture-kill-');
afterAll(() => cleanup());

for (const fam of families()) {
  describe(`kill -9: ${fam.name} (${fam.classes.map((c) => c.name).join(', ')})`, () => {
    it(`${ROUNDS} rounds of producers and consumers killed at random: nothing returned is lost, nothing invented`, async () => {
      const rng = prng(subSeed(SEED, `kill:${fam.name}`));
      // the folder's name is the PostgreSQL queue's name: unique per test file (kill and load must not share a table)
      const loc = fam.classes[0]!.location(join(dir, `kill_${fam.name.replace(/\W/g, '_')}`));
      const { mkdirSync } = await import('node:fs');
      mkdirSync(join(dir, `kill_${fam.name.replace(/\W/g, '_')}`), { recursive: true });
      const producers: { log: string }[] = [];
      const consumers: { log: string; mode: string; killed: boolean }[] = [];
      let children = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const kids: { c: Child; rec: { log: string; killed: boolean } }[] = [];
        const nProd = rng.int(1, 3);
        const nCons = rng.int(1, 3);
        for (let i = 0; i < nProd + nCons; i++) {
          const cls = rng.pick(fam.classes);
          const durability = rng.pick(['full', 'normal', 'off'].filter((d) => cls.durabilities.includes(d))); // PostgreSQL: no 'off'
          // One log per family and child: families that share 'plain' or 'ack' must not append to each other's logs.
          const log = join(dir, `${fam.name.replace(/\W/g, '_')}-r${round}-${i}.log`);
          let job: Record<string, unknown>;
          let rec: { log: string; mode?: string; killed: boolean };
          if (i < nProd) {
            job = { role: 'produce', cls: cls.name, mode: 'mixed', prefix: `r${round}p${i}`, count: rng.int(50, 800) };
            rec = { log, killed: false };
            producers.push(rec);
          } else {
            const mode = fam.ack ? 'ack' : cls.autoCommit ? rng.pick(['manual', 'manual', 'auto']) : 'manual';
            job = { role: 'consume', cls: cls.name, mode, batch: rng.pick([1, 1, 3]), getTimeout: 50, pauseMs: rng.pick([0, 2, 10]) };
            if (mode === 'manual') job.options = { autoCommit: false };
            rec = { log, mode, killed: false };
            consumers.push(rec as { log: string; mode: string; killed: boolean });
          }
          job.location = loc;
          job.log = log;
          job.seed = rng.int(0, 2 ** 31);
          job.options = { ...((job.options as object) ?? {}), durability };
          kids.push({ c: spawnChild(job, { timeoutMs: 60_000 }), rec });
          children++;
        }
        // Kill each child at its own random moment (some while still opening the queue).
        // The first producer of a round gets its first put through before its clock starts, so that every round has
        // returned puts to check.
        const delays = kids.map(() => rng.int(20, 1500));
        await Promise.all(
          kids.map(async ({ c, rec }, i) => {
            if (i === 0) {
              const t0 = performance.now();
              while (!readLines(rec.log).some((l: string) => l.startsWith('P ')) && c.child.exitCode === null && performance.now() - t0 < 15_000) await sleep(5);
            }
            await sleep(delays[i]!);
            await kill9(c);
            rec.killed = c.killed;
          }),
        );
        // A producer may finish its count before its kill; any other exit is a failure.
        for (const { c } of kids) {
          const ex = await c.exit;
          if (!c.killed && ex.code !== 0) expect.fail(`child failed (${ex.code ?? ex.signal}): ${c.stderr()}`);
        }
        // The queue opens without help, in a fresh instance of every class, and is sound.
        for (const cls of fam.classes) {
          const q = await cls.open(loc);
          const size = await q.size();
          expect(size).toBeGreaterThanOrEqual(0);
          const head = await q.peek();
          if (head !== undefined) expect(checkPayload(head), JSON.stringify(head)).toBeTypeOf('string');
          await q.close();
        }
        if (fam.backend === 'sqlite') {
          const db = new Database(loc, { readonly: true });
          expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
          db.close();
        }
      }
      // The drain needs no fsync per ack: durability is per connection.
      const q = await fam.classes[0]!.open(loc, { durability: fam.classes[0]!.durabilities.includes('off') ? 'off' : 'normal' });
      const drained = await drain(fam.classes[0]!, q);
      expect(await q.size()).toBe(0);
      if (fam.ack) expect(await q.unackCount()).toBe(0);
      await q.close();
      const { stats, violations } = analyzeRun({ producers, consumers, drained });
      report({ part: 'kill', family: fam.name, seed: SEED, rounds: ROUNDS, children, ...stats, violations: violations.length });
      expect(violations).toEqual([]);
      expect(stats.putsReturned).toBeGreaterThan(0);
    }, 180_000);
  });
}
