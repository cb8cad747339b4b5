/**
 * Bringing a thread's state up to date with the log (docs/format.md, "Recovery"): rebuilding from the checkpoint or
 * the last STATE record, replaying the records after the position, and, holding the lock, settling what only a
 * holder may settle (torn tails, fences, a segment to start, a checkpoint to save).
 *
 * @module
 */
import { F_MORE, NONE, T_END, T_PUT, T_STATE, type Rec } from './format.js';
import { BadBody, decodeBody } from './records.js';
import { QueueCorruptError } from '../common/errors.js';
import { HashSet64 } from './hashset.js';
import type { CheckpointFile } from './checkpoint.js';
import type { FencedHold } from './fence.js';
import type { BornInfo, LogReader, ReadResult, Reporter } from './log-reader.js';
import type { LogWriter } from './log-writer.js';
import type { LogPosition } from './position.js';
import type { SegmentDir } from './segment-dir.js';
import type { QueueState } from './state.js';

/** Catches a thread's state up with the log. */
export class Recovery {
  /** The state must be rebuilt from a snapshot before replaying (at first, and after losing track). */
  needResync = true;
  /** The folder's order and uniqueness are known (read from a segment header, or the folder is new). */
  knownOrder = false;
  /** Unique queue rebuilt from a STATE record: its hash set is rebuilt from the waiting items (holder). */
  private rebuildSetPending = false;
  /** Rebuilt without a usable checkpoint while holding the lock: a checkpoint is saved. */
  private recovered = false;

  constructor(
    private readonly segs: SegmentDir,
    private readonly log: LogReader,
    private readonly ckpt: CheckpointFile,
    private readonly pos: LogPosition,
    private readonly state: QueueState,
    private readonly hold: FencedHold,
    private readonly writer: LogWriter,
    private readonly report: Reporter,
  ) {}

  /** Lock-free: applies the complete, checksummed records after the position; stops quietly at anything else. */
  catchUp(): void {
    if (this.needResync) this.resync(false);
    this.replay(false);
  }

  /**
   * Just after taking the lock: catches up, then fences the previous holder off (`fenced`) or cuts a torn tail,
   * starts a segment when the last one ended, and saves a checkpoint after a rebuild without one.
   */
  settle(fenced: boolean): void {
    this.segs.invalidate();
    if (this.needResync) this.resync(true);
    this.replay(true);
    if (fenced) {
      this.fenceTail();
      this.hold.fenceDone();
    } else if (this.pos.torn) this.writer.truncateTail();
    if (this.pos.ended || this.pos.abandon) this.writer.roll();
    if (this.recovered) {
      // Rebuilt without a usable checkpoint: save one, so the next open does not replay again.
      this.recovered = false;
      this.writer.checkpoint();
    }
  }

  /** Rebuilds the state from the checkpoint (if valid) or the last segment's STATE record (Recovery, steps 1-2). */
  private resync(locked: boolean, ignoreCheckpoint = false): void {
    const segs = this.liveSegments(locked);
    this.state.reset();
    this.pos.ended = false;
    this.pos.torn = false;
    this.rebuildSetPending = false;
    if (segs.length === 0) {
      // A new queue: the first roll creates segment 1.
      this.pos.seg = 0;
      this.pos.off = 0;
      this.pos.firstOff = 0;
      this.pos.ended = true;
      this.needResync = false;
      this.knownOrder = true;
      return;
    }
    const last = segs[segs.length - 1]!;
    const ck = ignoreCheckpoint ? undefined : this.ckpt.read(segs, this.state.unique);
    if (ck && (this.state.unique || ck.seg >= last - 1)) {
      this.state.reset(ck.state, ck.hashes);
      const b = this.log.born(ck.seg);
      this.pos.seg = ck.seg;
      this.pos.off = ck.pos;
      this.pos.firstOff = typeof b === 'object' ? b.end : ck.pos;
      this.pos.lastStart = ck.lastStart;
      this.pos.lastCrc = ck.lastCrc;
    } else {
      this.fromState(last, this.log.born(last) as BornInfo);
      this.recovered = locked;
    }
    this.needResync = false;
    if (locked) for (const s of segs) if (s < last && !this.state.st.segCount.has(s)) this.state.emptied.add(s);
  }

  /** The segments, without unborn trailing ones (which a holder deletes: step 1); adopts the folder's order. */
  private liveSegments(locked: boolean): number[] {
    const segs = this.segs.list();
    while (segs.length > 0) {
      const last = segs[segs.length - 1]!;
      const b = this.log.born(last);
      if (typeof b === 'object') {
        if (!this.knownOrder) {
          // The folder decides; the first opener's options are checked by the caller against it.
          this.state.adopt(b.order === 1 ? 'filo' : 'fifo', b.unique);
          this.knownOrder = true;
        }
        break;
      }
      segs.pop();
      if (b === 'unborn' && locked) {
        this.hold.check();
        this.segs.remove(last);
      }
    }
    return segs;
  }

  /** The state is the STATE record of `seg` (unique queues: the hash set is rebuilt). */
  private fromState(seg: number, b: BornInfo): void {
    this.state.reset(b.state);
    this.pos.enter(seg, b.end, b.crc);
    this.rebuildSetPending = this.state.unique;
  }

  /**
   * Applies the records after the position (step 3). Lock-free (`locked` false), it stops quietly at anything
   * incomplete or doubtful; holding the lock, it decides: a torn tail is marked for truncation (step 4), a corrupt
   * record is reported or skipped (step 5).
   */
  replay(locked: boolean): void {
    const pos = this.pos;
    for (;;) {
      if (pos.ended) {
        if (pos.seg === 0) return;
        if (!this.nextSegment(locked)) return;
        continue;
      }
      let res = this.log.readRec(pos.seg, pos.off);
      if (res.k === 'ok' && res.flags & F_MORE) {
        // The first record of a write of several: apply the write only when all of it is there.
        const g = this.log.readGroup(pos.seg, pos.off, res);
        if (g.k === 'complete') {
          for (const m of g.recs) this.applyRead(m.rec, m.off, m.crc, m.end);
          continue;
        }
        if (g.k === 'incomplete') res = { k: 'torn' };
        else if (locked && this.atLogEnd(g.off)) {
          // Damage with nothing valid after it at the end of the log: an unsynced tail after a power loss (see below).
          res = { k: 'torn' };
        } else {
          // A damaged record inside the write.
          if (!locked) {
            this.segs.trim(pos.seg, pos.off);
            break;
          }
          this.report.damaged(`corrupt record in ${this.log.where(pos.seg, g.off)} (${g.why})`);
          // Skipping: what precedes the damage counts (as records written one by one would), the damaged record not.
          for (const m of g.recs) this.applyRead(m.rec, m.off, m.crc, m.end);
          pos.off = g.off;
          res = { k: 'corrupt', why: g.why, next: g.next };
        }
      }
      if (res.k === 'missing') {
        // Our position is in a segment that a holder deleted after everything in it was consumed: records we have
        // not applied are gone with it; start again from a snapshot (docs/format.md, "Failures found and fixed", 1).
        this.resync(locked, true);
        if (pos.seg === 0) return;
        continue;
      }
      if (res.k === 'eof' || res.k === 'torn') {
        this.segs.trim(pos.seg, pos.off);
        if (locked && this.segs.exists(pos.seg + 1)) {
          // The END record was lost (power loss with durability 'off'), but the next segment's STATE says it all.
          const b = this.log.born(pos.seg + 1);
          if (typeof b === 'object') {
            this.fromState(pos.seg + 1, b);
            continue;
          }
        }
        if (locked) pos.torn = res.k === 'torn';
        break;
      }
      if (res.k === 'corrupt') {
        this.segs.trim(pos.seg, pos.off);
        if (!locked) break;
        if (this.atLogEnd(pos.off)) {
          // The end of the log with nothing valid after it: after a power loss the unsynced tail of the last segment
          // can hold zeros or stale bytes (blocks the file system allocated but never wrote). A torn tail, dropped.
          pos.torn = true;
          break;
        }
        this.report.damaged(`corrupt record in ${this.log.where(pos.seg, pos.off)} (${res.why})`);
        const next = this.log.afterDamage(pos.seg, pos.off, res);
        this.report.skipped(pos.seg, pos.off);
        if (next === undefined) {
          // Nothing valid follows: treat the rest as a torn tail.
          pos.torn = true;
          break;
        }
        pos.off = next;
        continue;
      }
      if (!this.applyOne(res, locked)) break;
    }
    if (this.rebuildSetPending && locked) this.rebuildSet();
  }

  /** After an END: moves on to the next segment; false when there is none (yet). */
  private nextSegment(locked: boolean): boolean {
    const next = this.pos.seg + 1;
    const b = this.log.born(next);
    if (b === 'missing') {
      if (this.segs.list().some((s) => s > next)) {
        // A segment we still had to read was deleted (it held no live item): start from a snapshot.
        this.resync(locked, true);
        return true;
      }
      return false;
    }
    if (b === 'unborn') return false;
    this.pos.enter(next, b.end, b.crc);
    return true;
  }

  /** Whether nothing valid follows `off` in the last segment of the log. */
  private atLogEnd(off: number): boolean {
    return !this.segs.exists(this.pos.seg + 1) && this.log.scanValid(this.pos.seg, off) === undefined;
  }

  /** Decodes and applies one valid record; false when a lock-free reader must stop at it (unreadable body). */
  private applyOne(res: Extract<ReadResult, { k: 'ok' }>, locked: boolean): boolean {
    let rec: Rec;
    try {
      rec = decodeBody(res.type, res.flags, res.body);
    } catch (err) {
      if (!(err instanceof BadBody)) throw err;
      if (!locked) return false;
      this.report.damaged(`unreadable record in ${this.log.where(this.pos.seg, this.pos.off)}`, err);
      this.report.skipped(this.pos.seg, this.pos.off);
      this.pos.off = res.end;
      return true;
    }
    this.applyRead(rec, this.pos.off, res.crc, res.end);
    return true;
  }

  /** Applies a record read at (pos.seg, off) and moves the position past it. */
  private applyRead(rec: Rec, off: number, crc: number, end: number): void {
    if (rec.t !== T_STATE) this.state.apply(rec, this.pos.seg, off);
    this.pos.lastStart = off;
    this.pos.lastCrc = crc;
    this.pos.off = end;
    if (rec.t === T_END) this.pos.ended = true;
  }

  /** Closes the last segment after fencing its previous holder, who may still append to it (Locking, step 1). */
  private fenceTail(): void {
    if (this.pos.ended) return;
    this.writer.appendFenceEnd();
    this.replay(true);
    if (!this.pos.ended) throw new QueueCorruptError(`cannot find the end of queue segment ${this.segs.path(this.pos.seg)}`);
  }

  /** Unique queues without a usable checkpoint: hashes every waiting item again (reads them all). */
  private rebuildSet(): void {
    this.rebuildSetPending = false;
    const st = this.state.st;
    const set = new HashSet64(this.state.size);
    for (const s of st.returned) set.add(s.h1, s.h2);
    let seg = st.headSeg;
    let off = st.headOff;
    for (let left = st.main; left > 0 && seg !== NONE; left--) {
      const res = this.log.readRec(seg, off);
      if (res.k !== 'ok' || res.type !== T_PUT) break;
      const rec = decodeBody(T_PUT, res.flags, res.body);
      if (rec.t !== T_PUT) break;
      set.add(rec.h1, rec.h2);
      if (left === 1) break;
      const p = this.log.scanPut(seg, res.end, this.pos, (s) => st.segCount.has(s));
      if (!p) break;
      seg = p.seg;
      off = p.off;
    }
    this.state.set = set;
  }
}
