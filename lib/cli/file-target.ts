/**
 * The CLI on a file-queue folder. Reading commands never write into the folder: `verify` reads the segment files
 * byte by byte (it must report positions), and `info`/`peek`/`export` copy the segments and the checkpoint into a
 * private temporary folder and open that copy with the library (recovery, if any, happens on the copy). Writing
 * commands (put, get, import) open the folder itself with `FileQueueSync`. Internal to the CLI.
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from '../common/crc.js';
import { FileQueueSync } from '../file-queue/queue.js';
import { checkHeader, decodeSegHeader, REC_HEADER, SEG_HEADER, T_PUT } from '../file-queue/format.js';
import { problem, usageError } from './output.js';

const SEG = /^seg-\d{10}\.log$/;

export function segments(dir: string): string[] {
  return readdirSync(dir).filter((n) => SEG.test(n)).sort();
}

/** Order and unique flag of the folder's queue, from its first segment header. */
export function folderKind(dir: string): { order: 'fifo' | 'filo'; unique: boolean } {
  const names = readdirSync(dir);
  const segs = names.filter((n) => SEG.test(n)).sort();
  if (segs.length === 0) {
    if (names.includes('checkpoint')) return { order: 'fifo', unique: false };
    throw usageError(`${dir}: not a queue folder (no seg-*.log segment files)`);
  }
  const h = decodeSegHeader(readFileSync(join(dir, segs[0]!)).subarray(0, SEG_HEADER));
  if (h === undefined) throw problem(`${dir}/${segs[0]}: damaged segment header (run verify)`);
  return { order: h.order === 1 ? 'filo' : 'fifo', unique: h.unique };
}

export function folderBytes(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir)) {
    try {
      const s = statSync(join(dir, f));
      if (s.isFile()) n += s.size;
    } catch {
      // gone meanwhile
    }
  }
  return n;
}

/**
 * A bound on the age of the oldest waiting item (file queues keep no per-item time): the birth time of the folder's
 * lowest-numbered segment file. A holder deletes only segments without live items, so every waiting item was put
 * into that segment or a later one, at or after that time. Null when the file system keeps no birth time.
 */
export function oldestBound(dir: string): number | null {
  const first = segments(dir)[0];
  if (first === undefined) return null;
  try {
    const s = statSync(join(dir, first));
    return s.birthtimeMs > 0 ? Math.round(s.birthtimeMs) : null;
  } catch {
    return null; // deleted meanwhile
  }
}

/** Runs `fn` on a private copy of the queue's files, opened with the library, and removes the copy. */
export function withCopy<R>(dir: string, fn: (q: FileQueueSync<unknown>) => R): R {
  const kind = folderKind(dir);
  const tmp = mkdtempSync(join(tmpdir(), 'pq-cli-'));
  try {
    const names = readdirSync(dir);
    // the checkpoint first: it is a hint that may only be older than the segments copied after it
    if (names.includes('checkpoint')) copyFileSync(join(dir, 'checkpoint'), join(tmp, 'checkpoint'));
    for (const n of names.filter((x) => SEG.test(x)).sort()) copyFileSync(join(dir, n), join(tmp, n));
    // an error names the user's folder, not this copy (which is gone by the time it is printed)
    const here = (e: unknown): string => String((e as Error)?.message ?? e).split(tmp).join(dir);
    let q: FileQueueSync<unknown>;
    try {
      q = FileQueueSync.open(tmp, { order: kind.order, unique: kind.unique, durability: 'off', lockTimeout: 0 });
    } catch (e) {
      throw problem(`${dir}: cannot read the queue: ${here(e)} (run verify)`);
    }
    try {
      return fn(q);
    } catch (e) {
      if (e instanceof Error && e.message.includes(tmp)) e.message = here(e);
      throw e;
    } finally {
      q.close();
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

export function openFileWriter(dir: string): FileQueueSync<unknown> {
  let kind: { order: 'fifo' | 'filo'; unique: boolean } = { order: 'fifo', unique: false };
  try {
    if (readdirSync(dir).length > 0) kind = folderKind(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  return FileQueueSync.open(dir, { order: kind.order, unique: kind.unique });
}

export interface FileDamage {
  segment: string;
  offset: number;
  problem: string;
  /** Record type when the header was readable ('put' is a lost item). */
  type?: string;
}

const TYPES = ['', 'put', 'take', 'done', 'return', 'flag', 'state', 'end'];

/** Reads every record of every segment and checks its header and body CRC. */
export function verifyFolder(dir: string): { segments: number; records: number; puts: number; damaged: FileDamage[] } {
  const segs = segments(dir);
  if (segs.length === 0) folderKind(dir);
  const damaged: FileDamage[] = [];
  let records = 0;
  let puts = 0;
  for (const s of segs) {
    const buf = readFileSync(join(dir, s));
    if (buf.length < SEG_HEADER) {
      damaged.push({ segment: s, offset: 0, problem: `torn segment (${buf.length} bytes)` });
      continue;
    }
    if (decodeSegHeader(buf) === undefined) {
      damaged.push({ segment: s, offset: 0, problem: 'damaged segment header' });
    }
    let at = SEG_HEADER;
    while (at < buf.length) {
      if (buf.length - at < REC_HEADER) {
        damaged.push({ segment: s, offset: at, problem: `torn record (${buf.length - at} bytes at the end)` });
        break;
      }
      const h = checkHeader(buf, at);
      if (!h.ok) {
        if (h.zero && buf.subarray(at).every((b) => b === 0)) {
          damaged.push({ segment: s, offset: at, problem: 'torn record (zero tail)' });
          break;
        }
        damaged.push({ segment: s, offset: at, problem: 'damaged record header' });
        at = resync(buf, at + 1);
        continue;
      }
      const end = at + REC_HEADER + h.len;
      if (end > buf.length) {
        damaged.push({ segment: s, offset: at, problem: 'torn record (body past the end of the file)', type: TYPES[h.type] });
        break;
      }
      records++;
      if (h.type === T_PUT) puts++;
      if (crc32(buf, at + REC_HEADER, end) !== h.crc) {
        damaged.push({ segment: s, offset: at, problem: 'body checksum mismatch', type: TYPES[h.type] });
      }
      at = end;
    }
  }
  return { segments: segs.length, records, puts, damaged };
}

/** The next offset from `from` where a record header with a valid CRC starts (or the end). */
function resync(buf: Buffer, from: number): number {
  for (let i = from; i + REC_HEADER <= buf.length; i++) {
    if (buf[i] === 0x50 && buf[i + 1] === 0x51 && checkHeader(buf, i).ok) return i;
  }
  return buf.length;
}
