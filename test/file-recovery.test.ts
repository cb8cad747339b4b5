/**
 * Crash recovery of the file queues on real files: a torn last record at every byte offset, bit flips inside
 * records (QueueCorruptError, or skipped and counted with skipCorrupt), missing/empty/garbage/stale checkpoints, and
 * a full disk (ulimit -f in a child process).
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as lib from '../dist/esm/file.js';
import * as format from '../dist/esm/file-queue/format.js';
import * as bodies from '../dist/esm/file-queue/records.js';
import { caught, tempDir } from './helpers/classes.js';

const WORKER = fileURLToPath(new URL('./workers/file-worker.mjs', import.meta.url));

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir('pq-file-rec-'));
});
afterEach(() => cleanup());

const segFiles = (q: string): string[] => readdirSync(q).filter((n) => n.startsWith('seg-')).sort();

/** Record boundaries of a segment file: [start, end) of each record after the 32-byte header. */
function records(file: string): { start: number; end: number; type: number }[] {
  const b = readFileSync(file);
  const out: { start: number; end: number; type: number }[] = [];
  for (let off = format.SEG_HEADER; off < b.length; ) {
    const h = format.checkHeader(b, off);
    if (!h.ok) throw new Error(`bad header at ${off}`);
    out.push({ start: off, end: off + format.REC_HEADER + h.len, type: h.type });
    off += format.REC_HEADER + h.len;
  }
  return out;
}

/** A queue with items 0..n-1, closed. */
function makeQueue(q: string, n: number, options: Record<string, unknown> = {}): void {
  const fq = lib.FileQueueSync.open(q, { durability: 'off', ...options });
  for (let i = 0; i < n; i++) fq.put({ i, s: `item-${i}` });
  fq.close();
}

function copyQueue(from: string, to: string): void {
  rmSync(to, { recursive: true, force: true });
  mkdirSync(to);
  for (const n of readdirSync(from)) if (n.startsWith('seg-') || n === 'checkpoint') copyFileSync(join(from, n), join(to, n));
}

function drain(q: InstanceType<typeof lib.FileQueueSync>): unknown[] {
  const out: unknown[] = [];
  for (;;) {
    try {
      out.push(q.get({ block: false }));
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_QUEUE_EMPTY') return out;
      throw err;
    }
  }
}

const items = (ns: number[]): unknown[] => ns.map((i) => ({ i, s: `item-${i}` }));
const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, k) => a + k);

describe('file queue: torn tail', () => {
  it('drops a torn last record at every byte offset and keeps the records before it', () => {
    const orig = join(dir, 'orig');
    makeQueue(orig, 10);
    const seg = segFiles(orig)[0]!;
    const recs = records(join(orig, seg));
    const last = recs[recs.length - 1]!;
    expect(last.type).toBe(format.T_PUT);
    const work = join(dir, 'work');
    for (let cut = last.start; cut < last.end; cut++) {
      for (const keepCheckpoint of [true, false]) {
        copyQueue(orig, work);
        if (!keepCheckpoint) rmSync(join(work, 'checkpoint'));
        truncateSync(join(work, seg), cut);
        const q = lib.FileQueueSync.open(work, { durability: 'off' });
        expect(q.size(), `cut at ${cut}`).toBe(9);
        q.put({ i: 99, s: 'after' });
        q.close();
        // The repaired file is clean: reopen without any hint and read everything.
        rmSync(join(work, 'checkpoint'));
        const q2 = lib.FileQueueSync.open(work, { durability: 'off' });
        expect(drain(q2)).toEqual([...items(range(0, 9)), { i: 99, s: 'after' }]);
        q2.close();
      }
    }
  });

  it('treats a zero-filled tail (extended but never written) as torn', () => {
    const q0 = join(dir, 'q');
    makeQueue(q0, 3);
    rmSync(join(q0, 'checkpoint'));
    appendFileSync(join(q0, segFiles(q0)[0]!), Buffer.alloc(300));
    const q = lib.FileQueueSync.open(q0, { durability: 'off' });
    expect(drain(q)).toEqual(items([0, 1, 2]));
    q.close();
  });
});

describe('file queue: a write of several records is all or nothing', () => {
  /** orig: 5 items, closed; returns the segment, its length, and the bytes `more` appends (one write). */
  function withTail(orig: string, more: (q: InstanceType<typeof lib.FileQueueSync>) => void): { seg: string; base: number; tail: Buffer } {
    makeQueue(orig, 5);
    const seg = segFiles(orig)[0]!;
    const base = statSync(join(orig, seg)).size;
    const q = lib.FileQueueSync.open(orig, { durability: 'off' });
    more(q);
    q.close();
    expect(segFiles(orig)).toEqual([seg]);
    const tail = readFileSync(join(orig, seg)).subarray(base);
    return { seg, base, tail };
  }

  it('putMany() cut at every byte offset of its write leaves none of its items; complete, all of them', () => {
    const orig = join(dir, 'orig');
    const { seg, base, tail } = withTail(orig, (q) => q.putMany(items(range(5, 15))));
    // The write: ten PUT records, all but the last flagged F_MORE.
    const recs = records(join(orig, seg)).filter((r) => r.start >= base);
    expect(recs.length).toBe(10);
    const flags = recs.map((r) => readFileSync(join(orig, seg))[r.start + 3]! & format.F_MORE);
    expect(flags).toEqual([...Array(9).fill(format.F_MORE), 0]);
    const work = join(dir, 'work');
    for (let cut = 0; cut <= tail.length; cut += cut < 40 || tail.length - cut < 40 ? 1 : 7) {
      copyQueue(orig, work);
      rmSync(join(work, 'checkpoint'));
      truncateSync(join(work, seg), base + cut);
      const q = lib.FileQueueSync.open(work, { durability: 'off' });
      expect(q.size(), `cut at ${cut} of ${tail.length}`).toBe(cut === tail.length ? 15 : 5);
      q.put({ i: 99, s: 'after' });
      expect(drain(q)).toEqual([...items(range(0, cut === tail.length ? 15 : 5)), { i: 99, s: 'after' }]);
      q.close();
    }
  });

  it('a get that writes FLAG + TAKE in one write, cut short: the item is still waiting', () => {
    const orig = join(dir, 'orig');
    const { seg, base, tail } = withTail(orig, (q) => {
      q.get();
    });
    expect(records(join(orig, seg)).filter((r) => r.start >= base).map((r) => r.type)).toEqual([format.T_FLAG, format.T_TAKE, format.T_FLAG]);
    const work = join(dir, 'work');
    const takeEnd = records(join(orig, seg)).filter((r) => r.start >= base)[1]!.end - base;
    for (let cut = 1; cut < takeEnd; cut++) {
      copyQueue(orig, work);
      rmSync(join(work, 'checkpoint'));
      truncateSync(join(work, seg), base + cut);
      const q = lib.FileQueueSync.open(work, { durability: 'off' });
      expect(q.size(), `cut at ${cut}`).toBe(5);
      q.close();
    }
  });

  it('a lock-free reader never applies part of a write; it applies the write once it is complete', async () => {
    const orig = join(dir, 'orig');
    const { seg, base, tail } = withTail(orig, (q) => q.putMany(items(range(5, 15))));
    const work = join(dir, 'work');
    copyQueue(orig, work);
    truncateSync(join(work, seg), base);
    const reader = lib.FileQueueSync.open(work, { durability: 'off' });
    expect(reader.size()).toBe(5);
    // The reader keeps the lock for a moment after its last call; it is lock-free once lock/ is gone.
    const t0 = performance.now();
    while (readdirSync(work).includes('lock')) {
      expect(performance.now() - t0).toBeLessThan(5000);
      await new Promise((r) => setTimeout(r, 2));
    }
    const file = join(work, seg);
    for (let cut = 1; cut < tail.length; cut += 3) {
      truncateSync(file, base);
      appendFileSync(file, tail.subarray(0, cut));
      expect(reader.size(), `cut at ${cut} of ${tail.length}`).toBe(5);
    }
    truncateSync(file, base);
    appendFileSync(file, tail);
    expect(reader.size()).toBe(15);
    expect(drain(reader)).toEqual(items(range(0, 15)));
    reader.close();
  });
});

describe('file queue: corrupt records', () => {
  it('a flipped bit anywhere in a record gives QueueCorruptError (never garbage), or is skipped and counted', () => {
    const orig = join(dir, 'orig');
    makeQueue(orig, 10);
    const seg = segFiles(orig)[0]!;
    const victim = records(join(orig, seg)).filter((r) => r.type === format.T_PUT)[5]!;
    const work = join(dir, 'work');
    for (let at = victim.start; at < victim.end; at++) {
      for (const keepCheckpoint of [true, false]) {
        copyQueue(orig, work);
        if (!keepCheckpoint) rmSync(join(work, 'checkpoint'));
        const file = join(work, seg);
        const b = readFileSync(file);
        b[at] ^= 1 << (at % 8);
        writeFileSync(file, b);
        // Default: everything returned is right, and the damage is reported.
        const got: unknown[] = [];
        let error: (Error & { code?: string }) | undefined;
        try {
          const q = lib.FileQueueSync.open(work, { durability: 'off' });
          try {
            for (;;) {
              try {
                got.push(q.get({ block: false }));
              } catch (err) {
                if ((err as { code?: string }).code === 'ERR_QUEUE_EMPTY') break;
                throw err;
              }
            }
          } finally {
            q.close();
          }
        } catch (err) {
          error = err as Error & { code?: string };
        }
        expect(error, `flip at ${at}, checkpoint ${keepCheckpoint}`).toBeInstanceOf(lib.QueueCorruptError);
        expect(error!.code).toBe('ERR_QUEUE_CORRUPT');
        expect(got).toEqual(items(range(0, got.length)));
        expect(got.length).toBeLessThanOrEqual(5);
        if (keepCheckpoint) expect(got.length).toBe(5); // the get that would return the damaged item throws
        // skipCorrupt: every other item, the damaged one counted.
        copyQueue(orig, work);
        if (!keepCheckpoint) rmSync(join(work, 'checkpoint'));
        writeFileSync(file, b);
        const q = lib.FileQueueSync.open(work, { durability: 'off', skipCorrupt: true });
        expect(drain(q), `flip at ${at}`).toEqual(items([0, 1, 2, 3, 4, 6, 7, 8, 9]));
        expect(q.corruptSkipped).toBe(1);
        q.close();
      }
    }
  });

  it('a corrupt segment header is reported, not mistaken for an unfinished segment', async () => {
    const q0 = join(dir, 'q');
    makeQueue(q0, 2);
    const file = join(q0, segFiles(q0)[0]!);
    const b = readFileSync(file);
    b[3] ^= 0xff;
    writeFileSync(file, b);
    const err = await caught(() => lib.FileQueueSync.open(q0));
    expect(err).toBeInstanceOf(lib.QueueCorruptError);
    expect(statSync(file).size).toBe(b.length);
  });
});

describe('file queue: checkpoint is only a hint', () => {
  for (const kind of ['missing', 'empty', 'garbage', 'truncated', 'stale', 'foreign']) {
    it(`rebuilds from the segments when the checkpoint is ${kind}`, () => {
      const q0 = join(dir, 'q');
      makeQueue(q0, 5);
      const oldCk = readFileSync(join(q0, 'checkpoint'));
      const other = join(dir, 'other');
      makeQueue(other, 7);
      const fq = lib.FileQueueSync.open(q0, { durability: 'off' });
      fq.get();
      fq.put({ i: 5, s: 'item-5' });
      fq.close();
      const ck = join(q0, 'checkpoint');
      if (kind === 'missing') rmSync(ck);
      if (kind === 'empty') writeFileSync(ck, '');
      if (kind === 'garbage') writeFileSync(ck, Buffer.from('PQFCKPT\n this is not a checkpoint at all........'));
      if (kind === 'truncated') writeFileSync(ck, readFileSync(ck).subarray(0, 30));
      if (kind === 'stale') writeFileSync(ck, oldCk);
      if (kind === 'foreign') copyFileSync(join(other, 'checkpoint'), ck);
      const q = lib.FileQueueSync.open(q0, { durability: 'off' });
      expect(q.size()).toBe(5);
      expect(drain(q)).toEqual(items([1, 2, 3, 4, 5]));
      q.close();
      // A fresh, valid checkpoint was written.
      expect(bodies.decodeCheckpoint(readFileSync(ck))).toBeDefined();
    });
  }

  it('a unique queue rebuilds its set of waiting items without a checkpoint', () => {
    const q0 = join(dir, 'q');
    const fq = lib.FileQueueSync.open(q0, { unique: true, durability: 'off' });
    fq.putMany(['a', 'b', 'c']);
    fq.get();
    fq.close();
    rmSync(join(q0, 'checkpoint'));
    const q = lib.FileQueueSync.open(q0, { unique: true, durability: 'off' });
    expect(q.put('b')).toBeNull();
    expect(q.put('a')).toBeTypeOf('number');
    expect(drain(q)).toEqual(['b', 'c', 'a']);
    q.close();
  });
});

describe('file queue: disk full', () => {
  const hasBash = spawnSync('bash', ['-c', 'true']).status === 0;
  for (const cls of ['FileQueueSync', 'FileQueue']) {
    for (const batch of [undefined, 7]) {
      it.skipIf(!hasBash)(`${cls}${batch ? ' putMany' : ''}: a write that hits the file size limit throws a typed error and leaves nothing half-written`, () => {
        const q0 = join(dir, 'q');
        const job = { role: 'fill-until-error', cls, dir: q0, options: { durability: 'normal' }, pad: 1000, batch };
        const r = spawnSync('bash', ['-c', `ulimit -f 64; exec "${process.execPath}" "${WORKER}" '${JSON.stringify(job)}'`], { encoding: 'utf8', timeout: 30_000 });
        expect(r.status, r.stderr).toBe(0);
        const out = JSON.parse(r.stdout) as { acked: number; code: string; isQueueError: boolean; message: string };
        expect(out.isQueueError, out.message).toBe(true);
        expect(out.code).toBe('ERR_QUEUE_IO');
        expect(out.acked).toBeGreaterThan(10);
        for (const f of segFiles(q0)) expect(statSync(join(q0, f)).size).toBeLessThanOrEqual(64 * 1024);
        for (const hint of [true, false]) {
          if (!hint) rmSync(join(q0, 'checkpoint'), { force: true });
          const q = lib.FileQueueSync.open(q0, { durability: 'off' });
          expect(q.size()).toBe(out.acked);
          const got = q.getMany(out.acked) as { n: number }[];
          expect(got.map((g) => g.n)).toEqual(range(0, out.acked));
          // Nothing was consumed durably (close writes no removal of unfinished gets with autoCommit... they are
          // gone): reopen the copy for the second round instead.
          q.close();
          if (hint) {
            // Put the items back for the no-hint round: the queue is writable again without the limit.
            const w = lib.FileQueueSync.open(q0, { durability: 'off' });
            w.putMany(got);
            w.close();
          }
        }
      });
    }
  }
});

describe('file queue: a segment that holds waiting items is gone', () => {
  const N = 400;
  for (const order of ['fifo', 'filo'] as const) {
    it(`${order}: QueueCorruptError at the gap, never a silent loss; skipped and counted with skipCorrupt`, () => {
      const q0 = join(dir, 'q');
      // segmentBytes 4096: about 80 items per segment.
      makeQueue(q0, N, { order, segmentBytes: 4096 });
      const segs = segFiles(q0);
      expect(segs.length).toBeGreaterThanOrEqual(4);
      const gone = segs[2]!;
      const inGone = new Set(
        records(join(q0, gone))
          .filter((r) => r.type === format.T_PUT)
          .map((r) => {
            const b = readFileSync(join(q0, gone));
            const put = bodies.decodeBody(format.T_PUT, b[r.start + 3]!, b.subarray(r.start + format.REC_HEADER, r.end)) as { data: Uint8Array };
            return JSON.parse(Buffer.from(put.data).toString()).i as number;
          }),
      );
      expect(inGone.size).toBeGreaterThan(5);
      for (const keepCheckpoint of [true, false]) {
        const work = join(dir, 'work');
        copyQueue(q0, work);
        rmSync(join(work, gone));
        if (!keepCheckpoint) rmSync(join(work, 'checkpoint'));
        const q = lib.FileQueueSync.open(work, { durability: 'off', order, segmentBytes: 4096 });
        const got: unknown[] = [];
        const err = (() => {
          try {
            for (;;) got.push(q.get({ block: false }));
          } catch (e) {
            return e as Error & { code?: string };
          }
        })();
        expect(err, `checkpoint ${keepCheckpoint}`).toBeInstanceOf(lib.QueueCorruptError);
        // Everything before the gap came out, in order; nothing from or after it.
        const expected = order === 'fifo' ? range(0, Math.min(...inGone)) : range(Math.max(...inGone) + 1, N).reverse();
        expect(got).toEqual(items(expected));
        q.close();
        copyQueue(q0, work);
        rmSync(join(work, gone));
        if (!keepCheckpoint) rmSync(join(work, 'checkpoint'));
        const qs = lib.FileQueueSync.open(work, { durability: 'off', order, segmentBytes: 4096, skipCorrupt: true });
        const all = drain(qs) as { i: number }[];
        // FIFO: every item of the other segments; FILO: the link to the items below the gap is gone with it.
        const rest = order === 'fifo' ? range(0, N).filter((i) => !inGone.has(i)) : range(Math.max(...inGone) + 1, N).reverse();
        expect(all).toEqual(items(rest));
        expect(qs.corruptSkipped).toBeGreaterThan(0);
        expect(qs.size()).toBe(0);
        qs.close();
      }
    });
  }
});

describe('file queue: unique queue with skipCorrupt', () => {
  it('dropping a corrupt item keeps the set of waiting items consistent (no negative size, checkpoint intact)', () => {
    const q0 = join(dir, 'q');
    makeQueue(q0, 400, { unique: true, segmentBytes: 4096 });
    // The first waiting item damaged, in an earlier segment: the state comes from the last segment's STATE record (no
    // replay meets it), and the set of waiting items is rebuilt by reading them from the head.
    const seg = segFiles(q0)[0]!;
    const victim = records(join(q0, seg)).filter((r) => r.type === format.T_PUT)[0]!;
    const b0 = readFileSync(join(q0, seg));
    const lost = (JSON.parse(Buffer.from((bodies.decodeBody(format.T_PUT, b0[victim.start + 3]!, b0.subarray(victim.start + format.REC_HEADER, victim.end)) as { data: Uint8Array }).data).toString()) as { i: number }).i;
    const b = readFileSync(join(q0, seg));
    b[victim.end - 2] ^= 0x10;
    writeFileSync(join(q0, seg), b);
    rmSync(join(q0, 'checkpoint'));
    const q = lib.FileQueueSync.open(q0, { durability: 'off', unique: true, skipCorrupt: true, segmentBytes: 4096 });
    expect(drain(q)).toEqual(items(range(0, 400).filter((i) => i !== lost)));
    expect(q.corruptSkipped).toBe(1);
    q.close(); // writes a checkpoint holding the set of waiting items
    const ck = bodies.decodeCheckpoint(readFileSync(join(q0, 'checkpoint')));
    expect(ck?.hashes).toBeDefined();
    const q2 = lib.FileQueueSync.open(q0, { durability: 'off', unique: true, segmentBytes: 4096 });
    expect(q2.size()).toBe(0);
    expect(q2.put({ i: 0, s: 'item-0' })).toBeTypeOf('number'); // taken before: not waiting, so not a duplicate
    expect(q2.put({ i: 0, s: 'item-0' })).toBeNull();
    q2.close();
  });
});
