/**
 * The core of {@link PostgresAckQueue}: a get marks rows taken (status 2) with this instance as owner and, with a
 * `visibilityTimeout`, a lease on the server's clock. ack/nack/ackFailed change a row only while this instance still
 * holds it (status 2, owner = this instance), so an outcome from a holder whose lease was taken over changes nothing.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { ForeignMessageError, QueueError } from '../common/errors.js';
import { validateOptions } from '../common/options.js';
import { decodeError, type Codec } from '../common/serializer.js';
import { RETRY, type Retry } from '../common/wait.js';
import { messageId, type AckMessage, type AckQueueItem, type AckStatus, type ClearAckedOptions } from '../sqlite-queue/ack-types.js';
import { PgCoreBase } from './core-base.js';
import type { ResolvedPgOptions } from './options.js';

const issuedBy = new WeakMap<object, PgAckCore<unknown>>();
const STATUS: Record<number, AckStatus> = { 1: 'ready', 2: 'unack', 5: 'acked', 9: 'failed' };

/** @internal */
export class PgAckCore<T> extends PgCoreBase<T> {
  private taken = 0;
  /** Ids whose get failed to decode: this instance may ackFailed them although it does not hold them. */
  private readonly unreadable = new Set<number>();

  private constructor(target: unknown, opts: ResolvedPgOptions, where: string) {
    super(target, opts, where);
  }

  static async open<T>(target: unknown, opts: ResolvedPgOptions, where: string): Promise<PgAckCore<T>> {
    const core = new PgAckCore<T>(target, opts, where);
    await core.start();
    return core;
  }

  private async take(max: number): Promise<AckMessage<T>[] | Retry> {
    const rows = await this.claim(
      max,
      (pick) =>
        `WITH c AS (${pick}) UPDATE ${this.t} t SET status = 2, owner = $1, attempts = t.attempts + 1, ` +
        `lease = CASE WHEN $2::int > 0 THEN now() + $2::int * interval '1 ms' END FROM c WHERE t.id = c.id ` +
        'RETURNING t.id, t.data, t.priority::float8 AS prio, t.attempts',
      [this.owner, this.opts.visibilityTimeout],
    );
    if (rows.length === 0) return RETRY;
    const out: AckMessage<T>[] = [];
    for (const r of rows) {
      let data: T;
      try {
        data = this.decode(r);
      } catch (err) {
        if (this.unreadable.size < 1024) this.unreadable.add(Number(r.id));
        await this.db.run(`UPDATE ${this.t} SET status = 1, owner = NULL, lease = NULL, attempts = attempts - 1 WHERE id = ANY($1::bigint[]) AND owner = $2 AND status = 2`, [rows.map((x) => x.id), this.owner], 'get failed');
        throw err;
      }
      const msg = { id: Number(r.id), data, attempts: r.attempts };
      issuedBy.set(msg, this as PgAckCore<unknown>);
      out.push(msg);
    }
    this.taken += out.length;
    return out;
  }

  async tryGet(): Promise<AckMessage<T> | Retry> {
    const r = await this.take(1);
    return r === RETRY ? RETRY : r[0]!;
  }

  tryGetMany(max: number): Promise<AckMessage<T>[] | Retry> {
    return this.take(max);
  }

  taskDone(): void {
    if (this.taken === 0) throw new QueueError('taskDone() was called more times than items were taken', 'ERR_QUEUE_TASK_DONE');
    this.taken--;
  }

  async tryJoin(): Promise<true | Retry> {
    const rows = await this.db.run<{ busy: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${this.t} WHERE status IN (1, 2)) AS busy`, [], 'join failed');
    return rows[0]!.busy ? RETRY : true;
  }

  /** The id of `idOrMessage`; a message handed out by another instance is a {@link ForeignMessageError}. */
  private ownId(idOrMessage: unknown, method: string): number {
    const id = messageId(idOrMessage, method);
    const from = idOrMessage !== null && typeof idOrMessage === 'object' ? issuedBy.get(idOrMessage) : undefined;
    if (from !== undefined && from !== (this as PgAckCore<unknown>)) {
      throw new ForeignMessageError(
        `${method}() was given message ${id} from another queue instance (${from.table}); this is ${this.table}. ` +
          'Ack, nack, fail or update a message through the instance whose get() returned it.',
      );
    }
    return id;
  }

  /** ack / nack / fail: changes the row only while this instance holds it. */
  async setStatus(idOrMessage: unknown, to: 'ack' | 'nack' | 'fail', method: string): Promise<boolean> {
    const id = this.ownId(idOrMessage, method);
    const set = to === 'ack' ? 'status = 5' : to === 'fail' ? 'status = 9' : 'status = 1, owner = NULL, lease = NULL';
    const parkable = to === 'fail' && this.unreadable.has(id) ? ' OR (id = $1 AND status = 1)' : '';
    const rows = await this.db.run(
      `WITH u AS (UPDATE ${this.t} SET ${set} WHERE (id = $1 AND status = 2 AND owner = $2)${parkable} RETURNING id) ` +
        `SELECT id${to === 'nack' ? ', (SELECT pg_notify($3, $4))' : ''} FROM u`,
      to === 'nack' ? [id, this.owner, this.channel, this.table] : [id, this.owner],
      `${method} failed`,
      true,
    );
    if (rows.length > 0) this.signal.notify();
    if (rows.length > 0 && to === 'fail') this.unreadable.delete(id);
    return rows.length > 0;
  }

  async countStatus(which: 'unack' | 'acked' | 'failed'): Promise<number> {
    const code = which === 'unack' ? 2 : which === 'acked' ? 5 : 9;
    const rows = await this.db.run<{ n: number }>(`SELECT count(*)::int AS n FROM ${this.t} WHERE status = $1`, [code], 'count failed');
    return rows[0]!.n;
  }

  readyCount(): Promise<number> {
    return this.size();
  }

  async clearAcked(options: unknown): Promise<number> {
    const o = validateOptions<ClearAckedOptions>(
      options,
      { keepLatest: { kind: 'integer', min: 0 }, maxDelete: { kind: 'integer', min: 0 }, includeFailed: { kind: 'boolean' } },
      'clearAcked()',
    );
    const statuses = o.includeFailed ? '(5, 9)' : '(5)';
    const keep = o.keepLatest ?? 0;
    const limit = o.maxDelete ? `LIMIT ${o.maxDelete}` : '';
    const rows = await this.db.run<{ n: number }>(
      `WITH k AS (SELECT id FROM ${this.t} WHERE status IN ${statuses} ORDER BY id DESC LIMIT ${keep}), ` +
        `v AS (SELECT id FROM ${this.t} WHERE status IN ${statuses} AND id NOT IN (SELECT id FROM k) ORDER BY id ${limit}), ` +
        `d AS (DELETE FROM ${this.t} t USING v WHERE t.id = v.id RETURNING 1) SELECT count(*)::int AS n FROM d`,
      [],
      'clearAcked failed',
    );
    return rows[0]!.n;
  }

  async update(idOrMessage: unknown, data: T): Promise<boolean> {
    const id = this.ownId(idOrMessage, 'update');
    const bytes = this.codec.encode(data);
    const ukey = this.opts.unique ? createHash('sha256').update(bytes).digest() : null;
    const rows = await this.db.run(`UPDATE ${this.t} SET data = $2, ukey = $3 WHERE id = $1 RETURNING id`, [id, bytes, ukey], 'update failed');
    return rows.length > 0;
  }

  async items(): Promise<AckQueueItem<T>[]> {
    const rows = await this.db.run<{ id: string; data: Buffer; status: number; attempts: number; ts: number }>(
      `SELECT id, data, status, attempts, (extract(epoch FROM created) * 1000)::float8 AS ts FROM ${this.t} ORDER BY id`,
      [],
      'items failed',
    );
    return rows.map((r) => {
      const base = { id: Number(r.id), status: STATUS[r.status] ?? 'ready', attempts: r.attempts, timestamp: Math.round(r.ts) };
      try {
        return { ...base, data: this.codec.decode(r.data) };
      } catch (cause) {
        return { ...base, error: decodeError(this.codec as Codec<unknown>, `${r.id} of ${this.table}`, cause, Number(r.id)) };
      }
    });
  }
}
