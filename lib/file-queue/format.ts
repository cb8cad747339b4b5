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
