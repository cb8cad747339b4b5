/**
 * The storage engine of the file-segment queues: one {@link Store} per queue folder per thread, shared by every
 * queue instance of that thread that opens the folder. A facade: it runs each operation under the folder lock with
 * the state caught up, and decides when to keep or give up the lock. The parts:
 *
 * - {@link QueueState} (state.ts): the state and the one pure transition function;
 * - {@link LogPosition} (position.ts): how far the log is applied;
 * - {@link SegmentDir} (segment-dir.ts): the segment files, read windows, folder fsyncs;
 * - {@link LogReader} (log-reader.ts): reading records, with a {@link CorruptionReporter} deciding about damage;
 * - {@link LogWriter} (log-writer.ts) and {@link Flusher} (flusher.ts): appending, rolling, flushing, checkpoints;
 * - {@link CheckpointFile} (checkpoint.ts), {@link Recovery} (recovery.ts), {@link TakePlanner} (take-planner.ts);
 * - {@link FencedHold} (fence.ts) over {@link FolderLock} (lock.ts): the lock and the fencing protocol.
 *
 * docs/format.md describes the format and the protocol; the code names its steps.
 *
 * @module
 */
import { join } from 'node:path';
import { argValueError, QueueLockedError } from '../common/errors.js';
import { isOwnerAlive, newOwner, retireOwner } from '../common/owner.js';
import { acquireSignal, releaseSignal, type Signal } from '../common/wait.js';
import { T_FLAG, T_RETURN, type Rec, type State } from './format.js';
import type { HashSet64 } from './hashset.js';
import { CheckpointFile } from './checkpoint.js';
import { Fenced, FencedHold, LockBusyError } from './fence.js';
import { typedIo } from './io.js';
import type { Flusher } from './flusher.js';
import { FolderLock } from './lock.js';
import { CorruptionReporter, LogReader } from './log-reader.js';
import { LogWriter, type PutItem } from './log-writer.js';
import type { FileDurability } from './options.js';
import { LogPosition } from './position.js';
import { Recovery } from './recovery.js';
import { SegmentDir } from './segment-dir.js';
import { QueueState } from './state.js';
import { TakePlanner, type TakePlan, type Undecodable } from './take-planner.js';
import { WakeChannel } from './wake.js';

/** How often a holder looks for a waiting process. */
const WANT_CHECK_MS = 2;
/** A holder keeps the lock at least this long before yielding to a waiter (avoids ping-pong). */
const MIN_HOLD_MS = 20;
/** After yielding, stay away this long so the waiter gets the lock. */
const YIELD_MS = 8;
/** Release a lock nobody used for this long (timer; needs a free event loop). */
const IDLE_MS = 3;
/** Keep the lock after a call only while calls follow each other within this many ms. */
const HOT_GAP_MS = 10;
/** Dead-holder sweeps at most this often. */
const SWEEP_MS = 1000;
/** Write a checkpoint after this many bytes of log. */
const CKPT_BYTES = 8 * 1024 * 1024;

/** Per-call settings of the instance that makes the call. */
export interface Ctx {
  skipCorrupt: boolean;
  segmentBytes: number;
  lockTimeout: number;
  lockStale: number;
  durability: FileDurability;
  syncIntervalMs: number;
}

const registry = new Map<string, Store>();

/** The shared engine of one queue folder in this thread. */
export class Store {
  readonly signal: Signal;
  private readonly state: QueueState;
  private readonly segs: SegmentDir;
  private readonly pos = new LogPosition();
  private readonly report = new CorruptionReporter();
  private readonly hold: FencedHold;
  private readonly writer: LogWriter;
  private readonly recovery: Recovery;
  private readonly planner: TakePlanner;
  private readonly token = newOwner();
  private readonly signalKey: string;
  private readonly wake: WakeChannel;
  private ctx!: Ctx;
  private refs = 0;
  private lastOpEnd = -Infinity;
  private lastWantCheck = 0;
  private lastSweep = -Infinity;
  private idleTimer: NodeJS.Timeout | undefined;

  private constructor(
    readonly dir: string,
    order: 'fifo' | 'filo',
    unique: boolean,
  ) {
    this.state = new QueueState(order, unique);
    const segs = new SegmentDir(dir, (s) => s === this.pos.seg || s === this.state.st.headSeg);
    const log = new LogReader(segs, this.report);
    const ckpt = new CheckpointFile(segs, log);
    this.hold = new FencedHold(new FolderLock(dir), this.token);
    this.writer = new LogWriter(segs, log, ckpt, this.pos, this.state, this.hold);
    this.recovery = new Recovery(segs, log, ckpt, this.pos, this.state, this.hold, this.writer, this.report);
    this.planner = new TakePlanner(this.state, this.pos, log, this.report, (recs) => this.write(recs));
    this.segs = segs;
    this.signalKey = `file:${dir}`;
    this.signal = acquireSignal(this.signalKey);
    this.wake = new WakeChannel(join(dir, 'wake'), () => this.signal.notify());
  }

  /** The store of `dir` (a real path) in this thread, created on first use. */
  static attach(dir: string, order: 'fifo' | 'filo', unique: boolean): Store {
    let s = registry.get(dir);
    if (!s) {
      s = new Store(dir, order, unique);
      registry.set(dir, s);
    } else if (s.recovery.knownOrder) {
      s.checkCompatible(order, unique);
    }
    s.refs++;
    return s;
  }

  /** Throws a TypeError when the folder's queue was created with another order or uniqueness. */
  checkCompatible(order: 'fifo' | 'filo', unique: boolean): void {
    if (order !== this.state.order) {
      throw argValueError(`The "order" option '${order}' does not match the queue in ${this.dir}, which was created with order '${this.state.order}'`);
    }
    if (unique !== this.state.unique) {
      throw argValueError(`The "unique" option (${unique}) does not match the queue in ${this.dir}, which was created with unique: ${this.state.unique}`);
    }
  }

  /** Instances attached. */
  get instances(): number {
    return this.refs;
  }

  /** Drops one instance; the last one gives up the lock and closes the files. */
  detach(): void {
    if (--this.refs > 0) return;
    registry.delete(this.dir);
    this.releaseLock();
    this.writer.close();
    this.segs.closeAll();
    this.wake.close();
    retireOwner(this.token);
    releaseSignal(this.signalKey);
  }

  /** The state (read only outside this engine). */
  get st(): State {
    return this.state.st;
  }

  /** Hashes of the waiting items (unique queues). */
  get set(): HashSet64 | undefined {
    return this.state.set;
  }

  get size(): number {
    return this.state.size;
  }

  /** Records skipped because they failed their checksum (`skipCorrupt`), each counted once. */
  get corruptSkipped(): number {
    return this.report.count;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Operations

  /**
   * Runs `fn` holding the folder lock, with the state caught up with the log. Retries when the hold turns out to have
   * been taken over (fencing). Keeps the lock afterwards while calls come quickly and nobody else waits.
   */
  op<R>(ctx: Ctx, fn: () => R, waiting?: (r: R) => boolean): R {
    try {
      return this.opLocked(ctx, fn, waiting);
    } catch (err) {
      throw typedIo(err, `queue folder ${this.dir}`);
    }
  }

  private opLocked<R>(ctx: Ctx, fn: () => R, waiting?: (r: R) => boolean): R {
    this.use(ctx);
    const start = performance.now();
    const deadline = start + ctx.lockTimeout;
    for (;;) {
      this.ensureHeld();
      try {
        const r = fn();
        this.finishOp(start, waiting?.(r) ?? false);
        return r;
      } catch (err) {
        if (err instanceof Fenced) {
          this.lost();
          if (performance.now() >= deadline) throw new QueueLockedError(`lost the lock of queue folder ${this.dir} to another process`);
          continue;
        }
        this.finishOp(start, true);
        throw err;
      }
    }
  }

  private use(ctx: Ctx): void {
    this.ctx = ctx;
    this.writer.settings = ctx;
    this.report.skipping = ctx.skipCorrupt;
  }

  /** Catches the state up with the log without taking the lock (reads only complete, checksummed records). */
  refresh(ctx: Ctx): void {
    this.use(ctx);
    if (this.hold.held) return;
    try {
      this.recovery.catchUp();
    } catch (err) {
      throw typedIo(err, `queue folder ${this.dir}`);
    }
  }

  /** Whether a lock-free look found something only a lock holder can settle (dead holders). */
  sweepDue(): boolean {
    if (performance.now() - this.lastSweep < SWEEP_MS) return false;
    this.lastSweep = performance.now();
    for (const o of this.state.st.held.keys()) if (!isOwnerAlive(o)) return true;
    for (const o of this.state.st.pending) if (!isOwnerAlive(o)) return true;
    return false;
  }

  /** Gives back the items of dead holders and clears their join() flags. Holder only. */
  sweep(): void {
    this.lastSweep = performance.now();
    const recs: Rec[] = [];
    for (const o of this.state.st.held.keys()) if (!isOwnerAlive(o)) recs.push({ t: T_RETURN, owner: o });
    for (const o of this.state.st.pending) if (!isOwnerAlive(o)) recs.push({ t: T_FLAG, owner: o, on: false });
    if (recs.length > 0) this.write(recs);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Writes and reads (holder only, except peekData)

  /** Appends PUT records for `entries` (one write); returns their ids. */
  put(entries: PutItem[]): number[] {
    const ids = this.writer.put(entries);
    this.signal.notify();
    return ids;
  }

  /** Appends records other than PUT in one write and applies them. */
  write(recs: Rec[]): void {
    this.writer.write(recs);
    this.signal.notify();
  }

  /** Plans a take of up to `max` items; see {@link TakePlanner.planTake}. */
  planTake<G>(max: number, decode: (bytes: Buffer, where: string, id: number) => G | Undecodable): TakePlan<G> | undefined {
    return this.planner.planTake(max, decode);
  }

  /** The id of the next item; see {@link TakePlanner.frontId}. */
  frontId(): number | undefined {
    return this.planner.frontId();
  }

  /** Takes the front item and drops it (its removal written). Holder only. */
  removeFront(): void {
    this.planner.removeFront();
  }

  /** Writes a planned take (TAKE record, plus `extra` records first, e.g. a FLAG). */
  commitTake(plan: TakePlan<unknown>, owner: string | null, extra: Rec[] = []): void {
    this.write([...extra, this.planner.takeRecord(plan, owner)]);
  }

  /** Removes the (corrupt, skipped) item at the front. */
  dropFront(): void {
    this.planner.dropFront();
  }

  /** The next item without taking it; see {@link TakePlanner.peekData}. */
  peekData(): { data: Buffer; where: string; id: number } | 'corrupt' | undefined {
    return this.planner.peekData();
  }

  /** The flushes of the segment being appended to, per `durability`. */
  get flusher(): Flusher {
    return this.writer.flusher;
  }

  /** Writes the checkpoint if anything changed since the last one (at close). */
  checkpointIfChanged(): void {
    this.writer.checkpointIfChanged();
  }

  // -------------------------------------------------------------------------------------------------------------
  // The lock: taking it, keeping it between quick calls, yielding it to a waiter

  /** Takes the lock, or throws LockBusyError: the caller (the shell, the core's open and close) retries. */
  private ensureHeld(): void {
    if (this.hold.held) {
      if (!this.hold.lock.compromised) return;
      this.lost();
    }
    if (!this.tryAcquire()) throw new LockBusyError(`queue folder ${this.dir} is locked by another process`);
  }

  private tryAcquire(): boolean {
    try {
      const got = this.hold.acquire(this.ctx.lockStale, false); // a fence wait under way answers busy: retried
      if (got === 'busy') return false;
      this.recovery.settle(got === 'fence');
      this.armIdle();
      if (performance.now() - this.lastSweep >= SWEEP_MS) this.sweep();
      return true;
    } catch (err) {
      this.releaseLock();
      if (err instanceof Fenced) return false;
      throw err;
    }
  }

  private finishOp(start: number, waiting: boolean): void {
    const now = performance.now();
    const gap = start - this.lastOpEnd;
    this.lastOpEnd = now;
    if (!this.hold.held) return;
    if (this.writer.lostAfterWrite) {
      this.writer.lostAfterWrite = false;
      this.lost();
      return;
    }
    try {
      this.writer.removeEmptySegments();
      if (this.writer.bytesSinceCheckpoint >= CKPT_BYTES + (this.state.set ? this.state.set.size * 16 : 0)) this.writer.checkpoint();
    } catch {
      // Housekeeping only: done again later.
    }
    if (waiting || gap > HOT_GAP_MS) {
      this.releaseLock();
      return;
    }
    if (now - this.lastWantCheck >= WANT_CHECK_MS) {
      this.lastWantCheck = now;
      if (now - this.hold.heldSince >= MIN_HOLD_MS && this.hold.lock.wanted()) {
        this.releaseLock();
        this.hold.yieldUntil = performance.now() + YIELD_MS;
      }
    }
  }

  private armIdle(): void {
    if (this.idleTimer) return;
    const tick = (): void => {
      this.idleTimer = undefined;
      if (!this.hold.held) return;
      const idle = performance.now() - this.lastOpEnd;
      if (idle >= IDLE_MS) {
        this.releaseLock();
        return;
      }
      this.idleTimer = setTimeout(tick, IDLE_MS - idle + 1);
      this.idleTimer.unref();
    };
    this.idleTimer = setTimeout(tick, IDLE_MS);
    this.idleTimer.unref();
  }

  private clearIdle(): void {
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
  }

  /** Gives the lock up (Locking, step 4), and rings the wake-up channel (hand-off) if this thread held it. */
  releaseLock(): void {
    this.clearIdle();
    const held = this.hold.held;
    this.hold.release();
    if (held) this.wake.ring();
  }

  /** A Promise class is about to wait: notify {@link signal} when another process gives the lock up (wake.ts). */
  watchWake(): void {
    this.wake.watch();
  }

  /** The hold was taken over: forget it; the next call acquires again. */
  private lost(): void {
    this.clearIdle();
    this.hold.lost();
    this.segs.invalidate();
  }
}
