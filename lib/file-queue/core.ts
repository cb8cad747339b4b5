/**
 * The core of {@link FileQueue} and {@link FileQueueSync}: one per open instance, over the folder's shared
 * {@link Store}. It validates and encodes items, keeps this instance's owner token and its count of taken items, and
 * turns queue calls into store operations.
 *
 * @module
 */
import type { PutEntry, QueueCore } from '../common/core.js';
import { argTypeError, describe, QueueCorruptError, QueueError, rangeError, taskDoneExcess } from '../common/errors.js';
import { isOwnerAlive, newOwner, retireOwner } from '../common/owner.js';
import { decodeError, resolveSerializer, type Codec } from '../common/serializer.js';
import { retryAsync, retrySync } from '../common/retry.js';
import { RETRY, type Retry, type Signal } from '../common/wait.js';
import { T_DONE, T_FLAG, T_RETURN, type Rec } from './format.js';
import { hash64 } from './hashset.js';
import { prepareFolder } from './folder.js';
import { resolveFileOptions, type ResolvedFileOptions } from './options.js';
import { LockBusyError } from './fence.js';
import { Store, type Ctx } from './store.js';
import { UNDECODABLE, type TakePlan, type Undecodable } from './take-planner.js';

/** Framing bytes around an item's data in the worst case (PUT header, id, hash, link). */
const RECORD_OVERHEAD = 40;

/** Storage core of the file queues. */
export class FileCore<T> implements QueueCore<T, T> {
  readonly signal: Signal;
  private readonly store: Store;
  private readonly ctx: Ctx;
  private readonly owner: string;
  private unfinished = 0;
  private heldCount = 0;
  private closed = false;
  private flushTimer: NodeJS.Timeout | undefined;
  /** For a take: decodes, or with skipCorrupt answers UNDECODABLE for bytes the serializer refuses (counted). */
  private readonly decodeTaken: (bytes: Buffer, where: string, id: number) => T | Undecodable;
  /** Items this instance dropped because the serializer refused them (skipCorrupt). */
  private undecodable = 0;

  private constructor(
    dir: string,
    private readonly opts: ResolvedFileOptions,
    private readonly codec: Codec<T>,
    private readonly flavour: 'sync' | 'async',
  ) {
    const { skipCorrupt, segmentBytes, lockTimeout, lockStale, durability, syncIntervalMs } = opts;
    this.ctx = { skipCorrupt, segmentBytes, lockTimeout, lockStale, durability, syncIntervalMs };
    this.store = Store.attach(dir, opts.order, opts.unique);
    this.signal = this.store.signal;
    this.owner = newOwner();
    this.decodeTaken = (bytes, where, id) => {
      try {
        return this.codec.decode(bytes);
      } catch (cause) {
        if (!opts.skipCorrupt) throw decodeError(this.codec as Codec<unknown>, `${dir}#${where} (id ${id})`, cause, id);
        this.undecodable++;
        return UNDECODABLE;
      }
    };
  }

  private static create<T>(dir: unknown, options: unknown, where: string, flavour: 'sync' | 'async'): FileCore<T> {
    const opts = resolveFileOptions(options, where);
    const codec = resolveSerializer<T>(opts.serializer, opts.unique);
    const path = prepareFolder(dir, where);
    return new FileCore<T>(path, opts, codec, flavour);
  }

  /** Opens (creating or recovering) the queue, waiting for the folder lock with sleeps. */
  static openSync<T>(dir: unknown, options: unknown, where: string): FileCore<T> {
    const core = FileCore.create<T>(dir, options, where, 'sync');
    try {
      retrySync(() => core.init(), core.sleepingRetry);
    } catch (err) {
      core.dispose();
      throw err;
    }
    return core;
  }

  /** Opens the queue, waiting for the folder lock on timers. */
  static async openAsync<T>(dir: unknown, options: unknown, where: string): Promise<FileCore<T>> {
    const core = FileCore.create<T>(dir, options, where, 'async');
    try {
      await retryAsync(() => core.init(), (err) => core.retryableFor(err), { signal: core.signal });
    } catch (err) {
      core.dispose();
      throw err;
    }
    return core;
  }

  private init(): void {
    this.store.op(this.ctx, () => this.store.checkCompatible(this.opts.order, this.opts.unique));
    if (this.opts.durability === 'normal' && !this.flushTimer) {
      this.flushTimer = setInterval(() => this.store.flusher.backgroundFlush(), this.opts.syncIntervalMs);
      this.flushTimer.unref();
    }
  }

  private dispose(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.flushTimer) clearInterval(this.flushTimer);
    retireOwner(this.owner);
    this.store.detach();
  }

  /** Whether group commit should wait a tick for more puts (when each commit costs an fsync). */
  get groupCommitDeferred(): boolean {
    return this.opts.durability === 'full';
  }

  /** Records skipped by `skipCorrupt` in this folder, by this process. */
  get corruptSkipped(): number {
    return this.store.corruptSkipped + this.undecodable;
  }

  /**
   * Removes the item with id `id` if it is the next one a get would take (an append-only log cannot cut an item out
   * of its middle; the front is where an item that cannot be read stops a queue). False when the queue is empty or
   * its front item has another id.
   */
  remove(id: number): boolean {
    this.store.refresh(this.ctx);
    if (this.store.size === 0) return false;
    return this.store.op(this.ctx, () => {
      if (this.store.frontId() !== id) return false;
      this.store.removeFront();
      this.store.flusher.durable();
      return true;
    });
  }

  preparePut(item: T, priority: unknown): PutEntry {
    if (priority !== undefined) {
      throw argTypeError(`The "priority" option is only for queues opened with order 'priority' (SQLite queues). ${describe(priority)}`);
    }
    const data = this.codec.encode(item);
    if (data.length + RECORD_OVERHEAD > this.opts.segmentBytes) {
      throw rangeError(`An item of ${data.length} bytes does not fit in a segment: the "segmentBytes" option is ${this.opts.segmentBytes}`);
    }
    return { data, priority: undefined };
  }

  /** Room for this many more items under maxSize (Infinity when unbounded). */
  private room(): number {
    return this.opts.maxSize === 0 ? Infinity : this.opts.maxSize - this.store.size;
  }

  /** Writes the entries that are not duplicates; returns per entry its id or null, or RETRY past the room. */
  private putEntries(list: PutEntry[], allOrNothing: boolean): (number | null | Retry)[] | Retry {
    const room = this.room();
    if (allOrNothing && room < list.length) return RETRY;
    const out: (number | null | Retry)[] = new Array(list.length);
    const write: { data: Buffer; h1: number; h2: number }[] = [];
    const where: number[] = [];
    const seen = this.opts.unique ? new Set<string>() : undefined;
    let left = room;
    for (let i = 0; i < list.length; i++) {
      const e = { data: list[i]!.data, h1: 0, h2: 0 };
      if (seen) {
        ({ h1: e.h1, h2: e.h2 } = hash64(e.data));
        const key = `${e.h1}:${e.h2}`;
        if (this.store.set!.has(e.h1, e.h2) || seen.has(key)) {
          out[i] = null;
          continue;
        }
        seen.add(key);
      }
      if (left < 1) {
        out[i] = RETRY;
        continue;
      }
      left--;
      write.push(e);
      where.push(i);
    }
    if (write.length > 0) {
      const ids = this.store.put(write);
      for (let k = 0; k < ids.length; k++) out[where[k]!] = ids[k]!;
    }
    return out;
  }

  /** All entries in one write, or none (Retry while they do not all fit under maxSize). */
  private putAll(entries: PutEntry[]): (number | null)[] | Retry {
    if (this.opts.maxSize > 0) {
      this.store.refresh(this.ctx);
      if (this.room() < entries.length) return this.wait();
    }
    return this.store.op(
      this.ctx,
      () => {
        const r = this.putEntries(entries, true);
        if (r === RETRY) return RETRY;
        if (r.some((x) => x !== null)) this.store.flusher.durable();
        return r as (number | null)[];
      },
      (r) => r === RETRY,
    );
  }

  tryPut(entry: PutEntry): number | null | Retry {
    const r = this.putAll([entry]);
    return r === RETRY ? RETRY : r[0]!;
  }

  tryPutMany(entries: PutEntry[]): (number | null)[] | Retry {
    return this.putAll(entries);
  }

  /**
   * A group commit: one write under the lock; at `full`, one `fdatasync` after the operation (the lock may pass to a
   * waiting process meanwhile). The flush is synchronous, as for every other call at `full`: on the thread pool it
   * cost a round trip of 0.1–0.2 ms per batch on the benchmark machine (64 puts in flight: 20–35 % fewer puts/s).
   */
  commitBatch(entries: PutEntry[]): (number | null | Retry)[] {
    const full = this.opts.durability === 'full';
    const r = this.store.op(this.ctx, () => {
      const out = this.putEntries(entries, false) as (number | null | Retry)[];
      if (!full && out.some((x) => typeof x === 'number')) this.store.flusher.durable();
      return out;
    });
    if (full && r.some((x) => typeof x === 'number')) this.store.flusher.flushSync();
    return r;
  }

  private take(max: number): T[] | Retry {
    this.store.refresh(this.ctx);
    const sweep = this.store.size === 0 && this.store.sweepDue();
    if (this.store.size === 0 && !sweep) return this.wait();
    return this.store.op(
      this.ctx,
      () => {
        if (sweep) this.store.sweep();
        const plan = this.store.planTake(max, this.decodeTaken);
        if (!plan) return RETRY;
        this.commit(plan);
        return plan.items;
      },
      (r) => r === RETRY,
    );
  }

  private commit(plan: TakePlan<T>): void {
    const n = plan.items.length;
    if (this.opts.autoCommit) {
      const extra: Rec[] = this.unfinished === 0 ? [{ t: T_FLAG, owner: this.owner, on: true }] : [];
      this.store.commitTake(plan, null, extra);
      this.unfinished += n;
    } else {
      this.store.commitTake(plan, this.owner);
      this.heldCount += n;
    }
    this.store.flusher.durable();
  }

  tryGet(): T | Retry {
    const r = this.take(1);
    return r === RETRY ? RETRY : r[0]!;
  }

  tryGetMany(max: number): T[] | Retry {
    return this.take(max);
  }

  peek(): T | undefined {
    this.store.refresh(this.ctx);
    try {
      const d = this.store.peekData();
      if (d === undefined) return undefined;
      if (d !== 'corrupt') return this.codec.decode(d.data);
    } catch (err) {
      if (!(err instanceof QueueCorruptError) && (err as { code?: string }).code !== 'ERR_QUEUE_IO' && !this.isDecodeFailure(err)) throw err;
      // A lock-free look can race with a consumer that deleted a segment: look again holding the lock (and report
      // or, with skipCorrupt, drop an item the serializer refuses).
    }
    return this.store.op(this.ctx, () => {
      for (;;) {
        const d = this.store.peekData();
        if (d === undefined) return undefined;
        if (d === 'corrupt') {
          this.store.dropFront(); // skipCorrupt: the corrupt front item is removed and counted
          continue;
        }
        const item = this.decodeTaken(d.data, d.where, d.id);
        if (item !== UNDECODABLE) return item;
        this.store.removeFront(); // skipCorrupt: an item the serializer refuses is removed and counted
        this.store.flusher.durable();
      }
    });
  }

  /** Whether `err` came from the serializer's decode() (not from the queue). */
  private isDecodeFailure(err: unknown): boolean {
    return !(err instanceof QueueError);
  }

  taskDone(): void {
    if (this.opts.autoCommit) {
      if (this.unfinished === 0) throw taskDoneExcess();
      if (this.unfinished === 1) this.store.op(this.ctx, () => this.store.write([{ t: T_FLAG, owner: this.owner, on: false }]));
      this.unfinished--;
    } else {
      if (this.heldCount === 0) throw taskDoneExcess();
      this.store.op(this.ctx, () => {
        this.store.write([{ t: T_DONE, owner: this.owner, count: 1 }]);
        this.store.flusher.durable();
      });
      this.heldCount--;
    }
  }

  tryJoin(): true | Retry {
    if (this.unfinished > 0 || this.heldCount > 0) return this.wait();
    this.store.refresh(this.ctx);
    if (this.store.size > 0) return this.wait();
    const others = [...this.store.st.pending, ...this.store.st.held.keys()].filter((o) => o !== this.owner);
    if (others.length === 0) return true;
    if (others.some((o) => isOwnerAlive(o))) return this.wait();
    this.store.op(this.ctx, () => this.store.sweep());
    return this.store.size > 0 ? this.wait() : true;
  }

  /** The caller is about to wait: never wait holding the folder lock (a sleeping thread cannot give it up). */
  private wait(): Retry {
    if (this.flavour === 'sync') this.store.flusher.flushBeforeWait(); // its flush timer cannot run while it sleeps
    this.store.releaseLock();
    return RETRY;
  }

  size(): number {
    this.store.refresh(this.ctx);
    return this.store.size;
  }

  empty(): boolean {
    return this.size() === 0;
  }

  full(): boolean {
    return this.opts.maxSize > 0 && this.size() >= this.opts.maxSize;
  }

  tooBig(count: number): boolean {
    return this.opts.maxSize > 0 && count > this.opts.maxSize;
  }

  /** Gives back what this instance holds, saves a checkpoint if it is the last instance of this process, releases. */
  close(): void {
    if (this.closed) return;
    try {
      const last = this.store.instances === 1;
      if (this.heldCount > 0 || this.unfinished > 0 || last) {
        // close() is synchronous for both classes: a lock conflict is retried sleeping the thread
        retrySync(() => this.store.op(this.ctx, () => this.giveBackAtClose(last)), this.sleepingRetry);
      }
    } catch {
      // Best effort: what this instance still holds returns to the queue when this process is gone.
    } finally {
      this.heldCount = 0;
      this.unfinished = 0;
      this.dispose();
    }
  }

  /** Writes what close() gives back (held items, the join() flag); the last instance also flushes and checkpoints. */
  private giveBackAtClose(last: boolean): void {
    const recs: Rec[] = [];
    if (this.heldCount > 0) recs.push({ t: T_RETURN, owner: this.owner });
    if (this.unfinished > 0) recs.push({ t: T_FLAG, owner: this.owner, on: false });
    if (recs.length > 0) {
      this.store.write(recs);
      this.store.flusher.durable();
    }
    if (last) {
      if (this.opts.durability !== 'off') this.store.flusher.flushSync();
      this.store.checkpointIfChanged();
    }
  }

  retryableFor(err: unknown): number | undefined {
    if (!(err instanceof LockBusyError)) return undefined;
    if (this.flavour === 'sync') this.store.flusher.flushBeforeWait(); // the thread sleeps before the retry: see wait()
    else this.willWait(); // woken when the holder gives the lock up
    return this.opts.lockTimeout;
  }

  /** {@link retryableFor} for a retry that sleeps the thread whatever the class (open of a sync class, close). */
  private readonly sleepingRetry = (err: unknown): number | undefined => {
    if (!(err instanceof LockBusyError)) return undefined;
    this.store.flusher.flushBeforeWait(); // the flush timer cannot run while the thread sleeps
    return this.opts.lockTimeout;
  };

  /**
   * Wakes this Promise class's waits when another process gives the lock up (docs/format.md, "Wake-up channel"). A
   * sync class polls: only another thread could end its `Atomics.wait` early, and a helper thread costs ~55 ms of CPU
   * to start in every process.
   */
  willWait(): void {
    if (this.flavour === 'async') this.store.watchWake();
  }
}
