/**
 * Appending to the log (holder only): records in one `write(2)` each (docs/format.md, "Writes of several records"),
 * the token checks around a write (Locking, step 2), END records, cutting a torn tail, starting the next segment,
 * the flushes of each durability level, and saving the checkpoint.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { readSync } from 'node:fs';
import {
  encodeSegHeader,
  END_FENCE,
  END_ROLL,
  FORMAT_VERSION,
  markMore,
  REC_HEADER,
  T_DONE,
  T_END,
  T_FLAG,
  T_RETURN,
  T_TAKE,
  type Rec,
} from './format.js';
import {
  encodeDone,
  encodeEnd,
  encodeFlag,
  encodeReturn,
  encodeState,
  encodeTake,
  putSize,
  writePut,
} from './records.js';
import { Fenced, type FencedHold } from './fence.js';
import { io, ioError } from './io.js';
import type { CheckpointFile } from './checkpoint.js';
import { Flusher } from './flusher.js';
import type { LogReader } from './log-reader.js';
import type { FileDurability } from './options.js';
import type { LogPosition } from './position.js';
import type { SegFd, SegmentDir } from './segment-dir.js';
import type { QueueState } from './state.js';

/** Settings of the instance making the call that decide how the writer writes. */
export interface WriteSettings {
  segmentBytes: number;
  durability: FileDurability;
  syncIntervalMs: number;
}

/** An item to append: its bytes and (unique queues) its hash. */
export interface PutItem {
  data: Buffer;
  h1: number;
  h2: number;
}

/** Appends records to the last segment and applies them to the state. */
export class LogWriter {
  /** Settings of the call under way. */
  settings!: WriteSettings;
  /** The call's write landed but our token was gone after it: the hold is given up when the call ends. */
  lostAfterWrite = false;
  /** Log bytes written since the last checkpoint. */
  bytesSinceCheckpoint = 0;
  private changedSinceCheckpoint = false;
  private wfd: SegFd | undefined;
  private wseg = 0;
  private scratch = Buffer.allocUnsafeSlow(64 * 1024);
  /** The flushes of the current segment. */
  readonly flusher: Flusher;

  constructor(
    private readonly segs: SegmentDir,
    private readonly log: LogReader,
    private readonly ckpt: CheckpointFile,
    private readonly pos: LogPosition,
    private readonly state: QueueState,
    private readonly hold: FencedHold,
  ) {
    this.flusher = new Flusher(() => this.wfd, segs.dir, () => this.settings);
  }

  /** Appends PUT records for `entries` (one write) and applies them; returns their ids. */
  put(entries: PutItem[]): number[] {
    const filo = this.state.order === 'filo';
    const hash = this.state.unique;
    const st = this.state.st;
    let total = 0;
    for (const e of entries) total += putSize(e.data.length, hash, filo);
    const T = this.reserve(total);
    const seg = this.pos.seg;
    const buf = total <= this.scratch.length ? this.scratch : Buffer.allocUnsafe(total);
    let at = 0;
    let lastAt = 0;
    let id = st.nextId;
    let prevSeg = st.headSeg;
    let prevOff = st.headOff;
    const ids: number[] = [];
    const last = entries.length - 1;
    for (let i = 0; i <= last; i++) {
      const e = entries[i]!;
      lastAt = at;
      // All but the last record carry F_MORE: readers apply the write all or nothing.
      at = writePut(buf, at, id, hash ? e : undefined, filo ? { seg: prevSeg, off: prevOff } : undefined, e.data, i < last);
      ids.push(id);
      prevSeg = seg;
      prevOff = T + lastAt;
      id++;
    }
    this.commitWrite(buf, total, T, lastAt);
    at = 0;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      this.state.applyPut(ids[i]!, seg, T + at, e.h1, e.h2);
      at += putSize(e.data.length, hash, filo);
    }
    return ids;
  }

  /** Appends records other than PUT in one write (all or nothing for readers: F_MORE) and applies them. */
  write(recs: Rec[]): void {
    const parts = recs.map((r) => encodeRec(r));
    for (let i = 0; i < parts.length - 1; i++) markMore(parts[i]!, 0);
    let total = 0;
    for (const p of parts) total += p.length;
    const buf = parts.length === 1 ? parts[0]! : Buffer.concat(parts, total);
    const T = this.reserve(total);
    const seg = this.pos.seg;
    this.commitWrite(buf, total, T, total - parts[parts.length - 1]!.length);
    let at = T;
    for (let i = 0; i < recs.length; i++) {
      this.state.apply(recs[i]!, seg, at);
      at += parts[i]!.length;
    }
  }

  /** Makes room for `len` bytes in the current segment (rolling first if needed); returns where they will go. */
  private reserve(len: number): number {
    this.hold.checkBeforeWrite();
    if (this.pos.ended || this.pos.abandon) this.roll();
    else if (this.pos.off + len > this.settings.segmentBytes && this.pos.off > this.pos.firstOff) {
      this.writeEnd(END_ROLL);
      this.roll();
    }
    return this.pos.off;
  }

  /** Writes `buf[0, len)` at the end of the current segment, which must be at `T`; checks for fencing. */
  private commitWrite(buf: Buffer, len: number, T: number, lastAt: number): void {
    const f = this.fd();
    let done = 0;
    try {
      while (done < len) done += io.writeSync(f.fd, buf, done, len - done);
    } catch (err) {
      if (done > 0) {
        try {
          io.ftruncateSync(f.fd, T);
          this.restoreEndIfFenced();
        } catch {
          this.pos.abandon = true;
        }
      }
      throw ioError(`cannot write to queue segment ${this.segs.path(this.pos.seg)}`, err);
    }
    if (!this.hold.confirmAfterWrite()) {
      // Fenced off: the write counts only if no END precedes it (Locking, step 2).
      if (this.landedAt(T, buf)) this.lostAfterWrite = true;
      else throw new Fenced();
    }
    this.pos.off = T + len;
    this.pos.lastStart = T + lastAt;
    this.pos.lastCrc = buf.readUInt32LE(lastAt + 8);
    this.flusher.dirty = true;
    this.bytesSinceCheckpoint += len;
    this.changedSinceCheckpoint = true;
  }

  /** Whether the record we just wrote is at `T` (it precedes any fencing record, so it counts). */
  private landedAt(T: number, buf: Buffer): boolean {
    const got = Buffer.alloc(REC_HEADER);
    try {
      const r = this.segs.reader(this.pos.seg);
      r.trim(T);
      if (readSync(r.fd, got, 0, REC_HEADER, T) !== REC_HEADER) return false;
    } catch {
      return false;
    }
    return got.equals(buf.subarray(0, REC_HEADER));
  }

  private writeEnd(reason: number): void {
    const buf = encodeEnd({ t: T_END, reason });
    this.commitWrite(buf, buf.length, this.pos.off, 0);
    this.pos.ended = true;
  }

  /** The append descriptor of the current segment. */
  private fd(): SegFd {
    if (this.wfd && this.wseg === this.pos.seg) return this.wfd;
    this.wfd?.retire();
    this.wfd = undefined;
    // Never O_CREAT: only roll() creates segments.
    try {
      this.wfd = this.segs.openAppend(this.pos.seg);
    } catch (err) {
      // Stalled past lockStale between the token check and here (SIGSTOP, a blocked thread): whoever fenced us off
      // may have gone on and deleted this segment once everything in it was consumed. Only holders delete
      // segments, so a missing one means that; the operation is retried under a new hold.
      if (this.hold.tokenGone()) throw new Fenced();
      throw err;
    }
    this.wseg = this.pos.seg;
    if (this.settings.durability !== 'off') this.syncLog();
    return this.wfd;
  }

  /**
   * Makes the log as it stands durable before this process appends to it (a segment it did not start) or starts the
   * next segment: every segment up to the current one, then the folder (and, once per process, its parent). See
   * docs/format.md, "Durability".
   */
  private syncLog(): void {
    this.segs.syncSegments(this.pos.seg);
    this.segs.syncDir();
    this.segs.syncParentOnce();
  }

  /** Starts the next segment with a STATE record of the current state, then deletes empty ones and checkpoints. */
  roll(): void {
    this.hold.check();
    const n = this.pos.seg + 1;
    const prevEnd = this.pos.off;
    const durable = this.settings.durability !== 'off';
    if (this.wfd && durable && this.pos.seg > 0) this.flusher.flushSync();
    if (durable && this.pos.seg > 0) this.syncLog();
    const nonce = randomBytes(4).readUInt32LE(0);
    const header = encodeSegHeader({ version: FORMAT_VERSION, order: this.state.order === 'filo' ? 1 : 0, unique: this.state.unique, seg: n, nonce });
    const stateRec = encodeState(prevEnd, this.state.st);
    const path = this.segs.path(n);
    let f = this.segs.create(n);
    if (!f) {
      // Left by a roller that died before writing its STATE record? Then it holds nothing: replace it.
      if (this.log.born(n) !== 'unborn') throw new Fenced();
      this.hold.check();
      io.unlinkSync(path);
      f = this.segs.create(n);
      if (!f) throw new Fenced();
    }
    const buf = Buffer.concat([header, stateRec]);
    try {
      let done = 0;
      while (done < buf.length) done += io.writeSync(f.fd, buf, done, buf.length - done);
      if (durable) io.fdatasyncSync(f.fd);
    } catch (err) {
      io.closeSync(f.fd);
      try {
        io.unlinkSync(path);
      } catch {
        // an unborn segment is ignored and removed later
      }
      throw ioError(`cannot write queue segment ${path}`, err);
    }
    if (this.settings.durability === 'full') this.segs.syncDir();
    // The first segment of a new queue: the queue folder's own name must survive a power loss too.
    if (n === 1 && durable) this.segs.syncParentOnce();
    const old = this.pos.seg;
    this.wfd?.retire();
    this.wfd = f;
    this.wseg = n;
    this.pos.enter(n, buf.length, stateRec.readUInt32LE(8));
    this.segs.nonces.set(n, nonce);
    this.pos.abandon = false;
    this.pos.torn = false;
    this.flusher.dirty = false;
    if (old > 0) this.state.emptied.add(old);
    this.removeEmptySegments();
    this.checkpoint();
  }

  /** Appends END (fence) to the current segment (Locking, step 1), cutting a torn tail first. */
  appendFenceEnd(): void {
    this.hold.check();
    if (this.pos.torn) this.truncateTail();
    const buf = encodeEnd({ t: T_END, reason: END_FENCE });
    try {
      io.writeSync(this.fd().fd, buf);
    } catch (err) {
      throw ioError(`cannot write to queue segment ${this.segs.path(this.pos.seg)}`, err);
    }
    this.segs.trim(this.pos.seg, this.pos.off);
  }

  /** Cuts the torn tail after the position (Recovery, step 4; Locking, step 3). */
  truncateTail(): void {
    this.hold.check();
    try {
      io.ftruncateSync(this.fd().fd, this.pos.off);
    } catch (err) {
      this.pos.abandon = true;
      throw ioError(`cannot repair the torn end of queue segment ${this.segs.path(this.pos.seg)}`, err);
    }
    this.segs.trim(this.pos.seg, this.pos.off);
    this.pos.torn = false;
    if (this.restoreEndIfFenced()) throw new Fenced();
  }

  /**
   * After truncating the current segment to the position: if our token is gone, we may have cut the END that a
   * fencer wrote at this very offset; puts it back byte for byte (Locking, step 3). Returns whether we were fenced off.
   */
  private restoreEndIfFenced(): boolean {
    if (!this.hold.tokenGone()) return false;
    try {
      io.writeSync(this.fd().fd, encodeEnd({ t: T_END, reason: END_FENCE }));
    } catch {
      // The segment is gone or unwritable: its successor's STATE stands for it (Recovery, step 4).
    }
    return true;
  }

  /** Deletes the segments before the current one that hold no live item. */
  removeEmptySegments(): void {
    const emptied = this.state.emptied;
    if (emptied.size === 0) return;
    let checked = false;
    for (const s of [...emptied]) {
      if (s >= this.pos.seg) continue;
      emptied.delete(s);
      if (this.state.st.segCount.has(s)) continue;
      if (!checked) {
        this.hold.check();
        checked = true;
      }
      this.segs.remove(s);
    }
  }

  /** Writes the checkpoint at the position (docs/format.md, "Checkpoint file"). Holder only. */
  checkpoint(): void {
    if (!this.hold.held || this.pos.ended || this.pos.seg === 0) return;
    this.hold.check();
    const durable = this.settings.durability !== 'off';
    // The folder fsync also makes earlier segment deletions durable: the records that emptied those segments must
    // be on disk first.
    if (durable) {
      try {
        io.fdatasyncSync(this.fd().fd);
      } catch (err) {
        throw ioError(`cannot write the checkpoint of ${this.segs.dir}`, err);
      }
    }
    this.ckpt.write(
      {
        seg: this.pos.seg,
        nonce: this.log.nonce(this.pos.seg),
        pos: this.pos.off,
        lastStart: this.pos.lastStart,
        lastCrc: this.pos.lastCrc,
        state: this.state.st,
        hashes: this.state.set?.toArray(),
      },
      durable,
    );
    this.bytesSinceCheckpoint = 0;
    this.changedSinceCheckpoint = false;
  }

  /** Checkpoint if anything changed since the last one (at close). */
  checkpointIfChanged(): void {
    if (this.changedSinceCheckpoint) this.checkpoint();
  }

  /** Closes the append descriptor (once a background flush using it is done). */
  close(): void {
    this.wfd?.retire();
    this.wfd = undefined;
  }
}

function encodeRec(r: Rec): Buffer {
  switch (r.t) {
    case T_TAKE:
      return encodeTake(r);
    case T_DONE:
      return encodeDone(r);
    case T_RETURN:
      return encodeReturn(r);
    case T_FLAG:
      return encodeFlag(r);
    case T_END:
      return encodeEnd(r);
    default:
      throw new Error(`record type ${r.t} is not written this way`);
  }
}
