/**
 * What the plain and the ack core on PostgreSQL share: opening (tables, holder row), LISTEN while gets find the queue
 * empty, puts (single statements, group commit, maxSize under an advisory lock), peek and counts, the sweep that
 * returns rows of dead holders and expired leases, and the idle short-cut that spares the server a query per poll
 * while nothing was notified.
 *
 * These cores implement {@link QueueCore} with Promise-returning methods: the Promise shell awaits whatever a core
 * returns, so one shell drives both the SQLite and the PostgreSQL cores.
 *
 * @module
 */
import { createHash, randomUUID } from 'node:crypto';
import type { PutEntry } from '../common/core.js';
import { argTypeError, describe, rangeError } from '../common/errors.js';
import { decodeError, resolveSerializer, type Codec } from '../common/serializer.js';
import { acquireSignal, releaseSignal, RETRY, type Retry, type Signal } from '../common/wait.js';
import { Db } from './db.js';
import { checkTarget, pgTableName, type ResolvedPgOptions } from './options.js';
import { channelOf, ensureSchema, ident } from './schema.js';

/** A holder row lives this long past its last heartbeat; a taken row of an expired holder is ready again. */
export const HOLDER_LEASE_MS = 10_000;
const HEARTBEAT_MS = 2_000;
/** Backstop: an idle waiter queries at least this often even without a notification. */
const BACKSTOP_MS = 500;
/**
 * An instance listens for notifications only while gets find the queue empty, and this long after the last one: a
 * client that only puts (or only gets from a full queue) never makes the server deliver a notification to it.
 */
const LISTEN_LINGER_MS = 5_000;
/** How often an empty get sweeps for rows of dead holders (visibility leases: every {@link LEASE_SWEEP_MS}). */
const SWEEP_MS = 1_000;
const LEASE_SWEEP_MS = 20;
/**
 * After this many rows put or taken by an instance, it makes sure once that the table has planner statistics (see
 * {@link PgCoreBase.ensureStats}).
 */
const STATS_AFTER_ROWS = 1_000;

/** A row as the claim statements return it. @internal */
export interface ClaimedRow {
  id: string;
  data: Buffer;
  prio: number;
  attempts: number;
  created?: Date;
}

/** Shared machinery of the PostgreSQL cores. @internal */
export abstract class PgCoreBase<T> {
  readonly signal: Signal;
  readonly corruptSkipped = 0;
  protected readonly codec: Codec<T>;
  protected readonly db: Db;
  protected readonly t: string;
  protected readonly h: string;
  readonly table: string;
  protected readonly owner = randomUUID();
  protected readonly channel: string;
  protected readonly orderBy: string;
  private readonly signalKey: string;
  private heartbeat: NodeJS.Timeout | undefined;
  private dirty = true;
  private idleSince = 0;
  private lastSweep = 0;
  private listening = false;
  private lastEmpty = 0;
  private rowsMoved = 0;
  private statsTask: Promise<void> | undefined;
  private readonly onSignal = (): void => {
    this.dirty = true;
  };
  private readonly onNotify = (payload: string): void => {
    if (payload === '' || payload === this.table) this.signal.notify();
  };
  protected closed = false;

  protected constructor(target: unknown, protected readonly opts: ResolvedPgOptions, where: string) {
    const checked = checkTarget(target, where);
    this.codec = resolveSerializer<T>(opts.serializer, opts.unique);
    this.db = new Db(checked, opts.durability);
    this.table = pgTableName(opts);
    this.t = `${ident(opts.schema)}.${ident(this.table)}`;
    this.h = `${ident(opts.schema)}.pq_holders`;
    this.channel = channelOf(opts.schema);
    // priority is 0 in fifo/filo tables: ordering by (priority, id) in every order lets the partial index on
    // (priority, id) WHERE status = 1 serve the claim (forwards or backwards) without a sort.
    this.orderBy = opts.order === 'filo' ? 'priority DESC, id DESC' : 'priority, id';
    this.signalKey = `pg:${this.db.identity}:${this.t}`;
    this.signal = acquireSignal(this.signalKey);
    this.signal.on(this.onSignal);
  }

  /** Creates the tables, registers this instance as a holder, starts LISTEN and the heartbeat. */
  async start(): Promise<void> {
    try {
      await ensureSchema(this.db, this.opts.schema, this.table);
      await this.db.run(`INSERT INTO ${this.h} (id, tbl, expires) VALUES ($1, $2, now() + $3 * interval '1 ms')`, [this.owner, this.table, HOLDER_LEASE_MS], 'open failed');
      await this.sweep();
    } catch (err) {
      this.close();
      await this.end();
      throw err;
    }
    this.heartbeat = setInterval(() => void this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Pushes this holder's lease forward (re-registering it if it expired and was removed meanwhile). */
  private async beat(): Promise<void> {
    if (this.listening && performance.now() - this.lastEmpty > LISTEN_LINGER_MS) {
      this.listening = false;
      this.db.listener.unlisten(this.channel, this.onNotify);
    }
    try {
      await this.db.run(
        `INSERT INTO ${this.h} (id, tbl, expires) VALUES ($1, $2, now() + $3 * interval '1 ms') ON CONFLICT (id) DO UPDATE SET expires = EXCLUDED.expires`,
        [this.owner, this.table, HOLDER_LEASE_MS],
        'heartbeat failed',
      );
      if (Math.random() < 0.1) await this.db.run(`DELETE FROM ${this.h} WHERE expires < now() - interval '1 minute'`, [], 'heartbeat failed');
    } catch {
      // a lost connection: the next beat retries; until then the lease runs on
    }
  }

  protected checkPriority(priority: unknown): number | undefined {
    if (this.opts.order !== 'priority') {
      if (priority !== undefined) throw argTypeError(`The "priority" option is only for queues opened with order 'priority'. ${describe(priority)}`);
      return undefined;
    }
    if (priority === undefined) return 0;
    if (typeof priority !== 'number') throw argTypeError(`The "priority" option must be of type number. ${describe(priority)}`);
    if (!Number.isSafeInteger(priority)) throw rangeError(`The "priority" option must be a safe integer. Received ${priority}`);
    return priority;
  }

  preparePut(item: T, priority: unknown): PutEntry {
    const p = this.checkPriority(priority);
    return { data: this.codec.encode(item), priority: p };
  }

  tooBig(count: number): boolean {
    return this.opts.maxSize > 0 && count > this.opts.maxSize;
  }

  private ukey(e: PutEntry): Buffer | null {
    return this.opts.unique ? createHash('sha256').update(e.data).digest() : null;
  }

  /** Inserts `entries` in one statement (in the caller's transaction when `q` is given); ids in order, null = dropped. */
  private async insert(entries: PutEntry[], q?: (sql: string, p: unknown[]) => Promise<{ id: string; ukey: Buffer | null }[]>): Promise<(number | null)[]> {
    const keys = entries.map((e) => this.ukey(e));
    const sql =
      `WITH ins AS (INSERT INTO ${this.t} (data, priority, ukey) ` +
      `SELECT d, p, k FROM unnest($1::bytea[], $2::bigint[], $3::bytea[]) WITH ORDINALITY AS x(d, p, k, n) ORDER BY n ` +
      `${this.opts.unique ? 'ON CONFLICT (ukey) WHERE status IN (1, 2) DO NOTHING ' : ''}RETURNING id, ukey) ` +
      `SELECT i.id, i.ukey, (SELECT pg_notify($4, $5)) AS n FROM ins i ORDER BY i.id`;
    const params = [entries.map((e) => e.data), entries.map((e) => e.priority ?? 0), keys, this.channel, this.table];
    const rows = q ? await q(sql, params) : await this.db.run<{ id: string; ukey: Buffer | null }>(sql, params, 'put failed', true);
    this.signal.notify();
    this.moved(rows.length);
    if (!this.opts.unique) return rows.map((r) => Number(r.id));
    const byKey = new Map(rows.map((r) => [r.ukey!.toString('hex'), Number(r.id)]));
    return keys.map((k) => {
      const hex = k!.toString('hex');
      const id = byKey.get(hex);
      byKey.delete(hex); // a second equal item in the same batch is a duplicate
      return id ?? null;
    });
  }

  /** Inserts as many of `entries` as fit (all when `all`, else none), under the table's advisory lock. */
  private async insertBounded(entries: PutEntry[], all: boolean): Promise<(number | null | Retry)[]> {
    return this.db.tx(async (q) => {
      await q(`SELECT pg_advisory_xact_lock(hashtext($1))`, [this.t]);
      const [{ n }] = (await q(`SELECT count(*)::int AS n FROM ${this.t} WHERE status = 1`)) as [{ n: number }];
      const room = Math.max(0, this.opts.maxSize - n);
      const fit = all ? (entries.length <= room ? entries.length : 0) : Math.min(room, entries.length);
      const ids: (number | null | Retry)[] = fit > 0 ? await this.insert(entries.slice(0, fit), q as never) : [];
      while (ids.length < entries.length) ids.push(RETRY);
      return ids;
    }, 'put failed');
  }

  async tryPut(entry: PutEntry): Promise<number | null | Retry> {
    return (await this.commitBatch([entry]))[0]!;
  }

  async tryPutMany(entries: PutEntry[]): Promise<(number | null)[] | Retry> {
    if (this.opts.maxSize === 0) return this.insert(entries);
    const r = await this.insertBounded(entries, true);
    return r[0] === RETRY ? RETRY : (r as (number | null)[]);
  }

  async commitBatch(entries: PutEntry[]): Promise<(number | null | Retry)[]> {
    if (this.opts.maxSize === 0) return this.insert(entries);
    return this.insertBounded(entries, false);
  }

  /**
   * Whether a get may skip its query: nothing was notified since the last empty claim, LISTEN is live, the backstop
   * time has not passed and no sweep is due.
   */
  protected idle(): boolean {
    if (this.dirty || !this.listening || !this.db.listener.isActive(this.channel)) return false;
    const now = performance.now();
    return now - this.idleSince < BACKSTOP_MS && !this.sweepDue(now);
  }

  private sweepDue(now: number): boolean {
    return now - this.lastSweep >= (this.opts.visibilityTimeout > 0 ? LEASE_SWEEP_MS : SWEEP_MS);
  }

  /** Claims up to `max` rows: `status = 1` rows in queue order, skipping rows other clients are claiming. */
  protected async claim(max: number, claimSql: (pick: string) => string, params: unknown[]): Promise<ClaimedRow[]> {
    if (this.idle()) {
      this.lastEmpty = performance.now();
      return [];
    }
    this.dirty = false;
    const pick = `SELECT id FROM ${this.t} WHERE status = 1 ORDER BY ${this.orderBy} LIMIT ${max} FOR UPDATE SKIP LOCKED`;
    let rows = await this.db.run<ClaimedRow>(claimSql(pick), params, 'get failed', true);
    if (rows.length === 0 && this.sweepDue(performance.now()) && (await this.sweep()) > 0) {
      rows = await this.db.run<ClaimedRow>(claimSql(pick), params, 'get failed', true);
    }
    if (rows.length === 0) {
      this.idleSince = performance.now();
      this.wantWakeups();
    }
    this.moved(rows.length);
    return rows.sort((a, b) => (this.opts.order === 'filo' ? Number(b.id) - Number(a.id) : a.prio - b.prio || Number(a.id) - Number(b.id)));
  }

  private moved(n: number): void {
    this.rowsMoved += n;
    if (this.rowsMoved >= STATS_AFTER_ROWS && this.statsTask === undefined && !this.closed) this.statsTask = this.ensureStats();
  }

  /**
   * Gives a table that has never been analyzed with rows in it its planner statistics (`ANALYZE`), once per instance,
   * in the background. Without them the planner takes `status = 1` to match 0.5 % of the rows and, for a claim of
   * more rows than that, scans and sorts every ready row instead of reading the first ones from the `_ready` index
   * (getMany(100) on 10,000 ready rows: about half the speed). Autovacuum gives a table statistics only after its
   * first minute; an empty table's analyze records none, and an analyze with rows keeps them for later. Best effort:
   * a role that may not analyze the table gets a server warning, which the library ignores.
   */
  private async ensureStats(): Promise<void> {
    try {
      const rows = await this.db.run(`SELECT 1 FROM pg_stats WHERE schemaname = $1 AND tablename = $2 AND attname = 'status'`, [this.opts.schema, this.table], 'analyze failed');
      if (rows.length === 0 && !this.closed) await this.db.run(`ANALYZE ${this.t}`, [], 'analyze failed');
    } catch {
      // statistics are an optimisation: a lost connection or a missing privilege changes nothing else
    }
  }

  /**
   * A get found the queue empty (and may wait): listen for notifications from now on, until {@link LISTEN_LINGER_MS}
   * after the last empty get. Until LISTEN is active the waiter polls the server; when it becomes active the listener
   * reports a re-check, which finds a put committed in between.
   */
  private wantWakeups(): void {
    this.lastEmpty = performance.now();
    if (this.listening || this.closed) return;
    this.listening = true;
    void this.db.listener.listen(this.channel, this.onNotify);
  }

  /** Makes rows of dead holders and rows whose lease (server clock) ran out ready again. */
  protected async sweep(): Promise<number> {
    this.lastSweep = performance.now();
    const rows = await this.db.run(
      `WITH r AS (UPDATE ${this.t} t SET status = 1, owner = NULL, lease = NULL WHERE status = 2 AND ((lease IS NOT NULL AND lease <= now()) ` +
        `OR NOT EXISTS (SELECT 1 FROM ${this.h} h WHERE h.id = t.owner AND h.expires > now())) RETURNING id) ` +
        `SELECT count(*)::int AS n, (SELECT pg_notify($1, $2) FROM r LIMIT 1) FROM r`,
      [this.channel, this.table],
      'get failed',
    );
    return (rows[0] as { n: number } | undefined)?.n ?? 0;
  }

  /** Decodes a claimed row's bytes. */
  protected decode(row: { id: string; data: Buffer }): T {
    try {
      return this.codec.decode(row.data);
    } catch (cause) {
      throw decodeError(this.codec as Codec<unknown>, `${row.id} of ${this.table}`, cause, Number(row.id));
    }
  }

  async peek(): Promise<T | undefined> {
    const rows = await this.db.run<{ id: string; data: Buffer }>(`SELECT id, data FROM ${this.t} WHERE status = 1 ORDER BY ${this.orderBy} LIMIT 1`, [], 'peek failed');
    return rows[0] ? this.decode(rows[0]) : undefined;
  }

  async size(): Promise<number> {
    const rows = await this.db.run<{ n: number }>(`SELECT count(*)::int AS n FROM ${this.t} WHERE status = 1`, [], 'size failed');
    return rows[0]!.n;
  }

  async empty(): Promise<boolean> {
    const rows = await this.db.run(`SELECT 1 FROM ${this.t} WHERE status = 1 LIMIT 1`, [], 'empty failed');
    return rows.length === 0;
  }

  async full(): Promise<boolean> {
    return this.opts.maxSize > 0 && (await this.size()) >= this.opts.maxSize;
  }

  /** Gives back the rows this instance holds and removes its holder row (close()). */
  async releaseHeld(): Promise<void> {
    await this.db.run(
      `WITH r AS (UPDATE ${this.t} SET status = 1, owner = NULL, lease = NULL WHERE status = 2 AND owner = $1 RETURNING id), ` +
        `d AS (DELETE FROM ${this.h} WHERE id = $1) SELECT (SELECT pg_notify($2, $3) FROM r LIMIT 1)`,
      [this.owner, this.channel, this.table],
      'close failed',
    );
    this.signal.notify();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.signal.off(this.onSignal);
    releaseSignal(this.signalKey);
    if (this.listening) this.db.listener.unlisten(this.channel, this.onNotify);
    this.listening = false;
  }

  /** Ends the pool (when the queue made it). */
  async end(): Promise<void> {
    await this.statsTask;
    await this.db.end();
  }
}
