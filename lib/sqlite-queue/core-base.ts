/**
 * What the plain and the ack SQLite cores share: the connection, schema setup, the item codec, the owner token, the
 * in-process signal, the cheap "did anything change?" probe, error translation and the dead-holder sweep.
 *
 * @module
 */
import type Database from 'better-sqlite3';
import type { PutEntry, QueueCore } from '../common/core.js';
import { crc32 } from '../common/crc.js';
import { argTypeError, describe, QueueError, QueueLockedError, rangeError } from '../common/errors.js';
import { newOwner, retireOwner } from '../common/owner.js';
import { retryAsync } from '../common/retry.js';
import { resolveSerializer, type Codec } from '../common/serializer.js';
import { acquireSignal, releaseSignal, RETRY, type Retry, type Signal } from '../common/wait.js';
import { checkDbPath, isBusy, openConnection, translateError } from './connection.js';
import { tableName, type ResolvedSqliteOptions } from './options.js';
import { RowReader, SKIP, type StoredRow } from './rows.js';
import { ensureSchema } from './schema.js';
import { WalLimit } from './wal.js';

/** How often an idle waiter re-checks for expired leases and dead holders even when nothing was written. */
const SWEEP_MS = 1000;

/** SQLite's own lock wait for a Promise class; longer conflicts are retried by the shell on timers. */
const ASYNC_BUSY_MS = 5;

/** Whether a core serves a sync class (SQLite's busy handler waits) or a Promise class (the shell retries). */
export type Flavour = 'sync' | 'async';

/** What a core does around {@link SqliteCoreBase.fastTake}, its one-statement get (made once per core). */
export interface FastTakeStep<T, R extends StoredRow, M> {
  /** Runs the one statement; the row taken, or undefined when there is none. */
  take(): R | undefined;
  /** Right after the statement committed, before the row is read. */
  taken(row: R): void;
  /** `skipCorrupt` dropped the row (damaged or refused by the serializer; counted already). */
  skipped(row: R): void;
  /** The row cannot be read (its error is thrown next): make it ready again. */
  giveBack(row: R, err: unknown): void;
  /** The row was read: what the get returns. */
  deliver(row: R, item: T): M;
}

/** Shared base of the SQLite cores. */
export abstract class SqliteCoreBase<T, G> implements QueueCore<T, G> {
  readonly signal: Signal;
  protected readonly db: Database.Database;
  protected readonly table: string;
  protected readonly quoted: string;
  protected readonly codec: Codec<T>;
  protected readonly owner: string;
  protected readonly file: string;
  private readonly signalKey: string;
  private readonly dataVersion: Database.Statement;
  private idleVersion = -1;
  private idleAt = 0;
  private idleUntil = Infinity;
  private lastSweep = 0;
  private readonly wal: WalLimit;
  private busyMs: number;
  private closed = false;
  private releasedByShell = false;

  protected constructor(
    file: unknown,
    protected readonly opts: ResolvedSqliteOptions,
    private readonly flavour: Flavour,
    where: string,
  ) {
    this.file = checkDbPath(file, where);
    this.codec = resolveSerializer<T>(opts.serializer, opts.unique);
    this.table = tableName(opts);
    this.quoted = `\`${this.table}\``;
    this.rows = new RowReader(this.codec, opts.skipCorrupt, this.table, this.file);
    // A Promise class never lets SQLite wait long, not even while opening: openAsync() retries a lock conflict at open
    // on timers for up to busyTimeout, so the event loop stays free.
    this.busyMs = flavour === 'async' ? Math.min(opts.busyTimeout, ASYNC_BUSY_MS) : opts.busyTimeout;
    this.db = openConnection(this.file, opts.durability, this.busyMs);
    this.wal = new WalLimit(this.db, this.file, this.busyMs);
    try {
      this.guard('cannot set up the queue table', () =>
        this.db.transaction(() => ensureSchema(this.db, this.table, opts)).immediate(),
      );
      this.dataVersion = this.db.prepare('PRAGMA data_version').pluck();
      this.txPut = this.transaction('put failed', (e: PutEntry): number | null | Retry =>
        this.room() < 1 ? RETRY : this.insertOne(e, SqliteCoreBase.seconds()),
      );
      this.txPutMany = this.transaction('putMany failed', (entries: PutEntry[]): (number | null)[] | Retry => {
        if (this.room() < entries.length) return RETRY;
        const ts = SqliteCoreBase.seconds();
        return entries.map((e) => this.insertOne(e, ts));
      });
      this.txBatch = this.transaction('put failed', (entries: PutEntry[]): (number | null | Retry)[] => {
        let room = this.room();
        const ts = SqliteCoreBase.seconds();
        return entries.map((e) => (room-- < 1 ? RETRY : this.insertOne(e, ts)));
      });
    } catch (err) {
      this.db.close();
      throw err;
    }
    this.owner = newOwner();
    this.signalKey = `sqlite:${this.file}:${this.table}`;
    this.signal = acquireSignal(this.signalKey);
  }

  /**
   * Ends the open: subclasses call it last in their constructor, after preparing their statements. Runs their
   * open-time writes (`openWrites`) and a first dead-holder sweep, then sets SQLite's own lock wait: short for a
   * Promise class (lock conflicts are retried on timers: by {@link openAsync} while opening, by the shell afterwards),
   * the full `busyTimeout` for a sync class. On failure the core is closed and the error thrown.
   */
  protected finishOpen(openWrites?: () => void): void {
    try {
      openWrites?.();
      this.maybeSweep(true);
      this.db.pragma(`busy_timeout = ${this.busyMs}`);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /**
   * The fast get of both cores: one statement that takes a row in its own transaction (a write statement takes the
   * write lock before it reads, so the row goes to this call only); the row is checked and decoded after the commit.
   * A row `skipCorrupt` drops is handed to `step.skipped` and the next one taken; a row that cannot be read is handed
   * to `step.giveBack` before the error is thrown. Retry means "nothing found": the caller's transaction path then
   * notes the idle data version race-free.
   */
  protected fastTake<R extends StoredRow, M>(step: FastTakeStep<T, R, M>): M | Retry {
    for (;;) {
      let row: R | undefined;
      try {
        row = step.take();
      } catch (err) {
        throw translateError(err, 'get failed');
      }
      if (!row) return RETRY;
      step.taken(row);
      let item: T;
      try {
        const got = this.rows.take(row);
        if (got === SKIP) {
          step.skipped(row);
          continue;
        }
        item = got;
      } catch (err) {
        step.giveBack(row, err);
        throw err;
      }
      return step.deliver(row, item);
    }
  }

  /** Runs `fn`, turning SQLite errors into typed queue errors. */
  protected guard<R>(context: string, fn: () => R): R {
    try {
      return fn();
    } catch (err) {
      throw translateError(err, context);
    }
  }

  /** Runs `fn` in a `BEGIN IMMEDIATE` transaction (read-then-write safe), translating errors. For rare paths. */
  protected write<R>(context: string, fn: () => R): R {
    return this.guard(context, () => this.db.transaction(fn).immediate());
  }

  /**
   * Makes a reusable `BEGIN IMMEDIATE` transaction of `fn` (hot paths: building a transaction function per call
   * costs a quarter of a get).
   */
  protected transaction<A extends unknown[], R>(context: string, fn: (...args: A) => R): (...args: A) => R {
    const tx = this.db.transaction(fn);
    return (...args: A): R => {
      try {
        return tx.immediate(...args);
      } catch (err) {
        throw translateError(err, context);
      }
    };
  }

  /** Records that this instance committed a change: wake in-process waiters, drop the idle probe, mind the WAL. */
  protected wrote(): void {
    this.idleVersion = -1;
    this.signal.notify();
    this.wal.afterWrite();
  }

  /**
   * The probe: false when nothing can have changed since the last attempt found no work (no commit by another
   * connection, and no sweep due). An attempt that finds no work calls {@link noteIdle} with the data version read
   * inside its write transaction: no other connection can commit while it holds the write lock, so no change is
   * missed.
   */
  protected mayHaveWork(): boolean {
    if (this.idleVersion === -1) return true;
    const now = performance.now();
    if (now - this.idleAt >= SWEEP_MS || now >= this.idleUntil) return true;
    return this.readVersion() !== this.idleVersion;
  }

  /** The connection's data version (changes when another connection commits). */
  protected readVersion(): number {
    return this.dataVersion.get() as number;
  }

  /**
   * Remembers that an attempt that started at data version `version` found no work.
   * @param wakeAtMs - epoch ms when work may appear without any write (a lease running out)
   */
  protected noteIdle(version: number, wakeAtMs?: number | null): void {
    this.idleVersion = version;
    this.idleAt = performance.now();
    this.idleUntil = wakeAtMs == null ? Infinity : this.idleAt + Math.max(0, wakeAtMs - Date.now());
  }

  /** Runs the dead-holder sweep if `force` or none ran for {@link SWEEP_MS}. */
  protected maybeSweep(force = false): void {
    const now = performance.now();
    if (!force && now - this.lastSweep < SWEEP_MS) return;
    this.lastSweep = now;
    this.sweep();
  }

  /** Returns items held by dead processes (and expired leases) to the queue. */
  protected abstract sweep(): void;

  /** Gives back what this instance holds, at close. */
  protected abstract release(): void;

  /** Checks the per-put priority for this queue's order. */
  protected checkPriority(priority: unknown): number | undefined {
    if (this.opts.order !== 'priority') {
      if (priority !== undefined) {
        throw argTypeError(`The "priority" option is only for queues opened with order 'priority'. ${describe(priority)}`);
      }
      return undefined;
    }
    if (priority === undefined) return 0;
    if (typeof priority !== 'number') throw argTypeError(`The "priority" option must be of type number. ${describe(priority)}`);
    if (!Number.isSafeInteger(priority)) throw rangeError(`The "priority" option must be a safe integer. Received ${priority}`);
    return priority;
  }

  /** The checksum stored in `pq_crc` for `data`. */
  protected static crc(data: Buffer): number {
    return crc32(data);
  }

  /** Checks and decodes stored rows; counts what `skipCorrupt` drops. */
  protected readonly rows: RowReader<T>;

  /** Rows skipped by `skipCorrupt`. */
  get corruptSkipped(): number {
    return this.rows.skipped;
  }

  preparePut(item: T, priority: unknown): PutEntry {
    const p = this.checkPriority(priority);
    return { data: this.codec.encode(item), priority: p };
  }

  tooBig(count: number): boolean {
    return this.opts.maxSize > 0 && count > this.opts.maxSize;
  }

  retryableFor(err: unknown): number | undefined {
    if (this.flavour !== 'async') return undefined;
    const cause = err instanceof QueueError ? err.cause : err;
    return isBusy(cause) ? this.opts.busyTimeout : undefined;
  }

  /** Current time as Python persist-queue stores it: REAL seconds since the epoch. */
  protected static seconds(): number {
    return Date.now() / 1000;
  }

  /** Inserts one row inside the caller's transaction; the new id, or null when a unique table ignored it. */
  protected abstract insertOne(e: PutEntry, ts: number): number | null;

  /** Waiting items, counted up to `limit` (so a `maxSize` check costs at most `maxSize` rows). */
  protected abstract waiting(limit: number): number;

  /** Whether one put is a single INSERT statement (its own transaction, taking the write lock up front). */
  private get putIsOneStatement(): boolean {
    return this.opts.maxSize === 0 && !(this.opts.ack && this.opts.unique);
  }

  private room(): number {
    return this.opts.maxSize === 0 ? Infinity : this.opts.maxSize - this.waiting(this.opts.maxSize);
  }

  private readonly txPut: (e: PutEntry) => number | null | Retry;
  private readonly txPutMany: (entries: PutEntry[]) => (number | null)[] | Retry;
  private readonly txBatch: (entries: PutEntry[]) => (number | null | Retry)[];

  tryPut(entry: PutEntry): number | null | Retry {
    let id: number | null | Retry;
    if (this.putIsOneStatement) {
      try {
        id = this.insertOne(entry, SqliteCoreBase.seconds());
      } catch (err) {
        throw translateError(err, 'put failed');
      }
    } else {
      id = this.txPut(entry);
      if (id === RETRY) return RETRY;
    }
    this.wrote();
    return id;
  }

  tryPutMany(entries: PutEntry[]): (number | null)[] | Retry {
    const ids = this.txPutMany(entries);
    if (ids !== RETRY) this.wrote();
    return ids;
  }

  commitBatch(entries: PutEntry[]): (number | null | Retry)[] {
    if (entries.length === 1 && this.putIsOneStatement) return [this.tryPut(entries[0]!)];
    const ids = this.txBatch(entries);
    this.wrote();
    return ids;
  }

  /** Whether `maxSize > 0` and no room is left. */
  full(): boolean {
    return this.opts.maxSize > 0 && this.guard('full failed', () => this.room() < 1);
  }

  abstract tryGet(): G | Retry;
  abstract tryGetMany(max: number): G[] | Retry;
  abstract peek(): T | undefined;
  abstract taskDone(): void;
  abstract tryJoin(): true | Retry;
  abstract size(): number;
  abstract empty(): boolean;

  /**
   * Gives back what this instance holds, now. The Promise shell calls it from `close()` and retries a lock conflict on
   * timers (for up to busyTimeout); {@link close} then does not try again, so the event loop is never blocked.
   */
  releaseHeld(): void {
    this.releasedByShell = true;
    this.release();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      // A sync class gives back held items here, waiting inside SQLite for up to busyTimeout.
      if (!this.releasedByShell) {
        this.db.pragma(`busy_timeout = ${this.opts.busyTimeout}`);
        this.release();
      }
    } catch {
      // Best effort: whatever stays held returns to the queue when this process is gone.
    } finally {
      retireOwner(this.owner);
      releaseSignal(this.signalKey);
      this.db.close();
    }
  }
}

/**
 * Opens a core for a Promise class: a lock conflict while opening (another process holding the write lock) is
 * retried on timers for up to `busyTimeout` ms instead of blocking the event loop inside SQLite, then thrown as the
 * {@link QueueLockedError} it is. A failed attempt has closed its connection already.
 */
export function openAsync<C>(make: () => C, busyTimeout: number): Promise<C> {
  return retryAsync(make, (err) => (err instanceof QueueLockedError ? busyTimeout : undefined));
}
