/**
 * The storage engine of the file-segment queues: one {@link Store} per queue folder per thread, shared by every
 * queue instance of that thread that opens the folder. It owns the log (segment files), the in-memory state derived
 * from it, the folder lock, the fencing token and the checkpoint.
 *
 * Every change is a record appended to the last segment. The state at any position of the log is the STATE record at
 * the start of its segment plus the records after it, so any process can rebuild it from the files; the checkpoint
 * only saves replaying. See docs/format.md for the format and the protocol, docs/file-queue.md for the design.
 *
 * @module
 */
import {
  constants as fsc,
  existsSync,
  fstatSync,
  readdirSync,
  readFileSync,
  readSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { argValueError, QueueCorruptError, QueueError, QueueLockedError } from '../common/errors.js';
import { isOwnerAlive, newOwner, retireOwner } from '../common/owner.js';
import { acquireSignal, releaseSignal, sleepSync, type Signal } from '../common/wait.js';
import {
  BadBody,
  checkHeader,
  decodeBody,
  decodeCheckpoint,
  decodeSegHeader,
  emptyState,
  encodeCheckpoint,
  encodeDone,
  encodeEnd,
  encodeFlag,
  encodeReturn,
  encodeSegHeader,
  encodeState,
  encodeTake,
  END_FENCE,
  END_ROLL,
  F_MORE,
  FORMAT_VERSION,
  markMore,
  NONE,
  putSize,
  REC_HEADER,
  SEG_HEADER,
  T_DONE,
  T_END,
  T_FLAG,
  T_PUT,
  T_RETURN,
  T_STATE,
  T_TAKE,
  writePut,
  type Checkpoint,
  type Rec,
  type Slot,
  type State,
  type TakeRec,
} from './format.js';
import { crc32 } from '../common/crc.js';
import { HashSet64 } from './hashset.js';
import { FolderLock } from './lock.js';
import { io } from './io.js';
import type { FileDurability } from './options.js';

/** A fencer waits this long after removing another holder's token before it touches the log. */
const FENCE_WAIT_MS = 50;
/** A holder re-checks that its token still exists at least this often (must stay below FENCE_WAIT_MS). */
const TOKEN_CHECK_MS = 20;
/** How often a holder looks for a waiting process. */
const WANT_CHECK_MS = 2;
/** A holder keeps the lock at least this long before yielding to a waiter (avoids ping-pong). */
const MIN_HOLD_MS = 20;
/** After yielding, stay away this long so the waiter gets the lock. */
const YIELD_MS = 8;
/** Release a lock nobody used for this long (timer; needs a free event loop). */
const IDLE_MS = 10;
/** Keep the lock after a call only while calls follow each other within this many ms. */
const HOT_GAP_MS = 10;
/** Dead-holder sweeps at most this often. */
const SWEEP_MS = 1000;
/** Look for a dead lock holder at most this often while waiting. */
const DEAD_CHECK_MS = 25;
/** Write a checkpoint after this many bytes of log. */
const CKPT_BYTES = 8 * 1024 * 1024;
/** Read window per segment. */
const WINDOW = 64 * 1024;

/** Per-call settings of the instance that makes the call. */
export interface Ctx {
  flavour: 'sync' | 'async';
  skipCorrupt: boolean;
  segmentBytes: number;
  lockTimeout: number;
  lockStale: number;
  durability: FileDurability;
  syncIntervalMs: number;
}

/** Internal: this thread's hold on the log was taken over; the operation did not happen and is retried. */
class Fenced extends Error {}

/** A passing lock conflict; the Promise shell retries it (see QueueCore.retryableFor). */
export class LockBusyError extends QueueLockedError {}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

/** An fs error (it has an errno code) escaping a store operation becomes a QueueError ERR_QUEUE_IO; others pass. */
function typedIo(err: unknown, context: string): unknown {
  if (err instanceof QueueError || err instanceof Error === false) return err;
  return typeof errno(err) === 'string' && !(errno(err) as string).startsWith('ERR_') ? ioError(context, err) : err;
}

function ioError(context: string, err: unknown): QueueError {
  if (err instanceof QueueError) return err;
  const c = errno(err);
  const why = c === 'EFBIG' || c === 'ENOSPC' || c === 'EDQUOT' ? ' (disk full or file size limit)' : '';
  return new QueueError(`${context}${why}: ${(err as Error)?.message ?? String(err)}`, 'ERR_QUEUE_IO', { cause: err });
}

/** Exclusive create, appending: every write of every process goes to the end of the file. */
const CREATE_APPEND = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_APPEND;

const segName = (n: number): string => `seg-${String(n).padStart(10, '0')}.log`;
const SEG_RE = /^seg-(\d{10})\.log$/;

/** An open segment file descriptor that is closed only when no background fsync still uses it. */
class SegFd {
  refs = 0;
  private retired = false;
  constructor(readonly fd: number) {}
  retire(): void {
    this.retired = true;
    if (this.refs === 0) this.close();
  }
  unref(): void {
    if (--this.refs === 0 && this.retired) this.close();
  }
  private close(): void {
    try {
      io.closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}

/** A read window over one segment file. */
class SegReader {
  buf: Buffer = Buffer.allocUnsafeSlow(WINDOW);
  start = 0;
  len = 0;
  constructor(readonly fd: number) {}

  /** Makes up to `n` bytes from `off` available at `buf[off - start]`; returns how many there are (less at EOF). */
  fetch(off: number, n: number): number {
    if (off >= this.start && off + n <= this.start + this.len) return n;
    if (n > this.buf.length) this.buf = Buffer.allocUnsafeSlow(n);
    else if (this.buf.length > WINDOW && n <= WINDOW) this.buf = Buffer.allocUnsafeSlow(WINDOW);
    let got = 0;
    while (got < this.buf.length) {
      const r = readSync(this.fd, this.buf, got, this.buf.length - got, off + got);
      if (r === 0) break;
      got += r;
      if (got >= n) break;
    }
    this.start = off;
    this.len = got;
    return Math.min(n, got);
  }

  /** Forgets cached bytes from `off` on (they may change: a torn tail is truncated and rewritten). */
  trim(off: number): void {
    if (off < this.start) this.len = 0;
    else if (off < this.start + this.len) this.len = off - this.start;
  }

  close(): void {
    try {
      io.closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}

/** What reading one record found. */
type ReadResult =
  | { k: 'ok'; type: number; flags: number; body: Buffer; end: number; crc: number }
  | { k: 'eof' }
  | { k: 'missing' }
  | { k: 'torn' }
  | { k: 'corrupt'; why: string; next: number | undefined };

/** A record read for its item. */
/** Returned by a `planTake` decoder for an intact item that the serializer refuses (with skipCorrupt). */
export const UNDECODABLE: unique symbol = Symbol('persist-queue.undecodable');
/** The type of {@link UNDECODABLE}. */
export type Undecodable = typeof UNDECODABLE;

interface PutView {
  id: number;
  data: Buffer;
  h1: number;
  h2: number;
  prevSeg: number;
  prevOff: number;
  end: number;
}

/** One record of a multi-record write, read ahead before the write is applied. */
interface GroupRec {
  rec: Rec;
  off: number;
  crc: number;
  end: number;
}

const EMPTY = Buffer.alloc(0);

/** What a get will take, before it is committed. */
export interface TakePlan<G> {
  items: G[];
  nRet: number;
  main: Slot[];
  headSeg: number;
  headOff: number;
}

interface BornInfo {
  nonce: number;
  order: number;
  unique: boolean;
  prevEnd: number;
  state: State;
  end: number;
  crc: number;
}

const registry = new Map<string, Store>();

/** The shared engine of one queue folder in this thread. */
export class Store {
  readonly signal: Signal;
  readonly lock: FolderLock;
  /** Positions of the damaged records skipped so far (`skipCorrupt`). */
  private readonly skipped = new Set<string>();

  /** Records skipped because they failed their checksum (`skipCorrupt`), each counted once. */
  get corruptSkipped(): number {
    return this.skipped.size;
  }

  private noteCorrupt(seg: number, off: number): void {
    this.skipped.add(`${seg}:${off}`);
  }

  order: 'fifo' | 'filo';
  unique: boolean;
  st: State = emptyState();
  set: HashSet64 | undefined;

  private ctx!: Ctx;
  private refs = 0;
  private readonly token: string;
  private readonly signalKey: string;

  // Position up to which records are applied (= where the next record goes, while holding the lock).
  private curSeg = 0;
  private curOff = 0;
  private firstOff = 0;
  private ended = false;
  private torn = false;
  private abandon = false;
  private lastStart = 0;
  private lastCrc = 0;
  private needResync = true;
  private rebuildSetPending = false;
  private knownOrder = false;
  private recovered = false;

  private readonly nonces = new Map<number, number>();
  private readonly readers = new Map<number, SegReader>();
  private wfd: SegFd | undefined;
  private wseg = 0;
  private scratch = Buffer.allocUnsafeSlow(64 * 1024);

  // Lock state.
  private held = false;
  private heldSince = 0;
  private lastCheck = 0;
  private lastWantCheck = 0;
  private lastOpStart = 0;
  private lastOpEnd = -Infinity;
  private yieldUntil = 0;
  private lastDeadCheck = 0;
  private lastSweep = -Infinity;
  private lostAfterOp = false;
  /** Our token was created for the current hold (so its absence means we were fenced off). */
  private tokenMade = false;
  /** Set while this process owes a fence: it removed another holder's token and may touch the log from then on. */
  private fenceDue: number | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly emptySegs = new Set<number>();

  // Durability.
  private dirty = false;
  private lastFlush = 0;
  private flushing = false;
  private bytesSinceCkpt = 0;
  private parentSynced = false;
  private changedSinceCkpt = false;

  private constructor(
    readonly dir: string,
    order: 'fifo' | 'filo',
    unique: boolean,
  ) {
    this.order = order;
    this.unique = unique;
    this.set = unique ? new HashSet64() : undefined;
    this.lock = new FolderLock(dir);
    this.token = newOwner();
    this.signalKey = `file:${dir}`;
    this.signal = acquireSignal(this.signalKey);
  }

  /** The store of `dir` (a real path) in this thread, created on first use. */
  static attach(dir: string, order: 'fifo' | 'filo', unique: boolean): Store {
    let s = registry.get(dir);
    if (!s) {
      s = new Store(dir, order, unique);
      registry.set(dir, s);
    } else if (s.knownOrder) {
      s.checkCompatible(order, unique);
    }
    s.refs++;
    return s;
  }

  /** Throws a TypeError when the folder's queue was created with another order or uniqueness. */
  checkCompatible(order: 'fifo' | 'filo', unique: boolean): void {
    if (order !== this.order) {
      throw argValueError(`The "order" option '${order}' does not match the queue in ${this.dir}, which was created with order '${this.order}'`);
    }
    if (unique !== this.unique) {
      throw argValueError(`The "unique" option (${unique}) does not match the queue in ${this.dir}, which was created with unique: ${this.unique}`);
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
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.wfd?.retire();
    this.wfd = undefined;
    for (const r of this.readers.values()) r.close();
    this.readers.clear();
    retireOwner(this.token);
    releaseSignal(this.signalKey);
  }

  // =============================================================================================================
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
    this.ctx = ctx;
    const start = performance.now();
    const deadline = start + ctx.lockTimeout;
    for (;;) {
      this.ensureHeld(deadline);
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

  /** Catches the state up with the log without taking the lock (reads only complete, checksummed records). */
  refresh(ctx: Ctx): void {
    this.ctx = ctx;
    if (this.held) return;
    try {
      if (this.needResync) this.resync(false);
      this.replay(false);
    } catch (err) {
      throw typedIo(err, `queue folder ${this.dir}`);
    }
  }

  /** Whether a lock-free look found something only a lock holder can settle (corruption, dead holders). */
  sweepDue(): boolean {
    if (performance.now() - this.lastSweep < SWEEP_MS) return false;
    this.lastSweep = performance.now();
    for (const o of this.st.held.keys()) if (!isOwnerAlive(o)) return true;
    for (const o of this.st.pending) if (!isOwnerAlive(o)) return true;
    return false;
  }

  get size(): number {
    return this.st.main + this.st.returned.length;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Writes (holder only)

  /** Appends PUT records for `entries` (one write); returns their ids. */
  put(entries: { data: Buffer; h1: number; h2: number }[]): number[] {
    const filo = this.order === 'filo';
    const hash = this.unique;
    let total = 0;
    for (const e of entries) total += putSize(e.data.length, hash, filo);
    const T = this.reserve(total);
    const seg = this.curSeg;
    const buf = total <= this.scratch.length ? this.scratch : Buffer.allocUnsafe(total);
    let at = 0;
    let lastAt = 0;
    let id = this.st.nextId;
    let prevSeg = this.st.headSeg;
    let prevOff = this.st.headOff;
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
      this.applyPut(ids[i]!, seg, T + at, e.h1, e.h2);
      at += putSize(e.data.length, hash, filo);
    }
    this.signal.notify();
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
    const seg = this.curSeg;
    this.commitWrite(buf, total, T, total - parts[parts.length - 1]!.length);
    let at = T;
    for (let i = 0; i < recs.length; i++) {
      this.apply(recs[i]!, seg, at);
      at += parts[i]!.length;
    }
    this.signal.notify();
  }

  /** After a write: makes it durable per `durability` (sync). */
  durable(): void {
    const d = this.ctx.durability;
    if (d === 'full') this.flushSync();
    else if (d === 'normal' && performance.now() - this.lastFlush >= this.ctx.syncIntervalMs) this.flushAsync().catch(() => undefined);
  }

  /** fdatasync of the current segment, synchronously. */
  flushSync(): void {
    const f = this.wfd;
    if (!f) return;
    this.dirty = false;
    this.lastFlush = performance.now();
    try {
      io.fdatasyncSync(f.fd);
    } catch (err) {
      throw ioError(`cannot flush queue segment in ${this.dir}`, err);
    }
  }

  /** fdatasync of the current segment on the thread pool (the event loop stays free). */
  flushAsync(): Promise<void> {
    const f = this.wfd;
    if (!f) return Promise.resolve();
    this.dirty = false;
    this.lastFlush = performance.now();
    f.refs++;
    return new Promise<void>((resolve, reject) => {
      io.fdatasync(f.fd, (err) => {
        f.unref();
        if (err) reject(ioError(`cannot flush queue segment in ${this.dir}`, err));
        else resolve();
      });
    });
  }

  /**
   * `durability: 'normal'`, before this thread blocks in a wait (a synchronous get/put/lock wait): starts the flush
   * that the interval timer cannot run while the event loop is blocked (fdatasync runs on the thread pool meanwhile).
   */
  flushBeforeWait(): void {
    if (this.dirty && this.ctx?.durability === 'normal') this.flushAsync().catch(() => undefined);
  }

  /** Background flush for `durability: 'normal'` (called by an unref'd timer). */
  backgroundFlush(): void {
    if (!this.dirty || this.flushing) return;
    this.flushing = true;
    this.flushAsync()
      .catch(() => undefined)
      .finally(() => {
        this.flushing = false;
      });
  }

  // -------------------------------------------------------------------------------------------------------------
  // Reads

  /**
   * Plans a take of up to `max` items (returned items first, then the main list), decoding each with `decode`. A
   * corrupt item at the front is skipped (and its removal written) when `skipCorrupt`, else it throws. `decode`
   * returns {@link UNDECODABLE} for an intact item the serializer refuses (with skipCorrupt; else it throws): at the
   * front such an item is taken and dropped (its removal written), after other items the plan stops before it.
   * Holder only.
   */
  planTake<G>(max: number, decode: (bytes: Buffer, where: string, id: number) => G | Undecodable): TakePlan<G> | undefined {
    for (;;) {
      if (this.size === 0) return undefined;
      const items: G[] = [];
      let nRet = 0;
      const main: Slot[] = [];
      let hs = this.st.headSeg;
      let ho = this.st.headOff;
      let left = this.st.main;
      let dropped = false;
      let stop = false;
      while (items.length < max && nRet < this.st.returned.length) {
        const s = this.st.returned[nRet]!;
        const v = this.readPut(s.seg, s.off);
        if (v === undefined) {
          if (items.length > 0) break;
          this.noteCorrupt(s.seg, s.off);
          this.write([{ t: T_TAKE, owner: null, headSeg: hs, headOff: ho, nRet: 1, main: [] }]);
          dropped = true;
          break;
        }
        const item = decode(v.data, `${s.seg}:${s.off}`, v.id);
        if (item === UNDECODABLE) {
          if (items.length === 0) {
            this.write([{ t: T_TAKE, owner: null, headSeg: hs, headOff: ho, nRet: 1, main: [] }]);
            dropped = true;
          }
          stop = true;
          break;
        }
        items.push(item);
        nRet++;
      }
      if (dropped) continue;
      while (!stop && items.length < max && left > 0) {
        const v = this.readPut(hs, ho);
        if (v === undefined) {
          if (items.length > 0) break;
          this.dropCorruptHead(hs, ho);
          dropped = true;
          break;
        }
        const item = decode(v.data, `${hs}:${ho}`, v.id);
        if (item === UNDECODABLE) {
          if (items.length === 0) {
            const raw = this.planTake(1, (b) => b);
            if (raw) this.commitTake(raw, null);
            dropped = true;
          }
          break;
        }
        items.push(item);
        main.push({ seg: hs, off: ho, h1: v.h1, h2: v.h2 });
        left--;
        if (left === 0) {
          hs = NONE;
          ho = NONE;
        } else if (this.order === 'filo') {
          hs = v.prevSeg;
          ho = v.prevOff;
        } else {
          const next = this.scanPut(hs, v.end);
          if (next === undefined) {
            left = 0;
            hs = NONE;
            ho = NONE;
            this.st.main = main.length; // the count was off (a skipped corrupt record); trust the log
          } else {
            hs = next.seg;
            ho = next.off;
          }
        }
      }
      if (dropped) continue;
      if (items.length === 0) return undefined;
      return { items, nRet, main, headSeg: hs, headOff: ho };
    }
  }

  /** The id of the next item (lock-free or holder); undefined when empty or when its record is damaged. */
  frontId(): number | undefined {
    if (this.size === 0) return undefined;
    const s = this.st.returned[0];
    try {
      return this.readPut(s ? s.seg : this.st.headSeg, s ? s.off : this.st.headOff)?.id;
    } catch {
      return undefined;
    }
  }

  /** Takes the front item and drops it (its removal written). Holder only. */
  removeFront(): void {
    const raw = this.planTake(1, (b) => b);
    if (raw) this.commitTake(raw, null);
  }

  /** Removes the (corrupt, skipped) item at the front. Holder only. */
  dropFront(): void {
    if (this.st.returned.length > 0) {
      this.noteCorrupt(this.st.returned[0]!.seg, this.st.returned[0]!.off);
      this.write([{ t: T_TAKE, owner: null, headSeg: this.st.headSeg, headOff: this.st.headOff, nRet: 1, main: [] }]);
    } else if (this.st.main > 0) {
      this.dropCorruptHead(this.st.headSeg, this.st.headOff);
    }
  }

  /** Writes a planned take (TAKE record, plus `extra` records first, e.g. a FLAG). */
  commitTake(plan: TakePlan<unknown>, owner: string | null, extra: Rec[] = []): void {
    const rec: TakeRec = { t: T_TAKE, owner, headSeg: plan.headSeg, headOff: plan.headOff, nRet: plan.nRet, main: plan.main };
    this.write([...extra, rec]);
  }

  /** The next item without taking it (lock-free or holder); undefined when empty. Corrupt: throws or undefined. */
  peekData(): { data: Buffer; where: string; id: number } | 'corrupt' | undefined {
    if (this.size === 0) return undefined;
    const s = this.st.returned[0];
    const seg = s ? s.seg : this.st.headSeg;
    const off = s ? s.off : this.st.headOff;
    const v = this.readPut(seg, off);
    if (v === undefined) return 'corrupt';
    return { data: v.data, where: `${seg}:${off}`, id: v.id };
  }

  // =============================================================================================================
  // The lock

  private ensureHeld(deadline: number): void {
    if (this.held) {
      if (!this.lock.compromised) return;
      this.lost();
    }
    let pause = 1;
    for (;;) {
      if (this.tryAcquire()) return;
      if (this.ctx.flavour === 'async') throw new LockBusyError(`queue folder ${this.dir} is locked by another process`);
      const left = deadline - performance.now();
      if (left <= 0) throw new QueueLockedError(`queue folder ${this.dir} stayed locked by another process for ${this.ctx.lockTimeout} ms`);
      if (pause === 1) this.flushBeforeWait();
      sleepSync(Math.min(pause, left));
      pause = Math.min(pause * 2, 4);
    }
  }

  private tryAcquire(): boolean {
    const now = performance.now();
    let fenced: boolean;
    if (this.lock.locked && !this.held && this.lock.compromised) this.lock.unlock(); // taken over while we waited
    if (this.lock.locked && !this.held) {
      // We took the lock and fenced a previous holder off; the Promise class waits out FENCE_WAIT_MS on timers.
      if (now < (this.fenceDue ?? 0)) return false;
      fenced = true;
    } else {
      if (now < this.yieldUntil) return false;
      if (!this.lock.tryLock(this.ctx.lockStale)) {
        this.lock.want();
        if (now - this.lastDeadCheck >= DEAD_CHECK_MS) {
          this.lastDeadCheck = now;
          if (this.lock.breakIfHolderDead()) return this.tryAcquire();
        }
        return false;
      }
      try {
        const t0 = performance.now();
        this.lock.createToken(this.token);
        this.tokenMade = true;
        this.lastCheck = t0;
        for (const other of this.lock.listTokens()) {
          if (other === this.token) continue;
          this.lock.removeToken(other);
          this.fenceDue = Math.max(this.fenceDue ?? 0, performance.now() + FENCE_WAIT_MS);
        }
        // fenceDue may also be left from a fence this process owed and did not finish (see releaseLock).
        fenced = this.fenceDue !== undefined;
        if (fenced) {
          const left = this.fenceDue! - performance.now();
          if (left > 0 && this.ctx.flavour === 'async') return false; // LockBusyError: the shell retries on a timer
          sleepSync(left);
        }
      } catch (err) {
        this.releaseLock();
        if (err instanceof Fenced) return false;
        throw err;
      }
    }
    try {
      this.lock.clearWant();
      this.held = true;
      this.heldSince = performance.now();
      for (const r of this.readers.values()) r.len = 0;
      if (this.needResync) this.resync(true);
      this.replay(true);
      if (fenced) {
        this.fenceTail();
        this.fenceDue = undefined;
      } else if (this.torn) this.truncateTail();
      if (this.ended || this.abandon) this.roll();
      if (this.recovered) {
        // Rebuilt without a usable checkpoint: save one, so the next open does not replay again.
        this.recovered = false;
        this.checkpoint();
      }
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
    this.lastOpStart = start;
    this.lastOpEnd = now;
    if (!this.held) return;
    if (this.lostAfterOp) {
      this.lostAfterOp = false;
      this.lost();
      return;
    }
    try {
      this.deleteEmptySegments();
      if (this.bytesSinceCkpt >= CKPT_BYTES + (this.set ? this.set.size * 16 : 0)) this.checkpoint();
    } catch {
      // Housekeeping only: done again later.
    }
    if (waiting || gap > HOT_GAP_MS) {
      this.releaseLock();
      return;
    }
    if (now - this.lastWantCheck >= WANT_CHECK_MS) {
      this.lastWantCheck = now;
      if (now - this.heldSince >= MIN_HOLD_MS && this.lock.wanted()) {
        this.releaseLock();
        this.yieldUntil = performance.now() + YIELD_MS;
      }
    }
  }

  private armIdle(): void {
    if (this.idleTimer) return;
    const tick = (): void => {
      this.idleTimer = undefined;
      if (!this.held) return;
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

  /** Gives the lock up: token first (nobody needs to fence us), then the lock directory. */
  releaseLock(): void {
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    if (!this.held && !this.lock.locked) return;
    const fenceOwed = this.fenceDue !== undefined;
    this.held = false;
    // A fence not finished yet (its END not written) must not be forgotten: our token stays, so whoever takes the
    // lock next fences (waits, writes END) in our place; fenceDue stays, so do we if we come back first.
    const tokenGone = fenceOwed ? !this.lock.hasToken(this.token) : !this.lock.removeToken(this.token);
    this.dropLock(tokenGone);
  }

  /** The hold was taken over: forget it (the fencer removed our token); the next call acquires again. */
  private lost(): void {
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    this.held = false;
    this.dropLock(!this.lock.hasToken(this.token));
    for (const r of this.readers.values()) r.len = 0;
  }

  /**
   * Lets the lock directory go. Our token gone (`tokenGone`, for a hold we made a token for) means we were fenced
   * off: whoever removed it took the lock after ours was broken, so lock/ is not ours and is never removed, whatever
   * its inode number (reused at once, it made fenced holders remove their fencer's lock, and two processes then fenced
   * each other without end). Otherwise the lock is given back as usual.
   */
  private dropLock(tokenGone: boolean): void {
    if (tokenGone && this.tokenMade) this.lock.forget();
    else this.lock.unlock();
    this.tokenMade = false;
  }

  /** Throws Fenced unless our token still exists. */
  private checkToken(): void {
    const t = performance.now();
    if (!this.lock.hasToken(this.token)) throw new Fenced();
    this.lastCheck = t;
  }

  // =============================================================================================================
  // Appending

  /** Makes room for `len` bytes in the current segment (rolling first if needed); returns where they will go. */
  private reserve(len: number): number {
    if (!this.held) throw new Fenced();
    if (performance.now() - this.lastCheck >= TOKEN_CHECK_MS) this.checkToken();
    if (this.ended || this.abandon) this.roll();
    else if (this.curOff + len > this.ctx.segmentBytes && this.curOff > this.firstOff) {
      this.writeEnd(END_ROLL);
      this.roll();
    }
    return this.curOff;
  }

  /** Writes `buf[0, len)` at the end of the current segment, which must be at `T`; checks for fencing. */
  private commitWrite(buf: Buffer, len: number, T: number, lastAt: number): void {
    const f = this.writer();
    let done = 0;
    try {
      while (done < len) done += io.writeSync(f.fd, buf, done, len - done);
    } catch (err) {
      if (done > 0) {
        try {
          io.ftruncateSync(f.fd, T);
          this.restoreEndIfFenced();
        } catch {
          this.abandon = true;
        }
      }
      throw ioError(`cannot write to queue segment ${join(this.dir, segName(this.curSeg))}`, err);
    }
    if (performance.now() - this.lastCheck >= TOKEN_CHECK_MS) {
      const t = performance.now();
      if (this.lock.hasToken(this.token)) this.lastCheck = t;
      else if (this.landedAt(T, buf)) this.lostAfterOp = true;
      else throw new Fenced();
    }
    this.curOff = T + len;
    this.lastStart = T + lastAt;
    this.lastCrc = buf.readUInt32LE(lastAt + 8);
    this.dirty = true;
    this.bytesSinceCkpt += len;
    this.changedSinceCkpt = true;
  }

  /** Whether the record we just wrote is at `T` (it precedes any fencing record, so it counts). */
  private landedAt(T: number, buf: Buffer): boolean {
    const got = Buffer.alloc(REC_HEADER);
    try {
      const r = this.reader(this.curSeg);
      r.trim(T);
      if (readSync(r.fd, got, 0, REC_HEADER, T) !== REC_HEADER) return false;
    } catch {
      return false;
    }
    return got.equals(buf.subarray(0, REC_HEADER));
  }

  private writeEnd(reason: number): void {
    const buf = encodeEnd({ t: T_END, reason });
    const T = this.curOff;
    this.commitWrite(buf, buf.length, T, 0);
    this.ended = true;
  }

  private writer(): SegFd {
    if (this.wfd && this.wseg === this.curSeg) return this.wfd;
    this.wfd?.retire();
    this.wfd = undefined;
    try {
      // Never O_CREAT: only roll() creates segments. A segment that is gone must not come back as an empty file.
      this.wfd = new SegFd(io.openSync(join(this.dir, segName(this.curSeg)), fsc.O_WRONLY | fsc.O_APPEND));
    } catch (err) {
      throw ioError(`cannot open queue segment ${join(this.dir, segName(this.curSeg))}`, err);
    }
    this.wseg = this.curSeg;
    if (this.ctx.durability !== 'off') this.syncLog();
    return this.wfd;
  }

  /**
   * Makes the log as it stands durable before this process appends to it (a segment it did not start) or starts the
   * next segment: every segment up to the current one, then the folder (and, once per process, its parent). Another
   * process may have written, started or deleted segments without syncing them (`durability: 'off'`, or killed before
   * its flush); the STATE records and the records to come depend on all of it, and a power loss must not keep the new
   * records but lose what they build on.
   */
  private syncLog(): void {
    for (const s of this.listSegs()) {
      if (s > this.curSeg) break;
      let fd: number;
      try {
        fd = io.openSync(join(this.dir, segName(s)), 'r');
      } catch {
        continue; // deleted meanwhile
      }
      try {
        io.fdatasyncSync(fd);
      } catch (err) {
        throw ioError(`cannot flush queue segment ${join(this.dir, segName(s))}`, err);
      } finally {
        io.closeSync(fd);
      }
    }
    this.syncDir();
    this.syncParentOnce();
  }

  /** The queue folder's own name, once per process (its creator may not have synced it: 'off', or killed). */
  private syncParentOnce(): void {
    if (this.parentSynced) return;
    this.syncDir(dirname(this.dir));
    this.parentSynced = true;
  }

  /** Starts the next segment with a STATE record of the current state. */
  private roll(): void {
    this.checkToken();
    const n = this.curSeg + 1;
    const prevEnd = this.curOff;
    const durable = this.ctx.durability !== 'off';
    if (this.wfd && durable && this.curSeg > 0) this.flushSync();
    if (durable && this.curSeg > 0) this.syncLog();
    const nonce = randomBytes(4).readUInt32LE(0);
    const header = encodeSegHeader({ version: FORMAT_VERSION, order: this.order === 'filo' ? 1 : 0, unique: this.unique, seg: n, nonce });
    const stateRec = encodeState(prevEnd, this.st);
    const path = join(this.dir, segName(n));
    let fd: number;
    try {
      fd = io.openSync(path, CREATE_APPEND);
    } catch (err) {
      if (errno(err) !== 'EEXIST') throw ioError(`cannot create queue segment ${path}`, err);
      // Left by a roller that died before writing its STATE record? Then it holds nothing: replace it.
      if (this.born(n) !== 'unborn') throw new Fenced();
      this.checkToken();
      io.unlinkSync(path);
      fd = io.openSync(path, CREATE_APPEND);
    }
    const buf = Buffer.concat([header, stateRec]);
    try {
      let done = 0;
      while (done < buf.length) done += io.writeSync(fd, buf, done, buf.length - done);
      if (durable) io.fdatasyncSync(fd);
    } catch (err) {
      io.closeSync(fd);
      try {
        io.unlinkSync(path);
      } catch {
        // an unborn segment is ignored and removed later
      }
      throw ioError(`cannot write queue segment ${path}`, err);
    }
    if (this.ctx.durability === 'full') this.syncDir();
    // The first segment of a new queue: the queue folder's own name must survive a power loss too.
    if (n === 1 && durable) this.syncParentOnce();
    const old = this.curSeg;
    this.wfd?.retire();
    this.wfd = new SegFd(fd);
    this.wseg = n;
    this.curSeg = n;
    this.curOff = buf.length;
    this.firstOff = buf.length;
    this.lastStart = SEG_HEADER;
    this.lastCrc = stateRec.readUInt32LE(8);
    this.nonces.set(n, nonce);
    this.ended = false;
    this.abandon = false;
    this.torn = false;
    this.dirty = false;
    if (old > 0) this.emptySegs.add(old);
    this.deleteEmptySegments();
    this.checkpoint();
  }

  private syncDir(dir = this.dir): void {
    try {
      const fd = io.openSync(dir, 'r');
      try {
        io.fsyncSync(fd);
      } finally {
        io.closeSync(fd);
      }
    } catch {
      // Some file systems refuse to fsync a directory; the data files are synced.
    }
  }

  /** Closes the last segment after fencing its previous holder, who may still append to it. */
  private fenceTail(): void {
    if (this.ended) return;
    this.checkToken();
    if (this.torn) this.truncateTail();
    const buf = encodeEnd({ t: T_END, reason: END_FENCE });
    try {
      io.writeSync(this.writer().fd, buf);
    } catch (err) {
      throw ioError(`cannot write to queue segment ${join(this.dir, segName(this.curSeg))}`, err);
    }
    this.reader(this.curSeg).trim(this.curOff);
    this.replay(true);
    if (!this.ended) throw new QueueCorruptError(`cannot find the end of queue segment ${join(this.dir, segName(this.curSeg))}`);
  }

  private truncateTail(): void {
    this.checkToken();
    try {
      io.ftruncateSync(this.writer().fd, this.curOff);
    } catch (err) {
      this.abandon = true;
      throw ioError(`cannot repair the torn end of queue segment ${join(this.dir, segName(this.curSeg))}`, err);
    }
    this.reader(this.curSeg).trim(this.curOff);
    this.torn = false;
    if (this.restoreEndIfFenced()) throw new Fenced();
  }

  /**
   * After truncating the current segment to `curOff`: if our token is gone, we may have stalled (longer than
   * lockStale) before the truncation and cut the END that a fencer wrote at this very offset (it found the same torn
   * bytes, cut them, wrote END and moved on). Puts it back: an END (fence) right after the records every process
   * agrees on is what the fencer wrote there, byte for byte; a fencer that has not written yet finds it and only
   * rolls. Returns whether we were fenced off.
   */
  private restoreEndIfFenced(): boolean {
    if (this.lock.hasToken(this.token)) return false;
    try {
      io.writeSync(this.writer().fd, encodeEnd({ t: T_END, reason: END_FENCE }));
    } catch {
      // The segment is gone or unwritable: its successor's STATE stands for it (Recovery, step 4).
    }
    return true;
  }

  private deleteEmptySegments(): void {
    if (this.emptySegs.size === 0) return;
    let checked = false;
    for (const s of [...this.emptySegs]) {
      if (s >= this.curSeg) continue;
      this.emptySegs.delete(s);
      if (this.st.segCount.has(s)) continue;
      if (!checked) {
        this.checkToken();
        checked = true;
      }
      try {
        io.unlinkSync(join(this.dir, segName(s)));
      } catch {
        // already gone
      }
      this.readers.get(s)?.close();
      this.readers.delete(s);
      this.nonces.delete(s);
    }
  }

  /** Writes the checkpoint: temp file, fsync, rename, directory fsync. Holder only; a hint, never the truth. */
  checkpoint(): void {
    if (!this.held || this.ended || this.curSeg === 0) return;
    this.checkToken();
    const buf = encodeCheckpoint({
      seg: this.curSeg,
      nonce: this.nonces.get(this.curSeg) ?? this.segNonce(this.curSeg),
      pos: this.curOff,
      lastStart: this.lastStart,
      lastCrc: this.lastCrc,
      state: this.st,
      hashes: this.set?.toArray(),
    });
    const tmp = join(this.dir, `checkpoint.${process.pid}.${threadId}.tmp`);
    const durable = this.ctx.durability !== 'off';
    try {
      // The folder fsync below also makes earlier segment deletions durable: the records that emptied those segments
      // (in the current segment, possibly not flushed yet with 'normal') must be on disk first, or a power loss
      // leaves a state whose items live in a deleted segment.
      if (durable) io.fdatasyncSync(this.writer().fd);
      const fd = io.openSync(tmp, 'w');
      try {
        let done = 0;
        while (done < buf.length) done += io.writeSync(fd, buf, done, buf.length - done);
        if (durable) io.fsyncSync(fd);
      } finally {
        io.closeSync(fd);
      }
      io.renameSync(tmp, join(this.dir, 'checkpoint'));
    } catch (err) {
      try {
        io.unlinkSync(tmp);
      } catch {
        // nothing to clean
      }
      throw ioError(`cannot write the checkpoint of ${this.dir}`, err);
    }
    if (durable) this.syncDir();
    this.bytesSinceCkpt = 0;
    this.changedSinceCkpt = false;
  }

  /** Checkpoint if anything changed since the last one (at close). */
  checkpointIfChanged(): void {
    if (this.changedSinceCkpt) this.checkpoint();
  }

  // =============================================================================================================
  // Reading the log

  private reader(seg: number): SegReader {
    let r = this.readers.get(seg);
    if (r) return r;
    const fd = io.openSync(join(this.dir, segName(seg)), 'r');
    r = new SegReader(fd);
    if (this.readers.size >= 8) {
      for (const [s, old] of this.readers) {
        if (s !== this.curSeg && s !== this.st.headSeg) {
          old.close();
          this.readers.delete(s);
          break;
        }
      }
    }
    this.readers.set(seg, r);
    return r;
  }

  private segExists(seg: number): boolean {
    return existsSync(join(this.dir, segName(seg)));
  }

  private listSegs(): number[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      throw ioError(`cannot list queue folder ${this.dir}`, err);
    }
    const out: number[] = [];
    for (const n of names) {
      const m = SEG_RE.exec(n);
      if (m) out.push(Number(m[1]));
    }
    return out.sort((a, b) => a - b);
  }

  private segNonce(seg: number): number {
    const b = this.born(seg);
    return typeof b === 'object' ? b.nonce : 0;
  }

  /** Reads one record at (seg, off). */
  private readRec(seg: number, off: number): ReadResult {
    let r: SegReader;
    try {
      r = this.reader(seg);
    } catch (err) {
      // Deleted by a holder (it held no live item); only a process whose view is behind still looks for it.
      if (errno(err) === 'ENOENT') return { k: 'missing' };
      throw ioError(`cannot read queue segment ${join(this.dir, segName(seg))}`, err);
    }
    const have = r.fetch(off, REC_HEADER);
    if (have === 0) return { k: 'eof' };
    if (have < REC_HEADER) return { k: 'torn' };
    const h = checkHeader(r.buf, off - r.start);
    if (!h.ok) {
      if (h.zero && this.zeroToEnd(r, off)) return { k: 'torn' };
      return { k: 'corrupt', why: 'bad record header', next: undefined };
    }
    // A length beyond the end of the file is a torn write: never allocate more than the file holds.
    if (h.len > WINDOW && off + REC_HEADER + h.len > fstatSync(r.fd).size) return { k: 'torn' };
    const got = r.fetch(off, REC_HEADER + h.len);
    if (got < REC_HEADER + h.len) return { k: 'torn' };
    const at = off - r.start + REC_HEADER;
    const body = r.buf.subarray(at, at + h.len);
    if (crcOf(body) !== h.crc) return { k: 'corrupt', why: 'record checksum mismatch', next: off + REC_HEADER + h.len };
    return { k: 'ok', type: h.type, flags: h.flags, body, end: off + REC_HEADER + h.len, crc: h.crc };
  }

  /** Whether every byte from `off` to the end of the file is zero (a tail the file system extended but never wrote). */
  private zeroToEnd(r: SegReader, off: number): boolean {
    for (let at = off; ; ) {
      const n = r.fetch(at, WINDOW);
      if (n === 0) return true;
      const base = at - r.start;
      for (let i = 0; i < n; i++) if (r.buf[base + i] !== 0) return false;
      at += n;
      if (n < WINDOW) return true;
    }
  }

  /** Next offset after `off` with a valid record header and body (resynchronising after a corrupt header). */
  private scanValid(seg: number, off: number): number | undefined {
    const r = this.reader(seg);
    for (let at = off + 1; ; at++) {
      const have = r.fetch(at, REC_HEADER);
      if (have < REC_HEADER) return undefined;
      const h = checkHeader(r.buf, at - r.start);
      if (!h.ok) continue;
      const res = this.readRec(seg, at);
      if (res.k === 'ok') return at;
    }
  }

  /** Reads the PUT record of an item; undefined when it is corrupt and `skipCorrupt` is set, else that throws. */
  private readPut(seg: number, off: number): PutView | undefined {
    const res = this.readRec(seg, off);
    const where = `${join(this.dir, segName(seg))} at byte ${off}`;
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
      if (!this.ctx.skipCorrupt) throw new QueueCorruptError(`queue state points at a missing item in ${where}`);
      return undefined;
    }
    if (!this.ctx.skipCorrupt) throw new QueueCorruptError(`corrupt item record in ${where} (${res.k === 'corrupt' ? res.why : 'unreadable body'})`);
    return undefined;
  }

  /** Drops the corrupt item at the head of the main list (skipCorrupt), writing its removal. */
  private dropCorruptHead(seg: number, off: number): void {
    this.noteCorrupt(seg, off);
    let headSeg = NONE;
    let headOff = NONE;
    if (this.st.main > 1) {
      if (this.order === 'filo') {
        // The link to the items below went down with the record: they cannot be reached any more.
        this.write([{ t: T_TAKE, owner: null, headSeg: NONE, headOff: NONE, nRet: 0, main: [{ seg, off, h1: 0, h2: 0 }] }]);
        this.st.main = 0;
        return;
      }
      const res = this.readRec(seg, off);
      // After a corrupt record: the next valid one. After a record that is gone (missing segment, cut short): scanPut
      // goes on to the next segment. After a record that does not parse: the next record.
      const next = res.k === 'corrupt' ? (res.next ?? this.scanValid(seg, off)) : res.k === 'ok' ? res.end : off;
      const p = next === undefined ? undefined : this.scanPut(seg, next);
      if (p) {
        headSeg = p.seg;
        headOff = p.off;
      }
    }
    this.write([{ t: T_TAKE, owner: null, headSeg, headOff, nRet: 0, main: [{ seg, off, h1: 0, h2: 0 }] }]);
    if (headSeg === NONE) this.st.main = 0;
  }

  /** FIFO: the first PUT record at or after (seg, off), crossing segment ends. */
  private scanPut(seg: number, off: number): { seg: number; off: number } | undefined {
    for (;;) {
      // Nothing past the applied position is an item yet (e.g. the records of an incomplete write).
      if (seg > this.curSeg || (seg === this.curSeg && off >= this.curOff)) return undefined;
      const res = this.readRec(seg, off);
      if (res.k === 'ok') {
        if (res.type === T_PUT) return { seg, off };
        if (res.type !== T_END) {
          off = res.end;
          continue;
        }
      } else if (res.k === 'corrupt') {
        // Possibly the next item: the get that would return it reports it (or skips it).
        if (!this.ctx.skipCorrupt) return { seg, off };
        this.noteCorrupt(seg, off);
        const next = res.next ?? this.scanValid(seg, off);
        if (next !== undefined) {
          off = next;
          continue;
        }
      } else if (res.k !== 'missing' && seg >= this.curSeg) {
        return undefined;
      }
      // End of this segment: on to the next one that exists (segments without live items may be gone).
      if (seg >= this.curSeg) return undefined;
      const later = this.listSegs().filter((s) => s > seg);
      if (later.length === 0) return undefined;
      // A segment is deleted only when it holds no live item: one that is gone while the state counts items in it was
      // damaged. Point at it, so that the get that would return its first item reports it (or skips it).
      for (let gone = seg + 1; gone < later[0]!; gone++) {
        if (!this.st.segCount.has(gone)) continue;
        if (!this.ctx.skipCorrupt) return { seg: gone, off: SEG_HEADER };
        this.noteCorrupt(gone, SEG_HEADER);
      }
      seg = later[0]!;
      const b = this.born(seg);
      if (typeof b !== 'object') return undefined;
      off = b.end;
    }
  }

  /** Segment header and STATE record of `seg`: 'missing', 'unborn' (being created or abandoned) or the info. */
  private born(seg: number): BornInfo | 'missing' | 'unborn' {
    let r: SegReader;
    try {
      r = this.reader(seg);
    } catch (err) {
      if (errno(err) === 'ENOENT') return 'missing';
      throw ioError(`cannot open queue segment ${join(this.dir, segName(seg))}`, err);
    }
    const have = r.fetch(0, SEG_HEADER);
    if (have < SEG_HEADER) return this.unborn(seg);
    const h = decodeSegHeader(r.buf.subarray(0, SEG_HEADER)); // fetch(0, ...) leaves the window at 0
    if (!h || h.seg !== seg) {
      if (this.zeroToEnd(r, 0)) return this.unborn(seg);
      throw new QueueCorruptError(`queue segment ${join(this.dir, segName(seg))} has a corrupt header`);
    }
    if (h.version !== FORMAT_VERSION) {
      throw new QueueCorruptError(`queue segment ${join(this.dir, segName(seg))} has format version ${h.version}; this library reads version ${FORMAT_VERSION}`);
    }
    const res = this.readRec(seg, SEG_HEADER);
    if (res.k === 'eof' || res.k === 'torn' || res.k === 'missing') return this.unborn(seg);
    if (res.k !== 'ok' || res.type !== T_STATE) {
      throw new QueueCorruptError(`queue segment ${join(this.dir, segName(seg))} has a corrupt STATE record`);
    }
    let rec: Rec;
    try {
      rec = decodeBody(T_STATE, res.flags, res.body);
    } catch (err) {
      throw new QueueCorruptError(`queue segment ${join(this.dir, segName(seg))} has an unreadable STATE record`, { cause: err });
    }
    if (rec.t !== T_STATE) throw new QueueCorruptError(`queue segment ${join(this.dir, segName(seg))} has no STATE record`);
    this.nonces.set(seg, h.nonce);
    return { nonce: h.nonce, order: h.order, unique: h.unique, prevEnd: rec.prevEnd, state: rec.state, end: res.end, crc: res.crc };
  }

  /**
   * An unborn segment: its creator is still writing it, or died doing so and a lock holder will delete it and create
   * the segment again. Our descriptor may then name the deleted file for ever: close it, so the next look opens the
   * segment by name again.
   */
  private unborn(seg: number): 'unborn' {
    this.readers.get(seg)?.close();
    this.readers.delete(seg);
    this.nonces.delete(seg);
    return 'unborn';
  }

  /** Rebuilds the state from the checkpoint (if valid) or the last segment's STATE record. */
  private resync(locked: boolean, ignoreCheckpoint = false): void {
    let segs = this.listSegs();
    while (segs.length > 0) {
      const last = segs[segs.length - 1]!;
      const b = this.born(last);
      if (typeof b === 'object') {
        this.adoptHeader(b);
        break;
      }
      segs.pop();
      if (b === 'unborn' && locked) {
        this.checkToken();
        try {
          io.unlinkSync(join(this.dir, segName(last)));
        } catch {
          // gone
        }
        this.readers.get(last)?.close();
        this.readers.delete(last);
      }
    }
    this.st = emptyState();
    if (this.set) this.set.clear();
    this.ended = false;
    this.torn = false;
    this.rebuildSetPending = false;
    if (segs.length === 0) {
      // A new queue: the first roll creates segment 1.
      this.curSeg = 0;
      this.curOff = 0;
      this.firstOff = 0;
      this.ended = true;
      this.needResync = false;
      this.knownOrder = true;
      return;
    }
    const last = segs[segs.length - 1]!;
    const ck = ignoreCheckpoint ? undefined : this.readCheckpoint(segs);
    if (ck && (this.unique || ck.seg >= last - 1)) {
      this.st = ck.state;
      if (this.set) this.set = ck.hashes ? HashSet64.from(ck.hashes) : new HashSet64();
      this.curSeg = ck.seg;
      this.curOff = ck.pos;
      this.lastStart = ck.lastStart;
      this.lastCrc = ck.lastCrc;
      const b = this.born(ck.seg);
      this.firstOff = typeof b === 'object' ? b.end : ck.pos;
    } else {
      const b = this.born(last) as BornInfo;
      this.st = b.state;
      this.curSeg = last;
      this.curOff = b.end;
      this.firstOff = b.end;
      this.lastStart = SEG_HEADER;
      this.lastCrc = b.crc;
      this.rebuildSetPending = this.unique;
      this.recovered = locked;
    }
    this.needResync = false;
    if (locked) for (const s of segs) if (s < last && !this.st.segCount.has(s)) this.emptySegs.add(s);
  }

  private adoptHeader(b: BornInfo): void {
    const order = b.order === 1 ? 'filo' : 'fifo';
    if (!this.knownOrder) {
      if (order !== this.order || b.unique !== this.unique) {
        // The folder decides; the first opener's options are checked by the caller against it.
        this.order = order;
        this.unique = b.unique;
        this.set = b.unique ? new HashSet64() : undefined;
      }
      this.knownOrder = true;
    }
  }

  private readCheckpoint(segs: number[]): Checkpoint | undefined {
    let raw: Buffer;
    try {
      raw = readFileSync(join(this.dir, 'checkpoint'));
    } catch {
      return undefined;
    }
    const ck = decodeCheckpoint(raw);
    if (!ck || !segs.includes(ck.seg)) return undefined;
    if ((ck.hashes !== undefined) !== this.unique) return undefined;
    const b = this.born(ck.seg);
    if (typeof b !== 'object' || b.nonce !== ck.nonce) return undefined;
    const res = this.readRec(ck.seg, ck.lastStart);
    if (res.k !== 'ok' || res.end !== ck.pos || res.crc !== ck.lastCrc) return undefined;
    // Every segment from the checkpoint's on must still be there to replay.
    const from = segs.indexOf(ck.seg);
    for (let i = from + 1; i < segs.length; i++) if (segs[i] !== segs[i - 1]! + 1) return undefined;
    return ck;
  }

  /**
   * Applies the records after the current position. Lock-free (`locked` false), it stops quietly at anything
   * incomplete or doubtful; holding the lock, it decides: a torn tail is marked for truncation, a corrupt record throws
   * QueueCorruptError or is skipped (skipCorrupt).
   */
  private replay(locked: boolean): void {
    for (;;) {
      if (this.ended) {
        if (this.curSeg === 0) return;
        const next = this.curSeg + 1;
        const b = this.born(next);
        if (b === 'missing') {
          if (this.listSegs().some((s) => s > next)) {
            // A segment we still had to read was deleted (it held no live item): start from a snapshot.
            this.resync(locked, true);
            continue;
          }
          return;
        }
        if (b === 'unborn') return;
        this.curSeg = next;
        this.curOff = b.end;
        this.firstOff = b.end;
        this.lastStart = SEG_HEADER;
        this.lastCrc = b.crc;
        this.ended = false;
        continue;
      }
      let res = this.readRec(this.curSeg, this.curOff);
      if (res.k === 'ok' && res.flags & F_MORE) {
        // The first record of a write of several: apply the write only when all of it is there.
        const g = this.readGroup(this.curSeg, res);
        if (g.k === 'complete') {
          for (const m of g.recs) this.applyRead(m.rec, m.off, m.crc, m.end);
          continue;
        }
        if (g.k === 'incomplete') res = { k: 'torn' };
        else if (locked && !this.segExists(this.curSeg + 1) && this.scanValid(this.curSeg, g.off) === undefined) {
          // Damage with nothing valid after it at the end of the log: an unsynced tail after a power loss (see below).
          res = { k: 'torn' };
        } else {
          // A damaged record inside the write.
          if (!locked) {
            this.readers.get(this.curSeg)?.trim(this.curOff);
            break;
          }
          if (!this.ctx.skipCorrupt) {
            throw new QueueCorruptError(`corrupt record in ${join(this.dir, segName(this.curSeg))} at byte ${g.off} (${g.why})`);
          }
          // Skipping: what precedes the damage counts (as records written one by one would), the damaged record not.
          for (const m of g.recs) this.applyRead(m.rec, m.off, m.crc, m.end);
          this.curOff = g.off;
          res = { k: 'corrupt', why: g.why, next: g.next };
        }
      }
      if (res.k === 'missing') {
        // Our position is in a segment that a holder deleted after everything in it was consumed (we had not opened
        // it yet, or closed it). Records we have not applied are gone with it: start again from a snapshot.
        // Carrying on from here would leave this process with a stale state, and a holder would append to a dead file.
        this.resync(locked, true);
        if (this.curSeg === 0) return;
        continue;
      }
      if (res.k === 'eof' || res.k === 'torn') {
        this.readers.get(this.curSeg)?.trim(this.curOff);
        if (locked && this.segExists(this.curSeg + 1)) {
          // The END record was lost (power loss with durability 'off'), but the next segment's STATE says it all.
          const b = this.born(this.curSeg + 1);
          if (typeof b === 'object') {
            this.st = b.state;
            this.curSeg++;
            this.curOff = b.end;
            this.firstOff = b.end;
            this.lastStart = SEG_HEADER;
            this.lastCrc = b.crc;
            this.rebuildSetPending = this.unique;
            continue;
          }
        }
        if (locked) this.torn = res.k === 'torn';
        break;
      }
      if (res.k === 'corrupt') {
        this.readers.get(this.curSeg)?.trim(this.curOff);
        if (!locked) break;
        if (!this.segExists(this.curSeg + 1) && this.scanValid(this.curSeg, this.curOff) === undefined) {
          // The end of the log with nothing valid after it: after a power loss the unsynced tail of the last segment
          // can hold zeros or stale bytes (blocks the file system allocated but never wrote). A torn tail, dropped.
          this.torn = true;
          break;
        }
        if (!this.ctx.skipCorrupt) {
          throw new QueueCorruptError(`corrupt record in ${join(this.dir, segName(this.curSeg))} at byte ${this.curOff} (${res.why})`);
        }
        const next = res.next ?? this.scanValid(this.curSeg, this.curOff);
        this.noteCorrupt(this.curSeg, this.curOff);
        if (next === undefined) {
          // Nothing valid follows: treat the rest as a torn tail.
          this.torn = true;
          break;
        }
        this.curOff = next;
        continue;
      }
      let rec: Rec;
      try {
        rec = decodeBody(res.type, res.flags, res.body);
      } catch (err) {
        if (!(err instanceof BadBody)) throw err;
        if (!locked) break;
        if (!this.ctx.skipCorrupt) throw new QueueCorruptError(`unreadable record in ${join(this.dir, segName(this.curSeg))} at byte ${this.curOff}`, { cause: err });
        this.noteCorrupt(this.curSeg, this.curOff);
        this.curOff = res.end;
        continue;
      }
      this.applyRead(rec, this.curOff, res.crc, res.end);
    }
    if (this.rebuildSetPending && locked) this.rebuildSet();
  }

  /** Applies a record read at (curSeg, off) and moves the position past it. */
  private applyRead(rec: Rec, off: number, crc: number, end: number): void {
    if (rec.t !== T_STATE) this.apply(rec, this.curSeg, off);
    this.lastStart = off;
    this.lastCrc = crc;
    this.curOff = end;
    if (rec.t === T_END) this.ended = true;
  }

  /**
   * Reads the records of one write that starts with `first` (flagged F_MORE) at the current position, up to its last
   * record (the first one without F_MORE). `incomplete`: the file ends (or is torn) before that; `damaged`: a record of
   * it is corrupt or unreadable, at `off` (with the records before it).
   */
  private readGroup(
    seg: number,
    first: Extract<ReadResult, { k: 'ok' }>,
  ):
    | { k: 'complete'; recs: GroupRec[] }
    | { k: 'incomplete' }
    | { k: 'damaged'; recs: GroupRec[]; off: number; why: string; next: number | undefined } {
    const recs: GroupRec[] = [];
    let res: ReadResult = first;
    let off = this.curOff;
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

  /** Unique queues without a usable checkpoint: hashes every waiting item again (reads them all). */
  private rebuildSet(): void {
    this.rebuildSetPending = false;
    const set = new HashSet64(this.size);
    for (const s of this.st.returned) set.add(s.h1, s.h2);
    let seg = this.st.headSeg;
    let off = this.st.headOff;
    for (let left = this.st.main; left > 0 && seg !== NONE; left--) {
      const res = this.readRec(seg, off);
      if (res.k !== 'ok' || res.type !== T_PUT) break;
      const rec = decodeBody(T_PUT, res.flags, res.body);
      if (rec.t !== T_PUT) break;
      set.add(rec.h1, rec.h2);
      if (left === 1) break;
      const p = this.scanPut(seg, res.end);
      if (!p) break;
      seg = p.seg;
      off = p.off;
    }
    this.set = set;
  }

  // =============================================================================================================
  // State transitions: the writer and every reader apply the same records the same way.

  private applyPut(id: number, seg: number, off: number, h1: number, h2: number): void {
    const st = this.st;
    if (id >= st.nextId) st.nextId = id + 1;
    st.segCount.set(seg, (st.segCount.get(seg) ?? 0) + 1);
    if (this.set) this.set.add(h1, h2);
    if (this.order === 'filo' || st.main === 0) {
      st.headSeg = seg;
      st.headOff = off;
    }
    st.main++;
  }

  private release(slot: Slot): void {
    const n = (this.st.segCount.get(slot.seg) ?? 0) - 1;
    if (n > 0) this.st.segCount.set(slot.seg, n);
    else {
      this.st.segCount.delete(slot.seg);
      this.emptySegs.add(slot.seg);
    }
  }

  private apply(rec: Rec, seg: number, off: number): void {
    const st = this.st;
    switch (rec.t) {
      case T_PUT:
        this.applyPut(rec.id, seg, off, rec.h1, rec.h2);
        return;
      case T_TAKE: {
        const taken = rec.nRet > 0 ? st.returned.splice(0, rec.nRet) : [];
        st.main = Math.max(0, st.main - rec.main.length);
        st.headSeg = st.main === 0 ? NONE : rec.headSeg;
        st.headOff = st.main === 0 ? NONE : rec.headOff;
        if (st.headSeg === NONE) st.main = 0;
        if (this.set) {
          for (const s of taken) this.set.delete(s.h1, s.h2);
          for (const s of rec.main) this.set.delete(s.h1, s.h2);
        }
        if (rec.owner !== null) {
          let list = st.held.get(rec.owner);
          if (!list) st.held.set(rec.owner, (list = []));
          for (const s of taken) list.push(s);
          for (const s of rec.main) list.push(s);
        } else {
          for (const s of taken) this.release(s);
          for (const s of rec.main) this.release(s);
        }
        return;
      }
      case T_DONE: {
        const list = st.held.get(rec.owner);
        if (!list) return;
        for (const s of list.splice(0, rec.count)) this.release(s);
        if (list.length === 0) st.held.delete(rec.owner);
        return;
      }
      case T_RETURN: {
        const list = st.held.get(rec.owner);
        if (!list) return;
        st.held.delete(rec.owner);
        for (const s of list) {
          if (this.set && !this.set.add(s.h1, s.h2)) this.release(s); // an equal item is waiting already
          else st.returned.push(s);
        }
        return;
      }
      case T_FLAG:
        if (rec.on) st.pending.add(rec.owner);
        else st.pending.delete(rec.owner);
        return;
      case T_STATE:
      case T_END:
        return;
    }
  }

  // =============================================================================================================
  // Dead holders

  /** Gives back the items of dead holders and clears their join() flags. Holder only. */
  sweep(): void {
    this.lastSweep = performance.now();
    const recs: Rec[] = [];
    for (const o of this.st.held.keys()) if (!isOwnerAlive(o)) recs.push({ t: T_RETURN, owner: o });
    for (const o of this.st.pending) if (!isOwnerAlive(o)) recs.push({ t: T_FLAG, owner: o, on: false });
    if (recs.length > 0) this.write(recs);
  }
}

function crcOf(body: Buffer): number {
  return crc32(body);
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
