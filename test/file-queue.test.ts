/**
 * File-queue specifics beyond the shared contract: segments roll and consumed ones are deleted, FILO across
 * segments, the sync and Promise twins on one folder at once, the `persist-queue/file` entry, option checks against
 * the folder, and open time that does not grow with the number of items.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as lib from '../dist/esm/file.js';
import { caught, tempDir } from './helpers/classes.js';

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir('pq-file-'));
});
afterEach(() => cleanup());

const segs = (q: string): string[] => readdirSync(q).filter((n) => n.startsWith('seg-'));

describe('file queue: segments', () => {
  it('rolls at segmentBytes, deletes consumed segments, and keeps order across them and across reopen', () => {
    const q0 = join(dir, 'q');
    const q = lib.FileQueueSync.open<number>(q0, { segmentBytes: 4096, durability: 'off' });
    for (let i = 0; i < 2000; i++) q.put(i);
    expect(segs(q0).length).toBeGreaterThan(5);
    expect(q.getMany(1000)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    q.close();
    const q2 = lib.FileQueueSync.open<number>(q0, { segmentBytes: 4096, durability: 'off' });
    const before = segs(q0).length;
    const rest: number[] = [];
    while (!q2.empty()) rest.push(q2.get());
    expect(rest).toEqual(Array.from({ length: 1000 }, (_, i) => 1000 + i));
    q2.put(-1);
    expect(segs(q0).length).toBeLessThan(before);
    expect(segs(q0).length).toBeLessThanOrEqual(2);
    q2.close();
  });

  it('FILO keeps its stack across segments, reopen and interleaved gets', () => {
    const q0 = join(dir, 'q');
    const q = lib.FileQueueSync.open<number>(q0, { order: 'filo', segmentBytes: 4096, durability: 'off' });
    for (let i = 0; i < 500; i++) q.put(i);
    expect(q.getMany(3)).toEqual([499, 498, 497]);
    q.put(1000);
    q.close();
    const q2 = lib.FileQueueSync.open<number>(q0, { order: 'filo', segmentBytes: 4096, durability: 'off' });
    expect(q2.get()).toBe(1000);
    const rest: number[] = [];
    while (!q2.empty()) rest.push(q2.get());
    expect(rest).toEqual(Array.from({ length: 497 }, (_, i) => 496 - i));
    q2.close();
  });

  it('autoCommit false: items held across a segment roll come back after reopen, first', () => {
    const q0 = join(dir, 'q');
    const q = lib.FileQueueSync.open<number>(q0, { autoCommit: false, segmentBytes: 4096, durability: 'off' });
    for (let i = 0; i < 300; i++) q.put(i);
    expect(q.getMany(5)).toEqual([0, 1, 2, 3, 4]);
    q.taskDone();
    for (let i = 300; i < 600; i++) q.put(i);
    q.close();
    const q2 = lib.FileQueueSync.open<number>(q0, { durability: 'off' });
    expect(q2.size()).toBe(599);
    expect(q2.getMany(6)).toEqual([1, 2, 3, 4, 5, 6]);
    q2.close();
  });
});

describe('file queue: twins and entries', () => {
  it('a FileQueueSync and a FileQueue on one folder in one process share it exactly once', async () => {
    const q0 = join(dir, 'q');
    const s = lib.FileQueueSync.open<number>(q0, { durability: 'normal' });
    const a = await lib.FileQueue.open<number>(q0, { durability: 'normal' });
    const puts: Promise<unknown>[] = [];
    for (let i = 0; i < 200; i++) {
      if (i % 2) s.put(i);
      else puts.push(a.put(i));
    }
    await Promise.all(puts);
    const got: number[] = [];
    while ((await a.size()) > 0) {
      got.push(s.get());
      got.push(...(await a.getMany(3, { block: false }).catch(() => [])));
    }
    expect(got.sort((x, y) => x - y)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    await a.close();
    s.close();
  });

  it('persist-queue/file does not load the native SQLite addon (ESM and CommonJS)', () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const esm = spawnSync(process.execPath, ['--input-type=module', '-e', `
      import { createRequire } from 'node:module';
      const m = await import(${JSON.stringify(join(root, 'dist/esm/file.js'))});
      const loaded = Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('better-sqlite3'));
      console.log(JSON.stringify({ loaded, classes: typeof m.FileQueue + typeof m.FileQueueSync + typeof m.QueueError }));
    `], { encoding: 'utf8' });
    expect(JSON.parse(esm.stdout)).toEqual({ loaded: false, classes: 'functionfunctionfunction' });
    const cjs = spawnSync(process.execPath, ['-e', `
      const m = require(${JSON.stringify(join(root, 'dist/cjs/file.js'))});
      const loaded = Object.keys(require.cache).some((k) => k.includes('better-sqlite3'));
      console.log(JSON.stringify({ loaded, classes: typeof m.FileQueue + typeof m.FileQueueSync }));
    `], { encoding: 'utf8' });
    expect(JSON.parse(cjs.stdout)).toEqual({ loaded: false, classes: 'functionfunction' });
  });
});

describe('file queue: options against the folder', () => {
  it("rejects order 'priority' naming the SQLite queues, and unique with filo", async () => {
    const p = await caught(() => lib.FileQueueSync.open(join(dir, 'q'), { order: 'priority' as never }));
    expect(p.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(p.message).toMatch(/SQLite/);
    const u = await caught(() => lib.FileQueueSync.open(join(dir, 'q'), { order: 'filo', unique: true }));
    expect(u.code).toBe('ERR_INVALID_ARG_VALUE');
    const s = await caught(() => lib.FileQueueSync.open(join(dir, 'q'), { segmentBytes: 100 }));
    expect(s.code).toBe('ERR_OUT_OF_RANGE');
    expect(s.message).toMatch(/segmentBytes/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a folder keeps the order it was created with', async () => {
    const q0 = join(dir, 'q');
    lib.FileQueueSync.open(q0, { order: 'filo' }).close();
    const err = await caught(() => lib.FileQueue.open(q0));
    expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(err.message).toMatch(/filo/);
    const again = lib.FileQueueSync.open(q0, { order: 'filo' });
    again.close();
  });

  it('an item larger than a segment is a RangeError and writes nothing', async () => {
    const q = lib.FileQueueSync.open(join(dir, 'q'), { segmentBytes: 4096 });
    const err = await caught(() => q.put('x'.repeat(5000)));
    expect(err).toBeInstanceOf(RangeError);
    expect(q.size()).toBe(0);
    q.close();
  });
});

describe('file queue: lock markers left by an older build (directories)', () => {
  it('a stale lock/ directory is taken over, a dead token and want/ directory are removed; the lock is a file again', () => {
    const q = join(dir, 'q');
    lib.FileQueueSync.open(q, { durability: 'off' }).close();
    mkdirSync(join(q, 'lock'));
    mkdirSync(join(q, 'tokens', '999999999.1.0.deadbeef'), { recursive: true });
    mkdirSync(join(q, 'want'));
    const past = new Date(Date.now() - 60_000);
    utimesSync(join(q, 'lock'), past, past);
    const fq = lib.FileQueueSync.open<number>(q, { durability: 'off', lockStale: 2000 });
    fq.put(1);
    expect(statSync(join(q, 'lock')).isFile()).toBe(true); // held now, as a file
    expect(readdirSync(join(q, 'tokens'))).toHaveLength(1);
    expect(readdirSync(join(q, 'tokens'))).not.toContain('999999999.1.0.deadbeef');
    expect(fq.get()).toBe(1);
    fq.close();
    expect(readdirSync(q)).not.toContain('lock');
    expect(readdirSync(q)).not.toContain('want');
  });
});

describe('file queue: open time', () => {
  it('does not read the waiting items: 200k items open about as fast as 10', () => {
    const time = (q0: string): number => {
      const t = performance.now();
      const q = lib.FileQueueSync.open(q0, { durability: 'off' });
      const took = performance.now() - t;
      q.close();
      return took;
    };
    const small = join(dir, 'small');
    const big = join(dir, 'big');
    const s = lib.FileQueueSync.open(small, { durability: 'off' });
    s.putMany(Array.from({ length: 10 }, (_, i) => i));
    s.close();
    const b = lib.FileQueueSync.open(big, { durability: 'off' });
    for (let k = 0; k < 20; k++) b.putMany(Array.from({ length: 10_000 }, (_, i) => ({ k, i })));
    b.close();
    const tSmall = Math.min(time(small), time(small), time(small));
    const tBig = Math.min(time(big), time(big), time(big));
    expect(tBig).toBeLessThan(tSmall + 30);
  });
});
