/**
 * A thread's position in the log: up to where records are applied to its state (while it holds the lock, also where
 * the next record goes), plus what it learnt there. Data only.
 *
 * @module
 */
import { SEG_HEADER } from './format.js';

/** Position and flags of the applied log. */
export class LogPosition {
  /** Segment of the position; 0 before the first segment exists. */
  seg = 0;
  /** Byte offset in `seg` up to which records are applied. */
  off = 0;
  /** Offset of the first record after the segment's STATE record. */
  firstOff = 0;
  /** An END record was applied: the log continues in the next segment. */
  ended = false;
  /** Holder only: a torn tail follows the position (it is truncated before anything is appended). */
  torn = false;
  /** Holder only: a failed write could not be truncated; the next write starts a new segment. */
  abandon = false;
  /** Start and body CRC of the last record applied (what a checkpoint names). */
  lastStart = 0;
  lastCrc = 0;

  /** Moves to just after the STATE record of segment `seg`, which ends at `end` and has body CRC `crc`. */
  enter(seg: number, end: number, crc: number): void {
    this.seg = seg;
    this.off = end;
    this.firstOff = end;
    this.lastStart = SEG_HEADER;
    this.lastCrc = crc;
    this.ended = false;
  }

  /** Whether (seg, off) lies at or past the applied position (nothing there is part of the state yet). */
  notBefore(seg: number, off: number): boolean {
    return seg > this.seg || (seg === this.seg && off >= this.off);
  }
}
