/**
 * FILO file queues opened with skipCorrupt: a damaged item in the middle of the stack is skipped and counted, and the
 * items below it still come back, in order. The damaged record took its link to the item below with it; that item is
 * found from the log before the record (its segment's STATE record and the PUT and TAKE records between).
 * Regression: the items below a damaged item were lost (a get reported the queue empty), found by the CLI's repair
 * test (test/cli/repair.test.ts).
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as lib from '../dist/esm/file.js';
import * as format from '../dist/esm/file-queue/format.js';
import * as bodies from '../dist/esm/file-queue/records.js';
import { tempDir } from './helpers/classes.js';

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir('pq-filo-skip-'));
});
afterEach(() => cleanup());

const OPTS = { order: 'filo', segmentBytes: 4096, durability: 'off' } as const;
const item = (i: number) => ({ i, s: `item-${i}` });
const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, k) => a + k);
const segFiles = (q: string): string[] => readdirSync(q).filter((n) => n.startsWith('seg-')).sort();

/** Every PUT record of the folder: its segment file, byte range and item number, in log order. */
function puts(q: string): { seg: string; start: number; end: number; i: number }[] {
  const out: { seg: string; start: number; end: number; i: number }[] = [];
  for (const seg of segFiles(q)) {
    const b = readFileSync(join(q, seg));
    for (let off = format.SEG_HEADER; off < b.length; ) {
      const h = format.checkHeader(b, off);
      if (!h.ok) throw new Error(`bad header at ${seg}:${off}`);
      const end = off + format.REC_HEADER + h.len;
      if (h.type === format.T_PUT) {
        const rec = bodies.decodeBody(format.T_PUT, h.flags, b.subarray(off + format.REC_HEADER, end)) as { data: Uint8Array };
        out.push({ seg, start: off, end, i: JSON.parse(Buffer.from(rec.data).toString()).i });
      }
      off = end;
    }
  }
  return out;
}

/** Flips one bit in the body of the PUT record of item `i` (its header stays valid: the checksum fails). */
function damageItem(q: string, i: number): void {
  const r = puts(q).find((p) => p.i === i)!;
  const f = join(q, r.seg);
  const b = readFileSync(f);
  b[r.end - 3]! ^= 0x08;
  writeFileSync(f, b);
}

function copyQueue(from: string, to: string): void {
  rmSync(to, { recursive: true, force: true });
  mkdirSync(to);
  for (const n of readdirSync(from)) if (n.startsWith('seg-') || n === 'checkpoint') copyFileSync(join(from, n), join(to, n));
}

function drain(q: InstanceType<typeof lib.FileQueueSync>): number[] {
  const out: number[] = [];
  for (;;) {
    try {
      out.push((q.get({ block: false }) as { i: number }).i);
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_QUEUE_EMPTY') return out;
      throw err;
    }
  }
}

/** Opens copies of `tpl` (with and without its checkpoint) with skipCorrupt and drains them. */
function drainCopies(tpl: string): { checkpoint: boolean; got: number[]; skipped: number; size: number }[] {
  return [true, false].map((checkpoint) => {
    const work = join(dir, `work-${checkpoint}`);
    copyQueue(tpl, work);
    // Without the checkpoint the state comes from the last STATE record and a replay that meets (and skips) the
    // damaged records of the last segment: those items were never counted.
    if (!checkpoint) rmSync(join(work, 'checkpoint'));
    const q = lib.FileQueueSync.open(work, { ...OPTS, skipCorrupt: true });
    const got = drain(q);
    const r = { checkpoint, got, skipped: q.corruptSkipped, size: q.size() };
    q.close();
    return r;
  });
}

describe('FILO file queue with skipCorrupt: a damaged item in the stack', () => {
  it('items below damaged items in the newest, a middle and at the start of a segment all come back, in order', () => {
    const tpl = join(dir, 'tpl');
    const N = 240;
    const q = lib.FileQueueSync.open(tpl, OPTS);
    for (let i = 0; i < N; i++) q.put(item(i));
    q.close();
    const segs = segFiles(tpl);
    expect(segs.length).toBeGreaterThanOrEqual(3);
    const all = puts(tpl);
    const inSeg = (s: string) => all.filter((p) => p.seg === s).map((p) => p.i);
    const newest = inSeg(segs[segs.length - 1]!);
    const middle = inSeg(segs[1]!);
    // a damaged item inside the newest segment (not its last record: that one would be a torn tail), the first item
    // of a middle segment (the item below it comes from the segment's STATE record), and one in the first segment
    const hit = [newest[Math.floor(newest.length / 2)]!, middle[0]!, 17];
    expect(newest.length).toBeGreaterThan(3);
    for (const i of hit) damageItem(tpl, i);
    const want = range(0, N).filter((i) => !hit.includes(i)).reverse();
    for (const r of drainCopies(tpl)) {
      expect(r.got, `checkpoint ${r.checkpoint}`).toEqual(want);
      expect([r.skipped, r.size], `checkpoint ${r.checkpoint}`).toEqual([hit.length, 0]);
    }
  });

  it('after takes: the item below comes from the TAKE record before the damaged item; the bottom item may be damaged', () => {
    const tpl = join(dir, 'tpl');
    const q = lib.FileQueueSync.open(tpl, OPTS);
    for (let i = 0; i < 100; i++) q.put(item(i));
    expect((q.getMany(30) as { i: number }[]).map((x) => x.i)).toEqual(range(70, 100).reverse());
    for (let i = 100; i < 150; i++) q.put(item(i));
    q.close();
    // 100 was put right after the take of 99..70: the item below it is 69, named by that TAKE record
    for (const i of [100, 0, 120]) damageItem(tpl, i);
    const want = [...range(1, 70), ...range(101, 120), ...range(121, 150)].reverse();
    for (const r of drainCopies(tpl)) {
      expect(r.got, `checkpoint ${r.checkpoint}`).toEqual(want);
      expect([r.skipped, r.size], `checkpoint ${r.checkpoint}`).toEqual([3, 0]);
    }
    // without skipCorrupt the first damaged item still stops the get, which changes nothing
    const strict = lib.FileQueueSync.open(tpl, OPTS);
    expect(strict.getMany(29).map((x) => (x as { i: number }).i)).toEqual(range(121, 150).reverse());
    expect(() => strict.get({ block: false })).toThrow(lib.QueueCorruptError);
    expect(() => strict.get({ block: false })).toThrow(lib.QueueCorruptError);
    strict.close();
  });
});
