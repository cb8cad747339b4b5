/**
 * The core of {@link SqliteAckQueue} and {@link SqliteAckQueueSync}, on Python persist-queue's ack tables.
 *
 * Status values are Python's: 0 inited and 1 ready (both ready to get), 2 unack (held), 5 acked, 9 ack failed. A get
 * marks the row unack under this instance's owner token (`pq_owner`), with a lease deadline (`pq_lease`) when
 * `visibilityTimeout` is set, and counts the attempt (`pq_attempts`), all in one `BEGIN IMMEDIATE` transaction.
 * Rows held by dead or closed holders and rows whose lease ran out become ready again. Unack rows without an owner
 * were taken by a Python process: they are made ready when the queue is opened, as Python's own `auto_resume` does.
 *
 * @module
 */
import type { PutEntry } from '../common/core.js';
import { taskDoneExcess } from '../common/errors.js';
import type { AckMessage, AckQueueItem, ClearAckedOptions } from './ack-types.js';
import { validateOptions } from '../common/options.js';
import { isOwnerAlive } from '../common/owner.js';
import { RETRY, type Retry } from '../common/wait.js';
import { markIssued, newTag, ownMessageId, type MessageIssuer } from './ack-holder.js';
import { ACKED, ackStatements, FAILED, STATUS_NAME, type AckRow, type AckState, type AckStatements } from './ack-statements.js';
import { SqliteCoreBase, type FastTakeStep, type Flavour } from './core-base.js';
import { SKIP } from './rows.js';
import type { ResolvedSqliteOptions } from './options.js';

/** Fast gets between two {@link AckCore.tighten} calls by one instance. */
const TIGHTEN_EVERY = 512;
/** {@link AckCore.tryJoin} tightens the scan bounds at most this often (ms). */
const JOIN_TIGHTEN_MS = 100;
/** Past this many remembered held ids, those acked elsewhere are forgotten. */
const HELD_PRUNE_AT = 65_536;

/**
 * Storage core of the SQLite ack queues.
 *
 * How a get finds the next message without an index a get would have to change (see schema.ts): `pq_ack_state`
 * holds, per table, `low` (no row below it is ready), `ulow` (no row below it is unacked; `ulow <= low`) and `seq`
 * (counts rewinds: a row made ready again). A trigger lowers both bounds and counts a rewind whenever any connection
 * makes a row ready again; taking rows only ever moves them out of "ready", and new rows get larger ids. Each
 * instance remembers `cursor`, the id after the last row it took, valid while `seq` has not moved: a FIFO get scans
 * from `max(cursor, low)` if it has not, from `low` if it has, in the same `UPDATE … RETURNING` that takes the row
 * (which also returns `seq`). Every {@link TIGHTEN_EVERY} gets (and from `join()`), an instance raises `low` and
 * `ulow` to the first ready and first unacked rows, inside a write transaction. A FILO table finds its newest ready
 * row through an index and uses `low` only as a bound.
 */
export class AckCore<T> extends SqliteCoreBase<T, AckMessage<T>> {
  private readonly s: AckStatements;
  private readonly desc: boolean;
  private taken = 0;
  private done = 0;
  /** `seq` when {@link cursor} was set (-1: never). */
  private seq = -1;
  /** No row in [`low`, `cursor`) was ready when `seq` was {@link seq} (FIFO only; FILO keeps 0). */
  private cursor = 0;
  private sinceTighten = 0;
  private lastJoinTighten = -Infinity;
  /**
   * What this instance writes into `pq_owner` of the rows it holds: 8 characters, registered in `pq_holders` with
   * the owner token when the queue is opened (the sweep checks the token's liveness and gives back the tag's rows).
   */
  private tag = newTag();
  /** How the messages this instance hands out name it (see {@link ownMessageId}). */
  private readonly issuer: MessageIssuer = { where: `${this.table} in ${this.file}` };
  /**
   * Whether the fast get must also look for leases that ran out: always with `visibilityTimeout`; otherwise when the
   * last sweep (at most a second ago) or empty attempt saw leased messages in the table.
   */
  private leasesSeen: boolean;
  /** In `pq_holders` (from open until close). */
  private registered = true;
  /**
   * Ids of messages whose get failed here because they cannot be read (damaged, or refused by the serializer): the
   * error named them, so `ackFailed(id)` may park them although this instance does not hold them.
   */
  private readonly unreadable = new Set<number>();
  /** Ids this instance took and has not acked, nacked or failed itself: what close() gives back. */
  private readonly held = new Set<number>();
  /** {@link pruneHeld} runs once {@link held} has this many ids. */
  private pruneAt = HELD_PRUNE_AT;
  /** Rows taken by the running {@link txTake}. */
  private takenInTx: AckRow[] = [];

  constructor(file: unknown, opts: ResolvedSqliteOptions, flavour: Flavour, where: string) {
    super(file, opts, flavour, where);
    this.desc = opts.order === 'filo';
    this.leasesSeen = opts.visibilityTimeout > 0;
    this.s = this.guard('cannot prepare queue statements', () => ackStatements(this.db, this.quoted, this.table, opts));
    this.finishOpen(() =>
      this.write('cannot resume unacked messages', () => {
        this.s.resumeOrphans.run();
        // this instance's tag: unique among the table's holders (a clash, one in 36^8, draws again)
        while (this.s.register.run(this.owner, this.tag).changes === 0) this.tag = newTag();
      }),
    );
  }

  protected insertOne(e: PutEntry, ts: number): number | null {
    if (this.opts.unique) this.s.reviveUnique.run(e.data);
    const info = this.s.insert.run(e.data, SqliteCoreBase.crc(e.data), ts);
    return info.changes === 0 ? null : Number(info.lastInsertRowid);
  }

  protected waiting(limit: number): number {
    return this.s.countReadyUpTo.get(this.seq, this.cursor, limit) as number;
  }

  /** Reserves up to `max` ready messages; when there are none, returns the data version and the next lease end. */
  private readonly txTake = this.transaction('get failed', (max: number): AckMessage<T>[] | { version: number; wakeAt: number | null } => {
    const now = Date.now();
    this.s.expire.run(now);
    const lease = this.opts.visibilityTimeout > 0 ? now + this.opts.visibilityTimeout : null;
    let rows: AckRow[];
    let msgs: AckMessage<T>[];
    do {
      rows = this.s.takeMany.all(this.tag, lease, this.seq, this.cursor, max) as AckRow[];
      if (rows.length === 0) return { version: this.readVersion(), wakeAt: this.s.nextLease.get() as number | null };
      this.takenInTx.push(...rows); // the cursor moves past them only once this transaction has committed
      if (rows.length > 1) rows.sort(this.desc ? (a, b) => b._id - a._id : (a, b) => a._id - b._id);
      // skipCorrupt: a damaged or undecodable message is marked failed (kept for inspection), counted, and we go on;
      // without it readTaken throws (with the message's id) and the transaction rolls back
      msgs = [];
      for (const r of rows) {
        const data = this.rows.take(r);
        if (data === SKIP) this.s.fail.run(r._id);
        else msgs.push(this.message(r, data));
      }
    } while (msgs.length === 0);
    return msgs;
  });

  /**
   * Moves the cursor past rows just taken by one statement (which scanned from `max(cursor, low)` if `seq` had not
   * moved, else from `low`, and took the first ready rows from there, or a row whose lease ran out).
   */
  private advance(rows: AckRow[]): void {
    if (this.desc) return;
    const seq = rows[0]!.pq_seq;
    let top = seq === this.seq ? this.cursor : 0;
    for (const r of rows) if (r._id + 1 > top) top = r._id + 1;
    this.seq = seq;
    this.cursor = top;
  }

  /** A taken row as a message, marked as handed out by this instance (see {@link ownMessageId}). */
  private message(r: AckRow, data: T): AckMessage<T> {
    const msg = { id: r._id, data, attempts: r.pq_attempts };
    markIssued(msg, this.issuer);
    return msg;
  }

  /** Remembers the id that a get's error names (see {@link AckCore.unreadable}). */
  private noteUnreadable(err: unknown): void {
    const id = (err as { id?: unknown })?.id;
    if (typeof id === 'number' && this.unreadable.size < 1024) this.unreadable.add(id);
  }

  /** Counts committed takes and remembers their ids for close(); forgets ids acked elsewhere when there are many. */
  private hold(msgs: AckMessage<T>[]): void {
    this.taken += msgs.length;
    for (const m of msgs) this.held.add(m.id);
    if (this.held.size >= this.pruneAt) this.pruneHeld();
  }

  private takeRows(max: number): AckMessage<T>[] | Retry {
    this.maybeSweep();
    if (!this.mayHaveWork()) return RETRY;
    return this.takeInTransaction(max);
  }

  private noteLeases(nextLease: number | null): void {
    this.leasesSeen = this.opts.visibilityTimeout > 0 || nextLease != null;
  }

  private takeInTransaction(max: number): AckMessage<T>[] | Retry {
    this.takenInTx = [];
    let got: ReturnType<typeof this.txTake>;
    try {
      got = this.txTake(max);
    } catch (err) {
      this.takenInTx = []; // rolled back: nothing was taken
      this.noteUnreadable(err);
      throw err;
    }
    const rows = this.takenInTx;
    this.takenInTx = [];
    if (rows.length > 0) this.advance(rows);
    if (!Array.isArray(got)) {
      this.noteLeases(got.wakeAt);
      this.noteIdle(got.version, got.wakeAt);
      return RETRY;
    }
    this.wrote();
    this.hold(got);
    return got;
  }

  /**
   * The fast get (see {@link SqliteCoreBase.fastTake}): one `UPDATE … RETURNING` statement choosing among the ready
   * messages and those whose lease ran out. A message that cannot be read is made ready again (its delivery uncounted);
   * one `skipCorrupt` drops is marked failed (kept for inspection).
   */
  private readonly fastStep: FastTakeStep<T, AckRow, AckMessage<T>> = {
    take: () => {
      // all(), not get(): get() resets the statement before SQLite reports it done, and SQLite runs its automatic
      // checkpoint only from a step that reports done; with get() the WAL would grow until WalLimit truncates it.
      if (!this.leasesSeen) return this.s.takeNextReady.all(this.tag, null, this.seq, this.cursor)[0] as AckRow | undefined;
      const now = Date.now();
      const lease = this.opts.visibilityTimeout > 0 ? now + this.opts.visibilityTimeout : null;
      return this.s.takeNext.all(this.tag, lease, this.seq, this.cursor, now)[0] as AckRow | undefined;
    },
    taken: (row) => {
      this.advance([row]);
      this.wrote();
      if (++this.sinceTighten >= TIGHTEN_EVERY) this.tighten();
    },
    skipped: (row) => void this.guard('get failed', () => this.s.fail.run(row._id)),
    giveBack: (row, err) => {
      this.guard('get failed', () => this.s.untake.run(row._id, this.tag));
      this.noteUnreadable(err);
    },
    deliver: (row, data) => {
      const msg = this.message(row, data);
      this.hold([msg]);
      return msg;
    },
  };

  /**
   * Raises the table's scan bounds to the first ready and the first unacked row (one write transaction, scanning
   * from the old bounds). Housekeeping: skipped if the write lock is busy.
   */
  private tighten(): void {
    this.sinceTighten = 0;
    try {
      this.write('tighten', () => {
        const st = this.s.state.get() as AckState | undefined;
        if (!st) return;
        const firstReady = this.s.firstReadyFrom.get(st.low) as number | undefined;
        const low = firstReady ?? ((this.s.maxId.get() as number | null) ?? 0) + 1;
        const firstUnack = this.s.firstUnackFrom.get(st.ulow) as number | undefined;
        const ulow = Math.min(firstUnack ?? low, low);
        if (low > st.low || ulow > st.ulow) this.s.setBounds.run(Math.max(low, st.low), Math.max(ulow, st.ulow));
      });
    } catch {
      // housekeeping only
    }
  }

  /**
   * Forgets held ids that were acked or nacked through another instance. Runs when the set has doubled since the last
   * time (at least {@link HELD_PRUNE_AT}), so its cost stays linear in the number of takes.
   */
  private pruneHeld(): void {
    const gone = this.guard('get failed', () => [...this.held].filter((id) => !this.s.stillHeld.get(id, this.tag)));
    for (const id of gone) this.held.delete(id);
    this.pruneAt = Math.max(HELD_PRUNE_AT, 2 * this.held.size);
  }

  tryGet(): AckMessage<T> | Retry {
    this.maybeSweep();
    if (!this.mayHaveWork()) return RETRY;
    const msg = this.fastTake(this.fastStep);
    if (msg !== RETRY) return msg;
    const msgs = this.takeInTransaction(1);
    return msgs === RETRY ? RETRY : msgs[0]!;
  }

  tryGetMany(max: number): AckMessage<T>[] | Retry {
    return this.takeRows(max);
  }

  peek(): T | undefined {
    const n = this.opts.skipCorrupt ? 100 : 1;
    return this.rows.first(this.guard('peek failed', () => this.s.peek.all(this.seq, this.cursor, n, Date.now(), n) as AckRow[]));
  }

  taskDone(): void {
    if (this.done >= this.taken) throw taskDoneExcess('messages');
    this.done++;
  }

  tryJoin(): true | Retry {
    const now = performance.now();
    if (now - this.lastJoinTighten >= JOIN_TIGHTEN_MS) {
      this.lastJoinTighten = now;
      this.tighten(); // keeps the scan for unacked rows short while join() polls
    }
    const busy = this.guard('join failed', () => {
      if (this.s.existsReady.get(this.seq, this.cursor, Date.now())) return true;
      if ((this.s.orphans.get() as number) > 0) return true;
      return this.s.existsUnack.get() === 1;
    });
    if (!busy) return true;
    this.maybeSweep(); // dead holders and expired leases make their messages ready again
    return RETRY;
  }

  /**
   * Changes the status of a message this instance holds; see {@link SqliteAckQueueSync.ack}. A message it does not
   * hold (never taken by it, already acked, nacked or failed, given back at close, or taken over by another consumer
   * after its lease ran out) is left as it is: false.
   */
  setStatus(idOrMessage: unknown, to: 'ack' | 'nack' | 'fail', method: string): boolean {
    const id = ownMessageId(idOrMessage, method, this.issuer);
    const stmt = to === 'fail' ? this.s.failHeld : this.s[to]!;
    let changed = this.guard(`${method} failed`, () => stmt.run(id, this.tag).changes > 0);
    if (!changed && to === 'fail' && this.unreadable.has(id)) {
      changed = this.guard(`${method} failed`, () => this.s.fail.run(id).changes > 0); // named by a get's error here
    }
    this.unreadable.delete(id);
    this.held.delete(id);
    if (changed) this.wrote();
    return changed;
  }

  size(): number {
    return this.readyCount();
  }

  empty(): boolean {
    return this.guard('empty failed', () => !this.s.existsReady.get(this.seq, this.cursor, Date.now()));
  }


  readyCount(): number {
    return this.guard('count failed', () => this.s.countReady.get(this.seq, this.cursor, Date.now()) as number);
  }

  /** Rows with the given Python status value. */
  countStatus(status: 'unack' | 'acked' | 'failed'): number {
    if (status === 'unack') {
      this.tighten();
      return this.guard('count failed', () => this.s.countUnack.get(Date.now()) as number);
    }
    return this.guard('count failed', () => this.s.countStatus.get(status === 'acked' ? ACKED : FAILED) as number);
  }

  clearAcked(options: unknown): number {
    const o = validateOptions<ClearAckedOptions>(
      options,
      { keepLatest: { kind: 'integer', min: 0 }, maxDelete: { kind: 'integer', min: 0 }, includeFailed: { kind: 'boolean' } },
      'clearAcked()',
    );
    const statuses = o.includeFailed ? `${ACKED}, ${FAILED}` : `${ACKED}`;
    const sql =
      `DELETE FROM ${this.quoted} WHERE _id IN (SELECT _id FROM (SELECT _id FROM ${this.quoted} WHERE status IN (${statuses}) ` +
      `ORDER BY _id DESC LIMIT -1 OFFSET ?) ORDER BY _id ASC LIMIT ?)`;
    const n = this.write('clearAcked failed', () => this.db.prepare(sql).run(o.keepLatest ?? 0, o.maxDelete ? o.maxDelete : -1).changes);
    if (n > 0) this.wrote();
    return n;
  }

  update(idOrMessage: unknown, data: T): boolean {
    const id = ownMessageId(idOrMessage, 'update', this.issuer);
    const bytes = this.codec.encode(data);
    const changed = this.guard('update failed', () => this.s.update.run(bytes, SqliteCoreBase.crc(bytes), id).changes > 0);
    if (changed) this.wrote();
    return changed;
  }

  items(): AckQueueItem<T>[] {
    const rows = this.guard('items failed', () => this.s.items.all()) as (AckRow & { timestamp: number; status: number })[];
    // A row that cannot be read is listed with its error instead of failing the whole list.
    return rows.map((r) => ({
      id: r._id,
      status: STATUS_NAME[r.status] ?? 'ready',
      attempts: r.pq_attempts,
      timestamp: Math.round(r.timestamp * 1000),
      ...this.rows.tryDecode(r),
    }));
  }

  protected sweep(): void {
    const now = Date.now();
    const [holders, next] = this.guard('sweep failed', () => [this.s.holders.all(), this.s.nextLease.get() as number | null]);
    this.noteLeases(next as number | null);
    const due = next != null && (next as number) <= now;
    const dead = (holders as { owner: string; tag: string }[]).filter((h) => h.owner !== this.owner && !isOwnerAlive(h.owner));
    if (dead.length === 0 && !due) return;
    const changed = this.write('returning messages failed', () => {
      let n = this.s.expire.run(now).changes;
      for (const h of dead) {
        n += this.s.releaseOwner.run(h.tag).changes;
        this.s.unregister.run(h.owner);
      }
      return n;
    });
    if (changed > 0) this.wrote();
  }

  /** Gives back the messages this instance holds (by id: no scan) and leaves `pq_holders`. */
  protected release(): void {
    if (!this.registered) return;
    const ids = [...this.held];
    const changed = this.write('close failed', () => {
      let n = 0;
      for (const id of ids) n += this.s.releaseOne.run(id, this.tag).changes;
      this.s.unregister.run(this.owner);
      return n;
    });
    this.held.clear();
    this.registered = false;
    if (changed > 0) this.wrote();
  }
}

