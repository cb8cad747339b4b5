/**
 * The core of {@link PostgresQueue}. autoCommit true: a get deletes the claimed rows and adds them to this holder's
 * `taken` count (what `join()` waits for), `taskDone()` lowers it. autoCommit false: a get marks the rows taken
 * (status 2, owner = this instance); `taskDone()` deletes the oldest one this instance took; close() or the holder's
 * expiry gives the rest back.
 *
 * @module
 */
import { QueueError } from '../common/errors.js';
import { RETRY, type Retry } from '../common/wait.js';
import { PgCoreBase, type ClaimedRow } from './core-base.js';
import type { ResolvedPgOptions } from './options.js';

/** @internal */
export class PgPlainCore<T> extends PgCoreBase<T> {
  private outstanding = 0;
  private readonly heldIds: string[] = [];

  private constructor(target: unknown, opts: ResolvedPgOptions, where: string) {
    super(target, opts, where);
  }

  static async open<T>(target: unknown, opts: ResolvedPgOptions, where: string): Promise<PgPlainCore<T>> {
    const core = new PgPlainCore<T>(target, opts, where);
    await core.start();
    return core;
  }

  private async take(max: number): Promise<T[] | Retry> {
    const rows: ClaimedRow[] = this.opts.autoCommit
      ? await this.claim(
          max,
          (pick) =>
            `WITH c AS (${pick}), d AS (DELETE FROM ${this.t} t USING c WHERE t.id = c.id RETURNING t.id, t.data, t.priority::float8 AS prio, t.attempts, t.created), ` +
            `h AS (UPDATE ${this.h} SET taken = taken + (SELECT count(*) FROM d) WHERE id = $1) SELECT * FROM d`,
          [this.owner],
        )
      : await this.claim(
          max,
          (pick) =>
            `WITH c AS (${pick}) UPDATE ${this.t} t SET status = 2, owner = $1, attempts = t.attempts + 1 FROM c WHERE t.id = c.id ` +
            'RETURNING t.id, t.data, t.priority::float8 AS prio, t.attempts',
          [this.owner],
        );
    if (rows.length === 0) return RETRY;
    let items: T[];
    try {
      items = rows.map((r) => this.decode(r));
    } catch (err) {
      await this.putBack(rows);
      throw err;
    }
    this.outstanding += rows.length;
    if (!this.opts.autoCommit) this.heldIds.push(...rows.map((r) => r.id));
    return items;
  }

  /** After a get whose items could not be decoded: the rows go back as they were (same ids), uncounted. */
  private async putBack(rows: ClaimedRow[]): Promise<void> {
    const ids = rows.map((r) => r.id);
    if (this.opts.autoCommit) {
      await this.db.run(
        `WITH i AS (INSERT INTO ${this.t} (id, data, priority, attempts, created) ` +
          `SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bigint[], $4::int[], $5::timestamptz[])), ` +
          `h AS (UPDATE ${this.h} SET taken = greatest(taken - $6, 0) WHERE id = $7) SELECT 1`,
        [ids, rows.map((r) => r.data), rows.map((r) => Math.round(r.prio)), rows.map((r) => r.attempts), rows.map((r) => r.created), rows.length, this.owner],
        'get failed',
      );
    } else {
      await this.db.run(`UPDATE ${this.t} SET status = 1, owner = NULL, attempts = attempts - 1 WHERE id = ANY($1::bigint[]) AND status = 2 AND owner = $2`, [ids, this.owner], 'get failed');
    }
  }

  async tryGet(): Promise<T | Retry> {
    const r = await this.take(1);
    return r === RETRY ? RETRY : r[0]!;
  }

  tryGetMany(max: number): Promise<T[] | Retry> {
    return this.take(max);
  }

  /** Deletes the waiting item `id` (one that cannot be read, say); false when no such item waits. */
  async remove(id: number): Promise<boolean> {
    const rows = await this.db.run(`DELETE FROM ${this.t} WHERE id = $1 AND status = 1 RETURNING id`, [id], 'remove failed');
    return rows.length > 0;
  }

  async taskDone(): Promise<void> {
    if (this.outstanding === 0) throw new QueueError('taskDone() was called more times than items were taken', 'ERR_QUEUE_TASK_DONE');
    if (this.opts.autoCommit) {
      await this.db.run(`UPDATE ${this.h} SET taken = greatest(taken - 1, 0) WHERE id = $1`, [this.owner], 'taskDone failed');
    } else {
      const id = this.heldIds[0];
      await this.db.run(`DELETE FROM ${this.t} WHERE id = $1 AND status = 2 AND owner = $2`, [id, this.owner], 'taskDone failed');
      this.heldIds.shift();
    }
    this.outstanding--;
    this.signal.notify();
  }

  /**
   * Busy while rows wait or are taken (also the rows of a holder that died with autoCommit false: the next sweep makes
   * them ready again, so they are work still to do), and while a live holder has autoCommit items not yet done (a dead
   * holder's `taken` count stops counting when its lease runs out).
   */
  async tryJoin(): Promise<true | Retry> {
    const rows = await this.db.run<{ busy: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM ${this.t} WHERE status IN (1, 2)) ` +
        `OR EXISTS (SELECT 1 FROM ${this.h} WHERE tbl = $1 AND taken > 0 AND expires > now()) AS busy`,
      [this.table],
      'join failed',
    );
    return rows[0]!.busy ? RETRY : true;
  }
}
