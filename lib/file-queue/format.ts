/**
 * The on-disk format of the file-segment queues, byte by byte (see docs/format.md): segment headers, record framing,
 * the record bodies, the STATE snapshot and the checkpoint file. Pure functions, no I/O.
 *
 * All integers are little-endian. A position in the log is (segment number, byte offset in that segment file).
 *
 * @module
 */
import { crc32, crc32Js } from '../common/crc.js';

/** Segment file header: 32 bytes. */
export const SEG_MAGIC = Buffer.from('PQFSEG\r\n', 'latin1');
export const SEG_HEADER = 32;
/** Checkpoint file magic. */
export const CKPT_MAGIC = Buffer.from('PQFCKPT\n', 'latin1');
export const CKPT_HEADER = 24;
/** Format version written in segment headers and checkpoints. */
export const FORMAT_VERSION = 1;

/** Record header: marker 'PQ', type, flags, body length, body CRC, header CRC. */
export const REC_HEADER = 16;
const M0 = 0x50;
const M1 = 0x51;

/** Record types. */
export const T_PUT = 1;
export const T_TAKE = 2;
export const T_DONE = 3;
export const T_RETURN = 4;
export const T_FLAG = 5;
export const T_STATE = 6;
export const T_END = 7;

/** PUT flags. */
export const F_HASH = 1;
export const F_PREV = 2;
/** TAKE flags. */
export const F_HOLD = 1;
/**
 * Any record type: more records of the same write follow. A write of several records (a `putMany()`, a group commit,
 * a FLAG with its TAKE) marks all but its last record with it, and readers apply such a write only once its last
 * record is complete: a write cut short (SIGKILL, `ENOSPC`) is a torn tail as a whole, never a part of it.
 */
export const F_MORE = 0x80;

/** "No position" (empty queue head, no FILO predecessor). */
export const NONE = 0xffffffff;

/** One item reference: where its PUT record is, and its 64-bit hash (0,0 unless the queue is unique). */
export interface Slot {
  seg: number;
  off: number;
  h1: number;
  h2: number;
}

/** The logical state of a queue at one position of the log. */
export interface State {
  /** Id of the next put. */
  nextId: number;
  /** Items waiting in the main list (FIFO: from head on; FILO: the chain from head, the top). */
  main: number;
  /** FIFO: first waiting PUT; FILO: top of the stack. NONE when main is 0. */
  headSeg: number;
  headOff: number;
  /** Items given back by a closed or dead holder; delivered before the main list. */
  returned: Slot[];
  /** autoCommit false: items taken and not yet done, per owner token, oldest first. */
  held: Map<string, Slot[]>;
  /** autoCommit true: owners with taken items not yet marked done (for join()). */
  pending: Set<string>;
  /** Live items (main, returned, held) per segment; a segment at 0 that is not the last may be deleted. */
  segCount: Map<number, number>;
}

export function emptyState(): State {
  return { nextId: 1, main: 0, headSeg: NONE, headOff: NONE, returned: [], held: new Map(), pending: new Set(), segCount: new Map() };
}

/** Decoded records. */
export interface PutRec {
  t: typeof T_PUT;
  id: number;
  h1: number;
  h2: number;
  prevSeg: number;
  prevOff: number;
  data: Buffer;
}
export interface TakeRec {
  t: typeof T_TAKE;
  /** Owner when the items are held (autoCommit false), else null. */
  owner: string | null;
  headSeg: number;
  headOff: number;
  /** How many came from the front of the returned list. */
  nRet: number;
  /** The items taken from the main list. */
  main: Slot[];
}
export interface DoneRec {
  t: typeof T_DONE;
  owner: string;
  count: number;
}
export interface ReturnRec {
  t: typeof T_RETURN;
  owner: string;
}
export interface FlagRec {
  t: typeof T_FLAG;
  owner: string;
  on: boolean;
}
export interface StateRec {
  t: typeof T_STATE;
  prevEnd: number;
  state: State;
}
export interface EndRec {
  t: typeof T_END;
  reason: number;
}
export type Rec = PutRec | TakeRec | DoneRec | ReturnRec | FlagRec | StateRec | EndRec;

/** END reasons. */
export const END_ROLL = 0;
export const END_FENCE = 1;

// ---------------------------------------------------------------------------------------------------------------
// Framing

/** Writes the 16-byte record header for a body already at `buf[at + 16, at + 16 + len)`. */
export function frameAt(buf: Buffer, at: number, type: number, flags: number, len: number): void {
  buf[at] = M0;
  buf[at + 1] = M1;
  buf[at + 2] = type;
  buf[at + 3] = flags;
  buf.writeUInt32LE(len, at + 4);
  buf.writeUInt32LE(crc32(buf, at + REC_HEADER, at + REC_HEADER + len), at + 8);
  buf.writeUInt32LE(crc32Js(buf, at, at + 12), at + 12);
}

/** Sets F_MORE on the framed record at `buf[at]` (and re-seals its header). */
export function markMore(buf: Buffer, at: number): void {
  buf[at + 3] = buf[at + 3]! | F_MORE;
  buf.writeUInt32LE(crc32Js(buf, at, at + 12), at + 12);
}

/** A complete record from a body. */
export function frame(type: number, flags: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(REC_HEADER + body.length);
  body.copy(out, REC_HEADER);
  frameAt(out, 0, type, flags, body.length);
  return out;
}

/** Result of looking at the bytes of one record header. */
export type HeaderCheck =
  | { ok: true; type: number; flags: number; len: number; crc: number }
  | { ok: false; zero: boolean };

/** Checks a record header (16 bytes at `at`). `zero` says the bytes are all zero (a preallocated, never-written tail). */
export function checkHeader(buf: Uint8Array, at: number): HeaderCheck {
  if (buf[at] === M0 && buf[at + 1] === M1) {
    const stored = (buf[at + 12]! | (buf[at + 13]! << 8) | (buf[at + 14]! << 16) | (buf[at + 15]! << 24)) >>> 0;
    if (crc32Js(buf, at, at + 12) === stored) {
      const len = (buf[at + 4]! | (buf[at + 5]! << 8) | (buf[at + 6]! << 16) | (buf[at + 7]! << 24)) >>> 0;
      const crc = (buf[at + 8]! | (buf[at + 9]! << 8) | (buf[at + 10]! << 16) | (buf[at + 11]! << 24)) >>> 0;
      const type = buf[at + 2]!;
      if (type >= T_PUT && type <= T_END) return { ok: true, type, flags: buf[at + 3]!, len, crc };
    }
  }
  let zero = true;
  for (let i = at; i < at + REC_HEADER; i++) {
    if (buf[i] !== 0) {
      zero = false;
      break;
    }
  }
  return { ok: false, zero };
}

// ---------------------------------------------------------------------------------------------------------------
// Segment header

export interface SegHeader {
  version: number;
  order: number;
  unique: boolean;
  seg: number;
  nonce: number;
}

export function encodeSegHeader(h: SegHeader): Buffer {
  const b = Buffer.alloc(SEG_HEADER);
  SEG_MAGIC.copy(b, 0);
  b.writeUInt16LE(h.version, 8);
  b[10] = h.order;
  b[11] = h.unique ? 1 : 0;
  b.writeUInt32LE(h.seg, 12);
  b.writeUInt32LE(h.nonce >>> 0, 16);
  b.writeUInt32LE(crc32Js(b, 0, 28), 28);
  return b;
}

/** Parses a segment header; undefined when it is not one (wrong magic or CRC). */
export function decodeSegHeader(b: Uint8Array): SegHeader | undefined {
  if (b.length < SEG_HEADER) return undefined;
  const buf = Buffer.from(b.buffer, b.byteOffset, SEG_HEADER);
  if (!buf.subarray(0, 8).equals(SEG_MAGIC)) return undefined;
  if (buf.readUInt32LE(28) !== crc32Js(buf, 0, 28)) return undefined;
  return { version: buf.readUInt16LE(8), order: buf[10]!, unique: (buf[11]! & 1) === 1, seg: buf.readUInt32LE(12), nonce: buf.readUInt32LE(16) };
}

// ---------------------------------------------------------------------------------------------------------------
// Bodies

/** Thrown by a decoder for a body that passed its CRC but does not parse (only a bug or a CRC collision). */
export class BadBody extends Error {}

class Writer {
  buf: Buffer;
  at = 0;
  constructor(size = 256) {
    this.buf = Buffer.allocUnsafe(size);
  }
  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.at++] = v;
  }
  u32(v: number): void {
    this.room(4);
    this.buf.writeUInt32LE(v >>> 0, this.at);
    this.at += 4;
  }
  f64(v: number): void {
    this.room(8);
    this.buf.writeDoubleLE(v, this.at);
    this.at += 8;
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    if (b.length > 255) throw new RangeError('owner token too long');
    this.u8(b.length);
    this.room(b.length);
    b.copy(this.buf, this.at);
    this.at += b.length;
  }
  slot(s: Slot): void {
    this.u32(s.seg);
    this.u32(s.off);
    this.u32(s.h1);
    this.u32(s.h2);
  }
  done(): Buffer {
    return this.buf.subarray(0, this.at);
  }
}

class Reader {
  at = 0;
  constructor(private readonly buf: Buffer) {}
  private need(n: number): void {
    if (this.at + n > this.buf.length) throw new BadBody('record body too short');
  }
  u8(): number {
    this.need(1);
    return this.buf[this.at++]!;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.at);
    this.at += 4;
    return v;
  }
  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.at);
    this.at += 8;
    if (!Number.isSafeInteger(v) || v < 0) throw new BadBody('bad number');
    return v;
  }
  str(): string {
    const n = this.u8();
    this.need(n);
    const s = this.buf.toString('utf8', this.at, this.at + n);
    this.at += n;
    return s;
  }
  count(per: number): number {
    const n = this.u32();
    if (n * per > this.buf.length - this.at) throw new BadBody('count larger than the body');
    return n;
  }
  slot(): Slot {
    return { seg: this.u32(), off: this.u32(), h1: this.u32(), h2: this.u32() };
  }
  end(): void {
    if (this.at !== this.buf.length) throw new BadBody('trailing bytes in record body');
  }
}

/** Byte size of a PUT record for `dataLen` bytes of item. */
export function putSize(dataLen: number, hash: boolean, prev: boolean): number {
  return REC_HEADER + 8 + (hash ? 8 : 0) + (prev ? 8 : 0) + dataLen;
}

/** Writes one PUT record at `buf[at]`; returns the offset after it. */
export function writePut(
  buf: Buffer,
  at: number,
  id: number,
  hash: { h1: number; h2: number } | undefined,
  prev: { seg: number; off: number } | undefined,
  data: Uint8Array,
  more = false,
): number {
  let p = at + REC_HEADER;
  buf.writeDoubleLE(id, p);
  p += 8;
  let flags = more ? F_MORE : 0;
  if (hash) {
    buf.writeUInt32LE(hash.h1 >>> 0, p);
    buf.writeUInt32LE(hash.h2 >>> 0, p + 4);
    p += 8;
    flags |= F_HASH;
  }
  if (prev) {
    buf.writeUInt32LE(prev.seg >>> 0, p);
    buf.writeUInt32LE(prev.off >>> 0, p + 4);
    p += 8;
    flags |= F_PREV;
  }
  buf.set(data, p);
  p += data.length;
  frameAt(buf, at, T_PUT, flags, p - at - REC_HEADER);
  return p;
}

export function encodeTake(r: TakeRec): Buffer {
  const w = new Writer(32 + r.main.length * 16);
  if (r.owner !== null) w.str(r.owner);
  w.u32(r.headSeg);
  w.u32(r.headOff);
  w.u32(r.nRet);
  w.u32(r.main.length);
  for (const s of r.main) w.slot(s);
  return frame(T_TAKE, r.owner !== null ? F_HOLD : 0, w.done());
}

export function encodeDone(r: DoneRec): Buffer {
  const w = new Writer(64);
  w.str(r.owner);
  w.u32(r.count);
  return frame(T_DONE, 0, w.done());
}

export function encodeReturn(r: ReturnRec): Buffer {
  const w = new Writer(64);
  w.str(r.owner);
  return frame(T_RETURN, 0, w.done());
}

export function encodeFlag(r: FlagRec): Buffer {
  const w = new Writer(64);
  w.str(r.owner);
  w.u8(r.on ? 1 : 0);
  return frame(T_FLAG, 0, w.done());
}

export function encodeEnd(r: EndRec): Buffer {
  return frame(T_END, 0, Buffer.from([r.reason]));
}

function writeState(w: Writer, s: State): void {
  w.f64(s.nextId);
  w.f64(s.main);
  w.u32(s.headSeg);
  w.u32(s.headOff);
  w.u32(s.returned.length);
  for (const x of s.returned) w.slot(x);
  w.u32(s.held.size);
  for (const [owner, slots] of s.held) {
    w.str(owner);
    w.u32(slots.length);
    for (const x of slots) w.slot(x);
  }
  w.u32(s.pending.size);
  for (const owner of s.pending) w.str(owner);
  w.u32(s.segCount.size);
  for (const [seg, n] of s.segCount) {
    w.u32(seg);
    w.f64(n);
  }
}

function readState(r: Reader): State {
  const s = emptyState();
  s.nextId = r.f64();
  s.main = r.f64();
  s.headSeg = r.u32();
  s.headOff = r.u32();
  for (let n = r.count(16); n > 0; n--) s.returned.push(r.slot());
  for (let n = r.count(5); n > 0; n--) {
    const owner = r.str();
    const slots: Slot[] = [];
    for (let k = r.count(16); k > 0; k--) slots.push(r.slot());
    s.held.set(owner, slots);
  }
  for (let n = r.count(1); n > 0; n--) s.pending.add(r.str());
  for (let n = r.count(12); n > 0; n--) {
    const seg = r.u32();
    s.segCount.set(seg, r.f64());
  }
  if ((s.main === 0) !== (s.headSeg === NONE)) throw new BadBody('inconsistent head');
  return s;
}

export function encodeState(prevEnd: number, s: State): Buffer {
  const w = new Writer(128);
  w.u32(prevEnd);
  writeState(w, s);
  return frame(T_STATE, 0, w.done());
}

/** A deep copy of a state (snapshots must not share arrays with the live state). */
export function cloneState(s: State): State {
  return {
    nextId: s.nextId,
    main: s.main,
    headSeg: s.headSeg,
    headOff: s.headOff,
    returned: s.returned.slice(),
    held: new Map([...s.held].map(([k, v]) => [k, v.slice()])),
    pending: new Set(s.pending),
    segCount: new Map(s.segCount),
  };
}

/** Decodes a record body (CRC already checked). Throws BadBody when it does not parse. */
export function decodeBody(type: number, flags: number, body: Buffer): Rec {
  const r = new Reader(body);
  switch (type) {
    case T_PUT: {
      const id = r.f64();
      let h1 = 0;
      let h2 = 0;
      let prevSeg = NONE;
      let prevOff = NONE;
      if (flags & F_HASH) {
        h1 = r.u32();
        h2 = r.u32();
      }
      if (flags & F_PREV) {
        prevSeg = r.u32();
        prevOff = r.u32();
      }
      return { t: T_PUT, id, h1, h2, prevSeg, prevOff, data: body.subarray(r.at) };
    }
    case T_TAKE: {
      const owner = flags & F_HOLD ? r.str() : null;
      const headSeg = r.u32();
      const headOff = r.u32();
      const nRet = r.u32();
      const main: Slot[] = [];
      for (let n = r.count(16); n > 0; n--) main.push(r.slot());
      r.end();
      return { t: T_TAKE, owner, headSeg, headOff, nRet, main };
    }
    case T_DONE: {
      const owner = r.str();
      const count = r.u32();
      r.end();
      return { t: T_DONE, owner, count };
    }
    case T_RETURN: {
      const owner = r.str();
      r.end();
      return { t: T_RETURN, owner };
    }
    case T_FLAG: {
      const owner = r.str();
      const on = r.u8() === 1;
      r.end();
      return { t: T_FLAG, owner, on };
    }
    case T_STATE: {
      const prevEnd = r.u32();
      const state = readState(r);
      r.end();
      return { t: T_STATE, prevEnd, state };
    }
    case T_END: {
      const reason = r.u8();
      r.end();
      return { t: T_END, reason };
    }
    default:
      throw new BadBody(`unknown record type ${type}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Checkpoint

/** Where a checkpoint's state holds: after the record at `lastStart` (whose body CRC is `lastCrc`) in segment `seg`. */
export interface Checkpoint {
  seg: number;
  nonce: number;
  pos: number;
  lastStart: number;
  lastCrc: number;
  state: State;
  /** Unique queues: the hashes of the waiting items (h1, h2 pairs). */
  hashes: Uint32Array | undefined;
}

export function encodeCheckpoint(c: Checkpoint): Buffer {
  const w = new Writer(256 + (c.hashes ? c.hashes.length * 4 : 0));
  w.u32(c.seg);
  w.u32(c.nonce);
  w.u32(c.pos);
  w.u32(c.lastStart);
  w.u32(c.lastCrc);
  writeState(w, c.state);
  if (c.hashes) {
    w.u8(1);
    w.u32(c.hashes.length / 2);
    for (let i = 0; i < c.hashes.length; i++) w.u32(c.hashes[i]!);
  } else {
    w.u8(0);
  }
  const body = w.done();
  const out = Buffer.allocUnsafe(CKPT_HEADER + body.length);
  CKPT_MAGIC.copy(out, 0);
  out.writeUInt16LE(FORMAT_VERSION, 8);
  out.writeUInt16LE(0, 10);
  out.writeUInt32LE(body.length, 12);
  out.writeUInt32LE(crc32(body), 16);
  out.writeUInt32LE(crc32Js(out, 0, 20), 20);
  body.copy(out, CKPT_HEADER);
  return out;
}

/** Parses a checkpoint file; undefined for anything that is not a complete, intact checkpoint of this version. */
export function decodeCheckpoint(b: Buffer): Checkpoint | undefined {
  if (b.length < CKPT_HEADER) return undefined;
  if (!b.subarray(0, 8).equals(CKPT_MAGIC)) return undefined;
  if (b.readUInt32LE(20) !== crc32Js(b, 0, 20)) return undefined;
  if (b.readUInt16LE(8) !== FORMAT_VERSION) return undefined;
  const len = b.readUInt32LE(12);
  if (CKPT_HEADER + len !== b.length) return undefined;
  const body = b.subarray(CKPT_HEADER);
  if (crc32(body) !== b.readUInt32LE(16)) return undefined;
  try {
    const r = new Reader(body);
    const seg = r.u32();
    const nonce = r.u32();
    const pos = r.u32();
    const lastStart = r.u32();
    const lastCrc = r.u32();
    const state = readState(r);
    let hashes: Uint32Array | undefined;
    if (r.u8() === 1) {
      const n = r.count(8);
      hashes = new Uint32Array(n * 2);
      for (let i = 0; i < n * 2; i++) hashes[i] = r.u32();
    }
    r.end();
    return { seg, nonce, pos, lastStart, lastCrc, state, hashes };
  } catch {
    return undefined;
  }
}
