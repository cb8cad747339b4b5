/**
 * Damage helpers of the hostile-bytes torture (hostile.test.ts), shared with the CLI's verify/repair tests: seeded bit
 * flips, truncation, zeroed ranges and garbage for SQLite files; segment and checkpoint damage for file-queue folders.
 */
import { appendFileSync, closeSync, copyFileSync, existsSync, openSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import * as format from '../../dist/esm/file-queue/format.js';
import { prng } from './helpers.js';

export type Rng = ReturnType<typeof prng>;

/** Damages `file` in place; returns a description. */
export function damage(file: string, rng: Rng): string {
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

/** Segment file names of queue folder `q`, in order. */
export const segNames = (q: string): string[] => readdirSync(q).filter((n) => /^seg-\d{10}\.log$/.test(n)).sort();

/** [start, end, type] of every record of a segment file, up to the first damaged or incomplete one. */
export function segRecords(file: string): { start: number; end: number; type: number }[] {
  const b = readFileSync(file);
  const out: { start: number; end: number; type: number }[] = [];
  for (let off = format.SEG_HEADER; off < b.length; ) {
    const h = format.checkHeader(b, off);
    if (!h.ok || off + format.REC_HEADER + h.len > b.length) break;
    out.push({ start: off, end: off + format.REC_HEADER + h.len, type: h.type });
    off += format.REC_HEADER + h.len;
  }
  return out;
}

/** Flips `n` random bits of `file` in bytes [lo, hi); returns a description. */
export function flipBits(file: string, rng: Rng, lo: number, hi: number, n: number): string {
  const buf = readFileSync(file);
  hi = Math.min(hi, buf.length);
  if (hi <= lo) return 'nothing to flip';
  const at: number[] = [];
  for (let i = 0; i < n; i++) {
    const off = rng.int(lo, hi - 1);
    buf[off]! ^= 1 << rng.int(0, 7);
    at.push(off);
  }
  writeFileSync(file, buf);
  return `${n} bit flip(s) at ${at.slice(0, 4).join(',')}${n > 4 ? ',…' : ''}`;
}

export function randomBytes(rng: Rng, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(0, 255);
  return b;
}

/** Damages the checkpoint file of queue folder `q` (never a segment); returns a description. */
export function damageCheckpoint(q: string, tplStale: string, rng: Rng, kind = rng.pick(['flip', 'truncate', 'append', 'empty', 'garbage', 'stale', 'delete'])): string {
  const ck = join(q, 'checkpoint');
  const size = statSync(ck).size;
  switch (kind) {
    case 'flip':
      return `checkpoint: ${flipBits(ck, rng, 0, size, rng.int(1, 8))}`;
    case 'truncate': {
      const to = rng.int(0, size - 1);
      truncateSync(ck, to);
      return `checkpoint: truncated ${size} -> ${to}`;
    }
    case 'append':
      appendFileSync(ck, randomBytes(rng, rng.int(1, 300)));
      return 'checkpoint: garbage appended';
    case 'empty':
      writeFileSync(ck, '');
      return 'checkpoint: empty';
    case 'garbage': {
      // Garbage behind a valid magic and version.
      const g = randomBytes(rng, rng.int(24, 600));
      readFileSync(ck).copy(g, 0, 0, 10);
      writeFileSync(ck, g);
      return 'checkpoint: garbage';
    }
    case 'stale':
      copyFileSync(tplStale, ck);
      return 'checkpoint: stale (an earlier position of the log)';
    default:
      rmSync(ck);
      return 'checkpoint: deleted';
  }
}

export type SegDamage = 'flip-header' | 'flip-state' | 'flip-rec-header' | 'flip-length' | 'flip-body' | 'flip-any' | 'truncate' | 'append' | 'zero' | 'delete-middle' | 'swap';
export const SEG_DAMAGE: SegDamage[] = ['flip-header', 'flip-state', 'flip-rec-header', 'flip-length', 'flip-body', 'flip-body', 'flip-any', 'flip-any', 'truncate', 'truncate', 'append', 'append', 'zero', 'delete-middle', 'swap'];

/** Damages the segment files of queue folder `q`; returns a description. */
export function damageSegments(q: string, rng: Rng, kind: SegDamage): string {
  const segs = segNames(q);
  const name = kind === 'delete-middle' ? segs[rng.int(1, Math.max(1, segs.length - 2))]! : rng.pick(segs);
  const file = join(q, name);
  const size = statSync(file).size;
  const recs = segRecords(file);
  if (recs.length === 0) recs.push({ start: format.SEG_HEADER, end: Math.min(size, format.SEG_HEADER + 64), type: 0 });
  const rec = recs.length > 1 ? recs[rng.int(1, recs.length - 1)]! : recs[0]!;
  switch (kind) {
    case 'flip-header':
      return `${name}: segment header ${flipBits(file, rng, 0, format.SEG_HEADER, rng.int(1, 3))}`;
    case 'flip-state':
      return `${name}: STATE record ${flipBits(file, rng, recs[0]!.start, recs[0]!.end, rng.int(1, 3))}`;
    case 'flip-rec-header':
      return `${name}: header of record type ${rec.type} at ${rec.start}: ${flipBits(file, rng, rec.start, rec.start + format.REC_HEADER, 1)}`;
    case 'flip-length':
      return `${name}: length of record type ${rec.type} at ${rec.start}: ${flipBits(file, rng, rec.start + 4, rec.start + 8, rng.int(1, 2))}`;
    case 'flip-body':
      return `${name}: body of record type ${rec.type} at ${rec.start}: ${flipBits(file, rng, rec.start + format.REC_HEADER, rec.end, rng.int(1, 4))}`;
    case 'flip-any':
      return `${name}: ${flipBits(file, rng, 0, size, rng.int(1, 16))}`;
    case 'truncate': {
      const to = rng.int(0, size - 1);
      truncateSync(file, to);
      return `${name}: truncated ${size} -> ${to}`;
    }
    case 'append':
      appendFileSync(file, randomBytes(rng, rng.int(1, 5000)));
      return `${name}: garbage appended`;
    case 'zero': {
      const from = rng.int(0, size - 1);
      const len = Math.min(size - from, rng.int(1, 600));
      const fd = openSync(file, 'r+');
      writeSync(fd, Buffer.alloc(len), 0, len, from);
      closeSync(fd);
      return `${name}: ${len} bytes zeroed at ${from}`;
    }
    case 'delete-middle':
      if (segs.length < 3) return 'no middle segment';
      rmSync(file);
      return `${name} deleted`;
    default: {
      if (segs.length < 2) return 'one segment: nothing to swap';
      const other = rng.pick(segs.filter((s) => s !== name));
      const a = readFileSync(file);
      copyFileSync(join(q, other), file);
      writeFileSync(join(q, other), a);
      return `${name} and ${other} swapped`;
    }
  }
}
