/**
 * The bodies of the file queue's records, the STATE snapshot and the checkpoint file, byte by byte (docs/format.md,
 * "Record bodies" and "Checkpoint file"). Pure functions, no I/O.
 *
 * @module
 */
// ---------------------------------------------------------------------------------------------------------------
// Bodies

/** Thrown by a decoder for a body that passed its CRC but does not parse (only a bug or a CRC collision). */
import { crc32, crc32Js } from '../common/crc.js';
import {
  CKPT_HEADER,
  emptyState,
  CKPT_MAGIC,
  F_HASH,
  F_HOLD,
  F_MORE,
  F_PREV,
  FORMAT_VERSION,
  frame,
  frameAt,
  NONE,
  REC_HEADER,
  T_DONE,
  T_END,
  T_FLAG,
  T_PUT,
  T_RETURN,
  T_STATE,
  T_TAKE,
  type DoneRec,
  type EndRec,
  type FlagRec,
  type Rec,
  type ReturnRec,
  type Slot,
  type State,
  type TakeRec,
} from './format.js';

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
