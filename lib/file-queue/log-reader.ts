/**
 * Reading the log: one record, one write of several records, a segment's header and STATE record, an item's PUT
 * record, the next item. It classifies what it finds (docs/format.md, "Record framing"); what to do about damage is
 * decided by a {@link Reporter}, as in LevelDB's log reader.
 *
 * @module
 */
import { fstatSync } from 'node:fs';
import { errnoOf, QueueCorruptError } from '../common/errors.js';
import { crc32 } from '../common/crc.js';
import {
  checkHeader,
  decodeSegHeader,
  F_MORE,
  FORMAT_VERSION,
  REC_HEADER,
  SEG_HEADER,
  T_END,
  T_PUT,
  T_STATE,
  type Rec,
  type State,
} from './format.js';
import { BadBody, decodeBody } from './records.js';
import { ioError } from './io.js';
import { WINDOW, type SegmentDir, type SegReader } from './segment-dir.js';

/** What reading one record found. */
export type ReadResult =
  | { k: 'ok'; type: number; flags: number; body: Buffer; end: number; crc: number }
  | { k: 'eof' }
  | { k: 'missing' }
  | { k: 'torn' }
  | { k: 'corrupt'; why: string; next: number | undefined; type?: number };

/** One record of a multi-record write, read ahead before the write is applied. */
export interface GroupRec {
  rec: Rec;
  off: number;
  crc: number;
  end: number;
}

/** What reading one write (records flagged MORE up to the first without) found. */
export type GroupResult =
  | { k: 'complete'; recs: GroupRec[] }
  | { k: 'incomplete' }
  | { k: 'damaged'; recs: GroupRec[]; off: number; why: string; next: number | undefined };

/** A record read for its item. */
export interface PutView {
  id: number;
  data: Buffer;
  h1: number;
  h2: number;
  prevSeg: number;
  prevOff: number;
  end: number;
}

/** A segment's header and STATE record. */
export interface BornInfo {
  nonce: number;
  order: number;
  unique: boolean;
  prevEnd: number;
  state: State;
  end: number;
  crc: number;
}

/** Decides about damage (`skipCorrupt`) and counts what is skipped. */
export interface Reporter {
  /** Whether damaged records are skipped (and counted) rather than reported. */
  readonly skipping: boolean;
  /** Damage described by `message`: throws QueueCorruptError unless {@link skipping}. */
  damaged(message: string, cause?: unknown): void;
  /** A damaged record at (seg, off) is skipped: counts it (each position once). */
  skipped(seg: number, off: number): void;
  /** Whether the damaged record at (seg, off) was skipped already (by this process). */
  wasSkipped(seg: number, off: number): boolean;
}

/** The reporter of a store: `skipCorrupt` of the instance making the call, a count per folder and process. */
export class CorruptionReporter implements Reporter {
  skipping = false;
  private readonly seen = new Set<string>();

  get count(): number {
    return this.seen.size;
  }

  damaged(message: string, cause?: unknown): void {
    if (!this.skipping) throw new QueueCorruptError(message, cause === undefined ? undefined : { cause });
  }

  skipped(seg: number, off: number): void {
    this.seen.add(`${seg}:${off}`);
  }

  wasSkipped(seg: number, off: number): boolean {
    return this.seen.has(`${seg}:${off}`);
  }
}

const EMPTY = Buffer.alloc(0);

/** Reads records from the segment files of one folder. */
export class LogReader {
  constructor(
    private readonly segs: SegmentDir,
    private readonly report: Reporter,
  ) {}

  /** `file at byte off`, for messages. */
  where(seg: number, off: number): string {
    return `${this.segs.path(seg)} at byte ${off}`;
  }

  /** Reads one record at (seg, off). */
  readRec(seg: number, off: number): ReadResult {
    let r: SegReader;
    try {
      r = this.segs.reader(seg);
    } catch (err) {
      // Deleted by a holder (it held no live item); only a process whose view is behind still looks for it.
      if (errnoOf(err) === 'ENOENT') return { k: 'missing' };
      throw ioError(`cannot read queue segment ${this.segs.path(seg)}`, err);
    }
    const have = r.fetch(off, REC_HEADER);
    if (have === 0) return { k: 'eof' };
    if (have < REC_HEADER) return { k: 'torn' };
    const h = checkHeader(r.buf, off - r.start);
    if (!h.ok) {
      if (h.zero && zeroToEnd(r, off)) return { k: 'torn' };
      return { k: 'corrupt', why: 'bad record header', next: undefined };
    }
    // A length beyond the end of the file is a torn write: never allocate more than the file holds.
    if (h.len > WINDOW && off + REC_HEADER + h.len > fstatSync(r.fd).size) return { k: 'torn' };
    const got = r.fetch(off, REC_HEADER + h.len);
    if (got < REC_HEADER + h.len) return { k: 'torn' };
    const at = off - r.start + REC_HEADER;
    const body = r.buf.subarray(at, at + h.len);
    if (crc32(body) !== h.crc) return { k: 'corrupt', why: 'record checksum mismatch', next: off + REC_HEADER + h.len, type: h.type };
    return { k: 'ok', type: h.type, flags: h.flags, body, end: off + REC_HEADER + h.len, crc: h.crc };
  }

  /** Next offset after `off` with a valid record header and body (resynchronising after a corrupt header). */
  scanValid(seg: number, off: number): number | undefined {
    const r = this.segs.reader(seg);
    for (let at = off + 1; ; at++) {
      const have = r.fetch(at, REC_HEADER);
      if (have < REC_HEADER) return undefined;
      const h = checkHeader(r.buf, at - r.start);
      if (!h.ok) continue;
      const res = this.readRec(seg, at);
      if (res.k === 'ok') return at;
    }
  }

  /** Where reading goes on after the damaged record at (seg, off) that `res` describes. */
  afterDamage(seg: number, off: number, res: { next: number | undefined }): number | undefined {
    return res.next ?? this.scanValid(seg, off);
  }

  /**
   * Reads the records of one write that starts with `first` (flagged F_MORE) at `off`, up to its last record (the
   * first one without F_MORE). `incomplete`: the file ends (or is torn) before that; `damaged`: a record of it is
   * corrupt or unreadable, at `off` (with the records before it).
   */
  readGroup(seg: number, off: number, first: Extract<ReadResult, { k: 'ok' }>): GroupResult {
    const recs: GroupRec[] = [];
    let res: ReadResult = first;
    for (;;) {
      if (res.k !== 'ok') {
        if (res.k === 'corrupt') return { k: 'damaged', recs, off, why: res.why, next: res.next };
        return { k: 'incomplete' };
      }
      let rec: Rec;
      try {
        rec = decodeBody(res.type, res.flags, res.body);
      } catch (err) {
        if (!(err instanceof BadBody)) throw err;
        return { k: 'damaged', recs, off, why: 'unreadable body', next: res.end };
      }
      // The item bytes are not needed to apply a PUT, and the read window they point into moves on.
      if (rec.t === T_PUT) rec.data = EMPTY;
      recs.push({ rec, off, crc: res.crc, end: res.end });
      if (!(res.flags & F_MORE)) return { k: 'complete', recs };
      off = res.end;
      res = this.readRec(seg, off);
    }
  }

  /** Reads the PUT record of an item; undefined when it is damaged or gone and the reporter skips damage. */
  readPut(seg: number, off: number): PutView | undefined {
    const res = this.readRec(seg, off);
    const where = this.where(seg, off);
    if (res.k === 'ok') {
      if (res.type !== T_PUT) throw new QueueCorruptError(`queue state points at a record that is not an item in ${where}`);
      let rec: Rec | undefined;
      try {
        rec = decodeBody(T_PUT, res.flags, res.body);
      } catch {
        rec = undefined;
      }
      if (rec?.t === T_PUT) return { id: rec.id, data: rec.data, h1: rec.h1, h2: rec.h2, prevSeg: rec.prevSeg, prevOff: rec.prevOff, end: res.end };
    } else if (res.k !== 'corrupt') {
      // The record is gone (its segment deleted or cut short): damage, skipped like a corrupt record with skipCorrupt.
      this.report.damaged(`queue state points at a missing item in ${where}`);
      return undefined;
    }
    this.report.damaged(`corrupt item record in ${where} (${res.k === 'corrupt' ? res.why : 'unreadable body'})`);
    return undefined;
  }

  /**
   * FIFO: the first PUT record at or after (seg, off), crossing segment ends, before the applied position `until`.
   * `live(s)` tells whether the state counts live items in segment `s`.
   */
  scanPut(seg: number, off: number, until: { seg: number; off: number }, live: (s: number) => boolean): { seg: number; off: number } | undefined {
    for (;;) {
      // Nothing past the applied position is an item yet (e.g. the records of an incomplete write).
      if (seg > until.seg || (seg === until.seg && off >= until.off)) return undefined;
      const res = this.readRec(seg, off);
      if (res.k === 'ok') {
        if (res.type === T_PUT) return { seg, off };
        if (res.type !== T_END) {
          off = res.end;
          continue;
        }
      } else if (res.k === 'corrupt') {
        // Possibly the next item: the get that would return it reports it (or skips it).
        if (!this.report.skipping) return { seg, off };
        this.report.skipped(seg, off);
        const next = this.afterDamage(seg, off, res);
        if (next !== undefined) {
          off = next;
          continue;
        }
      } else if (res.k !== 'missing' && seg >= until.seg) {
        return undefined;
      }
      // End of this segment: on to the next one that exists (segments without live items may be gone).
      if (seg >= until.seg) return undefined;
      const later = this.segs.list().filter((s) => s > seg);
      if (later.length === 0) return undefined;
      // A segment is deleted only when it holds no live item: one that is gone while the state counts items in it was
      // damaged. Point at it, so that the get that would return its first item reports it (or skips it).
      for (let gone = seg + 1; gone < later[0]!; gone++) {
        if (!live(gone)) continue;
        if (!this.report.skipping) return { seg: gone, off: SEG_HEADER };
        this.report.skipped(gone, SEG_HEADER);
      }
      seg = later[0]!;
      const b = this.born(seg);
      if (typeof b !== 'object') return undefined;
      off = b.end;
    }
  }

  /** Segment header and STATE record of `seg`: 'missing', 'unborn' (being created or abandoned) or the info. */
  born(seg: number): BornInfo | 'missing' | 'unborn' {
    const path = this.segs.path(seg);
    let r: SegReader;
    try {
      r = this.segs.reader(seg);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return 'missing';
      throw ioError(`cannot open queue segment ${path}`, err);
    }
    const have = r.fetch(0, SEG_HEADER);
    if (have < SEG_HEADER) return this.unborn(seg);
    const h = decodeSegHeader(r.buf.subarray(0, SEG_HEADER)); // fetch(0, ...) leaves the window at 0
    if (!h || h.seg !== seg) {
      if (zeroToEnd(r, 0)) return this.unborn(seg);
      throw new QueueCorruptError(`queue segment ${path} has a corrupt header`);
    }
    if (h.version !== FORMAT_VERSION) {
      throw new QueueCorruptError(`queue segment ${path} has format version ${h.version}; this library reads version ${FORMAT_VERSION}`);
    }
    const res = this.readRec(seg, SEG_HEADER);
    if (res.k === 'eof' || res.k === 'torn' || res.k === 'missing') return this.unborn(seg);
    if (res.k !== 'ok' || res.type !== T_STATE) throw new QueueCorruptError(`queue segment ${path} has a corrupt STATE record`);
    let rec: Rec;
    try {
      rec = decodeBody(T_STATE, res.flags, res.body);
    } catch (err) {
      throw new QueueCorruptError(`queue segment ${path} has an unreadable STATE record`, { cause: err });
    }
    if (rec.t !== T_STATE) throw new QueueCorruptError(`queue segment ${path} has no STATE record`);
    this.segs.nonces.set(seg, h.nonce);
    return { nonce: h.nonce, order: h.order, unique: h.unique, prevEnd: rec.prevEnd, state: rec.state, end: res.end, crc: res.crc };
  }

  /** The header nonce of `seg` (0 when it is not born). */
  nonce(seg: number): number {
    const known = this.segs.nonces.get(seg);
    if (known !== undefined) return known;
    const b = this.born(seg);
    return typeof b === 'object' ? b.nonce : 0;
  }

  /**
   * An unborn segment (docs/format.md, "Segment file"): our descriptor may name a deleted file for ever, so it is
   * closed and the next look opens the segment by name again.
   */
  private unborn(seg: number): 'unborn' {
    this.segs.forget(seg);
    return 'unborn';
  }
}

/** Whether every byte from `off` to the end of the file is zero (a tail the file system extended but never wrote). */
function zeroToEnd(r: SegReader, off: number): boolean {
  for (let at = off; ; ) {
    const n = r.fetch(at, WINDOW);
    if (n === 0) return true;
    const base = at - r.start;
    for (let i = 0; i < n; i++) if (r.buf[base + i] !== 0) return false;
    at += n;
    if (n < WINDOW) return true;
  }
}
