/**
 * The core of {@link SqliteQueue} and {@link SqliteQueueSync}: FIFO, FILO, unique and priority queues on Python
 * persist-queue's tables.
 *
 * A get deletes the row in the same `BEGIN IMMEDIATE` transaction that reads it, so every row goes to exactly one
 * consumer across processes. With `autoCommit: false` the row moves to `pq_taken` under this instance's owner token
 * instead, and `taskDone()` deletes it; the rows of a dead or closed holder move back. Unfinished tasks (for `join()`)
 * are counted in memory and flagged in `pq_pending` while non-zero, so `join()` in any process sees them.
 *
 * @module
 */
import type { PutEntry } from '../common/core.js';
import { taskDoneExcess } from '../common/errors.js';
import { isOwnerAlive } from '../common/owner.js';
import { RETRY, type Retry } from '../common/wait.js';
import { SqliteCoreBase, type FastTakeStep, type Flavour } from './core-base.js';
import { SKIP } from './rows.js';
import type { ResolvedSqliteOptions } from './options.js';
import { plainOrder, plainStatements, type PlainRow, type PlainStatements } from './plain-statements.js';

/** How long a cleared task count may wait before the pq_pending flag is dropped (see unflagSoon). */
const UNFLAG_DELAY_MS = 5;

/** Storage core of the plain SQLite queues. */
export class PlainCore<T> extends SqliteCoreBase<T, T> {
  /** The open instances of this thread, by owner token: join() asks them directly instead of reading their flag. */
  private static readonly local = new Map<string, PlainCore<unknown>>();

  /** Whether the holder `owner` may still have unfinished work (another process: whether it is alive). */
  private static busy(owner: string): boolean {
    const inst = PlainCore.local.get(owner);
    return inst ? inst.unfinished > 0 || inst.held.length > 0 : isOwnerAlive(owner);
  }

  private readonly s: PlainStatements;
  private readonly cmp: (a: PlainRow, b: PlainRow) => number;
  /** autoCommit true: items taken and not yet done. */
  private unfinished = 0;
  /** autoCommit false: ids taken by this instance and not yet done, oldest first. */
  private readonly held: number[] = [];
  /** Whether this instance's row in pq_pending exists (it may outlive `unfinished` by a moment, see unflagSoon). */
  private flagged = false;
  private unflagTimer: NodeJS.Timeout | undefined;

  constructor(file: unknown, opts: ResolvedSqliteOptions, flavour: Flavour, where: string) {
    super(file, opts, flavour, where);
    const order = plainOrder(opts);
    this.cmp = order.cmp;
    this.s = this.guard('cannot prepare queue statements', () => plainStatements(this.db, this.quoted, opts));
    PlainCore.local.set(this.owner, this as PlainCore<unknown>);
    this.finishOpen();
  }

  protected insertOne(e: PutEntry, ts: number): number | null {
    const crc = SqliteCoreBase.crc(e.data);
    const info = e.priority === undefined ? this.s.insert.run(e.data, crc, ts) : this.s.insert.run(e.data, crc, ts, e.priority);
    return info.changes === 0 ? null : Number(info.lastInsertRowid);
  }

  protected waiting(limit: number): number {
    return this.s.countUpTo.get(limit) as number;
  }

  /** Takes up to `max` rows: deletes them (or moves them to pq_taken) and decodes them; empty: notes the version. */
  private readonly txTake = this.transaction('get failed', (max: number): { rows: PlainRow[]; items: T[] } | number => {
    let rows: PlainRow[];
    let items: T[];
    do {
      rows = (max === 1 ? [this.s.takeOne.get()].filter(Boolean) : this.s.takeMany.all(max)) as PlainRow[];
      if (rows.length === 0) return this.readVersion();
      if (rows.length > 1) rows.sort(this.cmp);
      // skipCorrupt: damaged or undecodable rows are deleted, counted, and we go on; without it readTaken throws
      // (with the row's id) and the transaction rolls back
      const kept: PlainRow[] = [];
      items = [];
      for (const r of rows) {
        const item = this.rows.take(r);
        if (item !== SKIP) {
          kept.push(r);
          items.push(item);
        }
      }
      rows = kept;
    } while (rows.length === 0);
    if (!this.opts.autoCommit) {
      for (const r of rows) this.s.hold.run(this.table, r._id, this.owner, r.data, r.timestamp, r.priority ?? null, r.pq_crc);
    } else if (!this.flagged) {
      this.s.flag.run(this.table, this.owner);
    }
    return { rows, items };
  });

  private take(max: number): T[] | Retry {
    this.maybeSweep();
    if (!this.mayHaveWork()) return RETRY;
    if (max === 1 && this.opts.autoCommit && this.flagged) {
      const item = this.fastTake(this.fastStep);
      if (item !== RETRY) return [item];
    }
    const got = this.txTake(max);
    if (typeof got === 'number') {
      this.noteIdle(got);
      this.unflagIfIdle();
      return RETRY;
    }
    if (this.opts.autoCommit) {
      this.unfinished += got.rows.length;
      this.flagged = true;
    } else {
      for (const r of got.rows) this.held.push(r._id);
    }
    this.wrote();
    return got.items;
  }

  /**
   * The fast get (see {@link SqliteCoreBase.fastTake}): one `DELETE … RETURNING` statement, when nothing else must
   * commit with it (autoCommit, and this instance's pq_pending flag already set). A row that cannot be read is put
   * back with its own `_id`.
   */
  private readonly fastStep: FastTakeStep<T, PlainRow, T> = {
    // all(), not get(): get() resets the statement before SQLite reports it done, and SQLite runs its automatic
    // checkpoint only from a step that reports done; with get() the WAL would grow until WalLimit truncates it.
    take: () => (this.s.takeOne.all() as PlainRow[])[0],
    taken: () => undefined,
    skipped: () => undefined, // skipCorrupt: the damaged or undecodable row is gone and counted
    giveBack: (row) => void this.guard('get failed', () => this.s.putBack.run(row)),
    deliver: (_row, item) => {
      this.unfinished++;
      this.wrote();
      return item;
    },
  };

  /**
   * Clears this instance's pq_pending flag once it has no unfinished task. Not at once in taskDone(): a consumer that
   * takes the next item right away keeps the flag and its get stays one statement. Other processes' join() sees the
   * clear within a few ms (timer), or when this instance next finds the queue empty, or closes.
   */
  private unflagSoon(): void {
    if (this.unflagTimer !== undefined) return;
    this.unflagTimer = setTimeout(() => {
      this.unflagTimer = undefined;
      try {
        this.unflagIfIdle();
      } catch {
        // retried by the next empty get, or at close
      }
    }, UNFLAG_DELAY_MS);
    this.unflagTimer.unref();
  }

  private unflagIfIdle(): void {
    if (!this.flagged || this.unfinished > 0) return;
    this.guard('taskDone failed', () => this.s.unflag.run(this.table, this.owner));
    this.flagged = false;
    this.wrote();
  }

  tryGet(): T | Retry {
    const items = this.take(1);
    return items === RETRY ? RETRY : items[0]!;
  }

  tryGetMany(max: number): T[] | Retry {
    return this.take(max);
  }

  /** Deletes the waiting item with id `id` (one that cannot be read, say); false when no such item waits. */
  remove(id: number): boolean {
    const n = this.write('remove failed', () => this.s.remove.run(id).changes);
    if (n > 0) this.wrote();
    return n > 0;
  }

  peek(): T | undefined {
    return this.rows.first(this.guard('peek failed', () => this.s.peek.all(this.opts.skipCorrupt ? 100 : 1) as PlainRow[]));
  }

  taskDone(): void {
    if (this.opts.autoCommit) {
      if (this.unfinished === 0) throw taskDoneExcess();
      if (--this.unfinished === 0) this.unflagSoon();
    } else {
      const id = this.held[0];
      if (id === undefined) throw taskDoneExcess();
      this.guard('taskDone failed', () => this.s.unhold.run(this.table, id));
      this.held.shift();
    }
    this.wrote();
  }

  tryJoin(): true | Retry {
    if (this.unfinished > 0 || this.held.length > 0) return RETRY;
    return this.guard('join failed', () => {
      if (this.s.exists.get()) return RETRY;
      const others = [...(this.s.flagged.all(this.table) as string[]), ...(this.s.holders.all(this.table) as string[])];
      if (others.length === 0) return true;
      if (others.some((o) => o !== this.owner && PlainCore.busy(o))) return RETRY;
      this.maybeSweep(true);
      return this.s.exists.get() ? RETRY : true;
    });
  }

  size(): number {
    return this.guard('size failed', () => this.s.count.get() as number);
  }

  empty(): boolean {
    return this.guard('empty failed', () => !this.s.exists.get());
  }


  protected sweep(): void {
    const holders = this.guard('sweep failed', () => this.s.holders.all(this.table) as string[]);
    const flagged = this.guard('sweep failed', () => this.s.flagged.all(this.table) as string[]);
    const deadHolders = holders.filter((o) => o !== this.owner && !isOwnerAlive(o));
    const deadFlags = flagged.filter((o) => o !== this.owner && !isOwnerAlive(o));
    if (deadHolders.length === 0 && deadFlags.length === 0) return;
    this.write('returning items of dead consumers failed', () => {
      for (const o of deadHolders) this.giveBack(o);
      for (const o of deadFlags) this.s.unflag.run(this.table, o);
    });
    this.wrote();
  }

  private giveBack(owner: string): void {
    this.s.restore.run(this.table, owner);
    this.s.dropHeld.run(this.table, owner);
  }

  protected release(): void {
    PlainCore.local.delete(this.owner);
    if (this.unflagTimer !== undefined) clearTimeout(this.unflagTimer);
    this.unflagTimer = undefined;
    if (this.held.length === 0 && this.unfinished === 0 && !this.flagged) return;
    this.write('close failed', () => {
      this.giveBack(this.owner);
      this.s.unflag.run(this.table, this.owner);
    });
    this.held.length = 0;
    this.unfinished = 0;
    this.flagged = false;
    this.wrote();
  }
}
