/**
 * Torture 5: hostile bytes (SPEC.md guarantee 4, SQLite). A queue file and its un-checkpointed -wal are damaged with
 * a seeded PRNG — random bit flips, truncation, garbage appended, in the database, the WAL or both — and a child
 * process opens and drains every class of queue from the damaged copy. Every step must succeed or fail with a typed
 * error (QueueCorruptError, SerializationError, QueueError ERR_QUEUE_IO); every value returned must be an intact
 * payload that was put (payloads carry sha256(key, body); rows carry a CRC-32 in pq_crc); the child must neither
 * crash (a native fault would kill it by a signal) nor hang (it is killed after 20 s, which fails the test).
 *
 * TORTURE_SEED replays a run; TORTURE_HOSTILE_TRIALS sets the trials per family (default 16).
 */
import { appendFileSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SQLITE_CLASSES, tempDir } from '../helpers/classes.js';
import { prng, report, seedFor, spawnChild, subSeed, workerPath } from './helpers.js';

const HOSTILE = workerPath('hostile-worker.mjs');
const SEED = seedFor('hostile.test.ts');
const TRIALS = Number(process.env.TORTURE_HOSTILE_TRIALS ?? 16);
const COUNT = 60;
const ALLOWED = new Set(['ERR_QUEUE_CORRUPT', 'ERR_QUEUE_SERIALIZATION', 'ERR_QUEUE_IO', 'ERR_QUEUE_EMPTY']);
const { dir, cleanup } = tempDir('pq-torture-hostile-');
afterAll(() => cleanup());

type Rng = ReturnType<typeof prng>;

/** Damages `file` in place; returns a description. */
function damage(file: string, rng: Rng): string {
  if (!existsSync(file)) return `${file} missing`;
  const size = statSync(file).size;
  const kind = rng.pick(['flip', 'flip', 'flip', 'truncate', 'append', 'zero']);
  const name = file.endsWith('-wal') ? 'wal' : 'db';
  if (size === 0) return `${name} empty`;
  if (kind === 'flip') {
    const buf = readFileSync(file);
    const n = rng.int(1, 16);
    const at: number[] = [];
    for (let i = 0; i < n; i++) {
      const off = rng.int(0, size - 1);
      buf[off]! ^= 1 << rng.int(0, 7);
      at.push(off);
    }
    writeFileSync(file, buf);
    return `${name}: ${n} bit flip(s) at ${at.slice(0, 4).join(',')}${n > 4 ? ',…' : ''}`;
  }
  if (kind === 'truncate') {
    const to = rng.int(0, size - 1);
    truncateSync(file, to);
    return `${name}: truncated ${size} -> ${to}`;
  }
  if (kind === 'zero') {
    const from = rng.int(0, size - 1);
    const len = Math.min(size - from, rng.int(1, 8192));
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(len), 0, len, from);
    closeSync(fd);
    return `${name}: ${len} bytes zeroed at ${from}`;
  }
  const garbage = Buffer.alloc(rng.int(1, 20000));
  for (let i = 0; i < garbage.length; i++) garbage[i] = rng.int(0, 255);
  appendFileSync(file, garbage);
  return `${name}: ${garbage.length} garbage bytes appended`;
}

for (const ack of [false, true]) {
  const classes = SQLITE_CLASSES.filter((c) => c.ack === ack);
  describe(`hostile bytes: SQLite ${ack ? 'ack' : 'plain'} queues`, () => {
    it(`${TRIALS} damaged copies: typed errors only, no crash, no hang, no value that was never put`, async () => {
      const rng = prng(subSeed(SEED, `hostile:${ack}`));
      const base = join(dir, ack ? 'ack' : 'plain');
      mkdirSync(base);
      const tpl = join(base, 'tpl.db');
      const cls0 = classes[0]!;
      // Part of the items checkpointed into the database file, the rest only in the WAL of a killed process.
      for (const [i, die] of [[0, false], [1, true]] as const) {
        const c = spawnChild({ role: 'make', cls: cls0.name, location: tpl, prefix: `h-${i}`, count: COUNT / 2, take: 3, seed: rng.int(0, 2 ** 31) + i, die }, { script: HOSTILE });
        const ex = await c.exit;
        expect(ex.signal === 'SIGKILL' || ex.code === 0, c.stderr()).toBe(true);
      }
      expect(existsSync(`${tpl}-wal`)).toBe(true);
      const outcomes: Record<string, number> = {};
      let recovered = 0;
      for (let t = 0; t < TRIALS; t++) {
        const loc = join(base, `t${t}.db`);
        copyFileSync(tpl, loc);
        copyFileSync(`${tpl}-wal`, `${loc}-wal`);
        const target = rng.pick(['db', 'wal', 'both']);
        const what: string[] = [];
        if (target !== 'wal') what.push(damage(loc, rng));
        if (target !== 'db') what.push(damage(`${loc}-wal`, rng));
        const cls = rng.pick(classes);
        // A value was put if its hash checks and its key has the makers' prefix (h-0-<n>, h-1-<n>).
        const c = spawnChild({ role: 'drain', cls: cls.name, location: loc, prefix: 'h', count: COUNT, seed: rng.int(0, 2 ** 31) }, { script: HOSTILE, timeoutMs: 20_000 });
        const ex = await c.exit;
        const label = `trial ${t} (${cls.name}; ${what.join('; ')}; TORTURE_SEED=${SEED})`;
        expect(ex.timedOut, `${label}: hung`).toBe(false);
        expect(ex, `${label}: crashed: ${c.stderr()}`).toEqual({ code: 0, signal: null, timedOut: false });
        const res = JSON.parse(c.stdout().trim().split('\n').pop()!);
        expect(res.values.bad, `${label}: returned values that were never put`).toEqual([]);
        for (const e of res.events as { what: string; ok?: boolean; typed?: boolean; code?: string; name: string; message: string }[]) {
          if (e.ok) continue;
          expect(e.typed, `${label}: ${e.what} threw an untyped ${e.name}: ${e.message}`).toBe(true);
          expect(ALLOWED.has(e.code!), `${label}: ${e.what} threw ${e.name} ${e.code}: ${e.message}`).toBe(true);
          // A file that ends before its data (SQLite's short read) is damage: QueueCorruptError, not ERR_QUEUE_IO.
          if ((e as { cause?: { code?: string } }).cause?.code === 'SQLITE_IOERR_SHORT_READ') expect(e.code, `${label}: ${e.what}: ${e.message}`).toBe('ERR_QUEUE_CORRUPT');
          const key = `${e.what}:${e.code}${e.code === 'ERR_QUEUE_IO' ? `(${(e as { cause?: { code?: string } }).cause?.code})` : ''}`;
          outcomes[key] = (outcomes[key] ?? 0) + 1;
        }
        recovered += res.values.ok;
        console.log(`[torture] ${label}: ${res.values.ok} intact item(s), errors: ${res.events.filter((e: { ok?: boolean }) => !e.ok).map((e: { what: string; code: string; message: string }) => `${e.what}:${e.code}${e.code === 'ERR_QUEUE_IO' ? ` (${e.message})` : ''}`).join(' ') || 'none'}`);
      }
      report({ part: 'hostile', family: ack ? 'sqlite ack' : 'sqlite plain', seed: SEED, trials: TRIALS, recovered, outcomes });
    }, 180_000);
  });
}

