/**
 * {@link PostgresTaskStore}: the task store on a PostgreSQL server (`pg`, asynchronous), so that {@link TaskQueue} and
 * {@link Worker} run on many hosts at once. Claims use `FOR UPDATE SKIP LOCKED`; leases, due times and schedule ticks
 * are on the server's clock (lib/postgres/tasks/rows.ts); every write that can wake someone sends `NOTIFY` on the
 * schema's channel with the payload `pq_tasks_<name>`, which wakes idle workers and `result()` waiters of every host.
 *
 * Liveness: a worker's jobs come back when their lease runs out (no process-liveness check across hosts: a pid means
 * nothing on another machine). Only the Promise classes run on it: a blocking API over a network connection is not
 * offered (`TaskQueueSync.open()` refuses a PostgreSQL target).
 *
 * @module
 * @internal
 */
import { acquireSignal, releaseSignal, type Signal } from '../../common/wait.js';
import { CANCELLED, FAILED, SUCCEEDED, type ClaimRequest, type CycleResult, type FollowUp, type JobRow, type NewJob, type Outcome, type Retention, type ScheduleRow, type StatusCode, type TaskStore } from '../../tasks/store.js';
import { Db } from '../db.js';
import { checkTarget, type PostgresDurability } from '../options.js';
import { channelOf } from '../schema.js';
import { PgClaims } from './claims.js';
import { insertArrays, insertSql, jobRow, scheduleRow, type Clock, type Q } from './rows.js';
import { ensurePgTaskSchema, NOW_MS, pgTaskTables, type PgTaskTables } from './schema.js';

/** How the store is opened. */
export interface PgTaskStoreOptions {
  name: string;
  schema: string;
  durability: PostgresDurability;
  retention: Retention;
  followUp: FollowUp;
}

type Counts = Record<'pending' | 'scheduled' | 'running' | 'succeeded' | 'failed' | 'cancelled', number>;
const STATUS_NAMES = ['pending', 'running', 'succeeded', 'failed', 'cancelled'] as const;
/** How long after the last waiter a store stops listening. */
const LISTEN_LINGER_MS = 5_000;

/** The PostgreSQL implementation of the task store. Open with {@link PostgresTaskStore.open}. */
export class PostgresTaskStore implements TaskStore {
  readonly signal: Signal;
  /** Waiters re-check at least this often without a notification (a backstop for notifications lost in a reconnect). */
  readonly backstopMs = 500;
  private readonly db: Db;
  private readonly t: PgTaskTables;
  private readonly claims: PgClaims;
  private readonly channel: string;
  private readonly payload: string;
  /** The payload of a cancel(): every waiter wakes on it, and workers ask which of their jobs it was for. */
  private readonly cancelPayload: string;
  private readonly signalKey: string;
  /**
   * Server clock minus client clock (ms), measured at open (best of 3 round trips): `skew` the middle of what the
   * round trip allows, `ahead` its upper end (see {@link Clock}: due times are written with `ahead`, so a job is never
   * due on the server before the client's clock reached its time, and every due time of this process maps the same way).
   */
  private clock: Clock = { skew: 0, ahead: 0 };
  /** `ahead` minus the lower end of the skew (the best round trip + 2 ms): a due time read back is moved this much later. */
  private margin = 2;
  private notified = 0;
  /** Cancel notifications (and re-checks) received, and the count at the last cancelRequested() query. */
  private cancels = 0;
  private cancelsChecked = -1;
  private closed = false;
  /** Listening since a waiter (an idle worker, a `result()`) asked for the version, until LISTEN_LINGER_MS after. */
  private listening = false;
  private lastWant = 0;
  private lingerTimer: NodeJS.Timeout | undefined;
  /** The last nextScheduleAt() read, valid while no notification came (and not past the backstop). */
  private schedCache: { at: number; notified: number; value: number | null } | undefined;
  private readonly onNotify = (payload: string): void => {
    const cancel = payload === '' || payload === this.cancelPayload; // '' = a re-check: anything may have happened
    if (!cancel && payload !== this.payload) return;
    if (cancel) this.cancels++;
    this.notified++;
    this.signal.notify();
  };

  private constructor(target: unknown, private readonly o: PgTaskStoreOptions, where: string) {
    const checked = checkTarget(target, where);
    this.db = new Db(checked, o.durability);
    this.t = pgTaskTables(o.schema, o.name);
    this.claims = new PgClaims(this.t, o.retention, o.followUp, () => this.clock);
    this.channel = channelOf(o.schema);
    this.payload = `pq_tasks_${o.name}`;
    this.cancelPayload = `${this.payload}:cancel`;
    this.signalKey = `pgtasks:${this.db.identity}:${this.t.jobs}`;
    this.signal = acquireSignal(this.signalKey);
  }

  /** Connects, creates the tables if needed and measures the clock skew (listening starts with the first waiter). */
  static async open(target: unknown, o: PgTaskStoreOptions, where: string): Promise<PostgresTaskStore> {
    const s = new PostgresTaskStore(target, o, where);
    try {
      await ensurePgTaskSchema(s.db, o.schema, o.name);
      let best = Infinity;
      for (let i = 0; i < 3; i++) {
        const t0 = Date.now();
        const r = await s.db.run<{ ms: string }>(`SELECT ${NOW_MS} AS ms`, [], 'open failed');
        const t1 = Date.now();
        if (t1 - t0 < best) {
          best = t1 - t0;
          // The server read its clock between t0 and t1 (client ms, floored; the server's ms rounded): server minus
          // client lay between ms - t1 - 1 and ms - t0 + 1. The upper end errs on the late side for due times.
          const ms = Number(r[0]!.ms);
          s.clock = { skew: Math.round(ms - (t0 + t1) / 2), ahead: Math.ceil(ms - t0) + 1 };
          s.margin = best + 2;
        }
      }
    } catch (err) {
      await s.close();
      throw err;
    }
    return s;
  }

  /** One statement; `prepared`: a named statement (parsed once per connection), for the hot ones. */
  private run(sql: string, params: unknown[], what: string, prepared = false): Promise<any[]> { // eslint-disable-line @typescript-eslint/no-explicit-any
    return this.db.run(sql, params, what, prepared);
  }

  /** A transaction; `notify`: wake every host's waiters at commit. */
  private async tx<R>(what: string, notify: boolean | string, fn: (q: Q) => Promise<R>): Promise<R> {
    const r = await this.db.tx(async (q) => {
      const v = await fn(q);
      if (notify) await q('SELECT pg_notify($1, $2)', [this.channel, notify === true ? this.payload : notify]);
      return v;
    }, what);
    if (notify) this.signal.notify();
    return r;
  }

  /** `, (SELECT pg_notify(...))` for a single statement: parameters `$a` (channel) and `$b` (payload). */
  private notifyCol(a: number): string {
    return `(SELECT pg_notify($${a}, $${a + 1}))`;
  }

  /**
   * Changes with every notification of this queue (no round trip). Asked only by waiters: the first call starts
   * listening (a client that only enqueues is never sent a notification), which stops {@link LISTEN_LINGER_MS} after
   * the last call. When LISTEN becomes active the listener reports a re-check, which changes the version, so a write
   * committed before that is not missed.
   */
  version(): number {
    this.lastWant = Date.now();
    if (!this.listening && !this.closed) {
      this.listening = true;
      void this.db.listener.listen(this.channel, this.onNotify);
      this.lingerTimer = setInterval(() => {
        if (Date.now() - this.lastWant <= LISTEN_LINGER_MS) return;
        this.stopListening();
      }, LISTEN_LINGER_MS);
      this.lingerTimer.unref();
    }
    return this.notified;
  }

  private stopListening(): void {
    if (!this.listening) return;
    this.listening = false;
    clearInterval(this.lingerTimer);
    this.db.listener.unlisten(this.channel, this.onNotify);
  }

  async enqueue(jobs: readonly NewJob[], now: number): Promise<number[]> {
    if (jobs.some((j) => j.key !== null)) return this.tx('enqueue failed', true, (q) => this.claims.insert(q, jobs));
    // Without keys: one statement (insert and notify), no transaction round trips.
    const rows = await this.run(`WITH ins AS (${insertSql(this.t.jobs, NOW_MS)}) SELECT id, ${this.notifyCol(10)} FROM ins`, [...insertArrays(jobs, this.clock.ahead), this.channel, this.payload], 'enqueue failed', true);
    this.signal.notify();
    // ids come from one sequence in row order: sorted, they follow the input order.
    return rows.map((r: { id: string }) => Number(r.id)).sort((a: number, b: number) => a - b);
  }

  async getJob(id: number): Promise<JobRow | undefined> {
    const rows = await this.run(`SELECT * FROM ${this.t.jobs} WHERE id = $1`, [id], 'getJob failed', true);
    return rows.length === 0 ? undefined : jobRow(rows[0], this.clock);
  }

  async list(q: { status?: StatusCode; due?: 'pending' | 'scheduled'; task?: string; limit: number; after: number; now: number }): Promise<JobRow[]> {
    const where = ['id > $1'];
    const args: unknown[] = [q.after];
    if (q.status !== undefined) where.push(`status = $${args.push(q.status)}`);
    if (q.due !== undefined) where.push(q.due === 'pending' ? `run_at <= ${NOW_MS}` : `run_at > ${NOW_MS}`);
    if (q.task !== undefined) where.push(`task = $${args.push(q.task)}`);
    const sql = `SELECT * FROM ${this.t.jobs} WHERE ${where.join(' AND ')} ORDER BY id LIMIT $${args.push(q.limit)}`;
    return (await this.run(sql, args, 'list failed')).map((r) => jobRow(r, this.clock));
  }

  async counts(task: string | undefined): Promise<Counts> {
    const out: Counts = { pending: 0, scheduled: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 };
    const rows = await this.run(
      `SELECT status, status = 0 AND run_at > ${NOW_MS} AS later, count(*)::int AS n FROM ${this.t.jobs} ` +
        `${task === undefined ? '' : 'WHERE task = $1'} GROUP BY 1, 2`,
      task === undefined ? [] : [task],
      'counts failed',
    );
    for (const r of rows as { status: number; later: boolean; n: number }[]) out[r.later ? 'scheduled' : STATUS_NAMES[r.status]!] += r.n;
    return out;
  }

  cancel(id: number): Promise<boolean> {
    return this.tx('cancel failed', this.cancelPayload, async (q) => {
      if (await this.claims.cancelIfReady(q, id)) return true;
      return (await q(`UPDATE ${this.t.jobs} SET cancel_requested = 1 WHERE id = $1 AND status = 1 RETURNING id`, [id])).length > 0;
    });
  }

  retry(id: number): Promise<boolean> {
    return this.tx('retry failed', true, async (q) => {
      const row = (await q(`SELECT status, key FROM ${this.t.jobs} WHERE id = $1 FOR UPDATE`, [id]))[0] as { status: number; key: string | null } | undefined;
      if (!row || (row.status !== FAILED && row.status !== CANCELLED)) return false;
      if (row.key !== null && (await q(`SELECT 1 FROM ${this.t.jobs} WHERE key = $1 AND status < 2`, [row.key])).length > 0) return false;
      await q(
        `UPDATE ${this.t.jobs} SET status = 0, attempts = 0, run_at = ${NOW_MS}, finished_at = NULL, started_at = NULL, ` +
          'error = NULL, result = NULL, progress = NULL, cancel_requested = 0, owner = NULL, lease_until = NULL WHERE id = $1',
        [id],
      );
      return true;
    });
  }

  async remove(id: number): Promise<boolean> {
    const rows = await this.run(`WITH d AS (DELETE FROM ${this.t.jobs} WHERE id = $1 RETURNING id) SELECT id, ${this.notifyCol(2)} FROM d`, [id, this.channel, this.payload], 'remove failed');
    this.signal.notify();
    return rows.length > 0;
  }

  async purge(statuses: readonly StatusCode[], finishedBefore: number): Promise<number> {
    const rows = await this.run(
      `WITH d AS (DELETE FROM ${this.t.jobs} WHERE status = ANY($1::smallint[]) AND finished_at <= $2 RETURNING 1) SELECT count(*)::int AS n FROM d`,
      [statuses, Math.round(finishedBefore + this.clock.skew)],
      'purge failed',
    );
    return (rows[0] as { n: number }).n;
  }

  async setPaused(task: string, paused: boolean): Promise<void> {
    const p = this.t.paused;
    if (paused) await this.run(`INSERT INTO ${p} (task) VALUES ($1) ON CONFLICT DO NOTHING`, [task], 'pause failed');
    else {
      const sql = task === '*' ? `WITH d AS (DELETE FROM ${p}) ` : `WITH d AS (DELETE FROM ${p} WHERE task = $3) `;
      await this.run(`${sql}SELECT ${this.notifyCol(1)}`, task === '*' ? [this.channel, this.payload] : [this.channel, this.payload, task], 'resume failed');
    }
    this.signal.notify();
  }

  async cycle(outcomes: readonly Outcome[], claim: ClaimRequest | null): Promise<CycleResult> {
    // The common rounds are one statement, without BEGIN/COMMIT: a claim alone (an idle worker), or successes of
    // this worker plus a claim of one group without rate limit (a busy worker).
    const simpleClaim = claim === null || (claim.groups.length === 1 && !claim.groups[0]!.rate);
    const owner = outcomes[0]?.owner;
    if (simpleClaim && this.o.retention.succeeded !== 0 && (outcomes.length > 0 || claim) && outcomes.every((o) => o.kind === 'succeeded' && o.owner === owner)) {
      const wins = outcomes as readonly Extract<Outcome, { kind: 'succeeded' }>[];
      const r = await this.claims.settleAndClaim((sql, params) => this.run(sql, params ?? [], 'task round failed', true), wins, claim, [this.channel, this.payload]);
      const settled: (StatusCode | null)[] = outcomes.map((o) => (r.settled.has(o.id) ? SUCCEEDED : null));
      const rest = outcomes.filter((o) => !r.settled.has(o.id));
      if (rest.length > 0) {
        // follow-ups (onComplete) and lost claims: the transaction path; a lost claim stays null there too
        const again = await this.tx('task round failed', true, (q) => this.claims.settleAll(q, rest));
        let k = 0;
        for (let i = 0; i < outcomes.length; i++) if (settled[i] === null) settled[i] = again[k++]!;
      } else if (r.settled.size > 0) this.signal.notify();
      return { settled, claimed: r.claimed, rateWaitUntil: null };
    }
    return this.tx('task round failed', outcomes.length > 0, async (q) => {
      const settled = outcomes.length === 0 ? [] : await this.claims.settleAll(q, outcomes);
      const c = claim ? await this.claims.claim(q, claim) : { claimed: [], rateWaitUntil: null };
      return { settled, claimed: c.claimed, rateWaitUntil: c.rateWaitUntil };
    });
  }

  async renew(owner: string, jobs: readonly { id: number; attempt: number }[], leaseUntil: number): Promise<{ lost: number[]; cancelled: number[] }> {
    const j = this.t.jobs;
    const rows = await this.run(
      `UPDATE ${j} SET lease_until = ${NOW_MS} + $4 FROM unnest($1::bigint[], $2::int[]) AS v(id, attempt) ` +
        `WHERE ${j}.id = v.id AND ${j}.status = 1 AND ${j}.attempts = v.attempt AND ${j}.owner = $3 RETURNING ${j}.id, ${j}.cancel_requested`,
      [jobs.map((x) => x.id), jobs.map((x) => x.attempt), owner, Math.max(0, Math.round(leaseUntil - Date.now()))],
      'lease renewal failed',
      true,
    );
    const held = new Map<number, number>(rows.map((r: { id: string; cancel_requested: number }) => [Number(r.id), Number(r.cancel_requested)]));
    return {
      lost: jobs.filter((x) => !held.has(x.id)).map((x) => x.id),
      cancelled: jobs.filter((x) => held.get(x.id) === 1).map((x) => x.id),
    };
  }

  async setProgress(id: number, attempt: number, owner: string, progress: Buffer): Promise<boolean> {
    const rows = await this.run(
      `UPDATE ${this.t.jobs} SET progress = $4 WHERE id = $1 AND status = 1 AND attempts = $2 AND owner = $3 RETURNING id`,
      [id, attempt, owner, progress],
      'progress failed',
    );
    return rows.length > 0;
  }

  /**
   * Which of these jobs have a cancel request (read-only; asked by a worker woken by a notification while jobs run).
   * No query while no cancel was notified since the last one (every cancel() notifies with its own payload; a
   * re-check after LISTEN became active counts as one): other writes of the queue wake workers all the time.
   */
  async cancelRequested(ids: readonly number[]): Promise<number[]> {
    if (ids.length === 0) return [];
    if (this.cancels === this.cancelsChecked && this.listening && this.db.listener.isActive(this.channel)) return [];
    this.cancelsChecked = this.cancels;
    const rows = await this.run(`SELECT id FROM ${this.t.jobs} WHERE id = ANY($1::bigint[]) AND cancel_requested = 1`, [ids], 'cancel check failed', true);
    return rows.map((r: { id: string }) => Number(r.id));
  }

  /** Returns running jobs whose lease ran out (charging the attempt) and deletes finished jobs past retention. */
  sweep(): Promise<void> {
    return this.claims.sweep((sql, params) => this.run(sql, params ?? [], 'sweep failed'), (notify, fn) => this.tx('sweep failed', notify, fn));
  }

  async nextRunAt(tasks: readonly string[]): Promise<number | null> {
    if (tasks.length === 0) return null;
    const rows = await this.run(`SELECT min(run_at) AS m FROM ${this.t.jobs} WHERE status = 0 AND task = ANY($1::text[])`, [tasks], 'nextRunAt failed');
    const m = (rows[0] as { m: string | null }).m;
    // Never earlier than the server's due time: a worker woken before it would find nothing and sleep on.
    return m === null ? null : Number(m) - this.clock.ahead + this.margin;
  }

  // Schedule times are stored as the clients compute them, with no skew shift: a cron tick grid is absolute (whole
  // seconds, minutes...), and shifting it by each process's own skew estimate (which differ by a millisecond or two)
  // would put one tick at two instants and fire it twice. The compare-and-set on next_run_at makes every tick one job.
  async putSchedule(row: ScheduleRow): Promise<void> {
    this.schedCache = undefined;
    const s = this.t.schedules;
    await this.run(
      `WITH u AS (INSERT INTO ${s} (id, task, cron, every, tz, data, options, misfire, def, next_run_at, last_run_at) ` +
        'VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL) ON CONFLICT (id) DO UPDATE SET ' +
        'task = excluded.task, cron = excluded.cron, every = excluded.every, tz = excluded.tz, data = excluded.data, ' +
        `options = excluded.options, misfire = excluded.misfire, def = excluded.def, next_run_at = excluded.next_run_at WHERE ${s}.def <> excluded.def RETURNING 1) ` +
        `SELECT ${this.notifyCol(11)} FROM u`,
      [row.id, row.task, row.cron, row.every, row.tz, row.data, row.options, row.misfire, row.def, Math.round(row.next_run_at), this.channel, this.payload],
      'schedule failed',
    );
    this.signal.notify();
  }

  async removeSchedule(id: string): Promise<boolean> {
    this.schedCache = undefined;
    return (await this.run(`DELETE FROM ${this.t.schedules} WHERE id = $1 RETURNING id`, [id], 'unschedule failed')).length > 0;
  }

  async listSchedules(): Promise<ScheduleRow[]> {
    return (await this.run(`SELECT * FROM ${this.t.schedules} ORDER BY id`, [], 'schedules failed')).map((r) => scheduleRow(r, 0));
  }

  /**
   * Asked by a worker before every sleep: answered from the last read while no notification of this queue came since
   * (every schedule write notifies; this instance's own writes drop the cache) and the backstop has not passed, so a
   * busy worker does not pay a round trip per round for it.
   */
  async nextScheduleAt(): Promise<number | null> {
    const c = this.schedCache;
    const now = Date.now();
    // a cached time already due is read again: another host may have fired that tick without a notification
    const fresh = c && c.notified === this.notified && now - c.at < this.backstopMs && (c.value === null || c.value > now);
    if (fresh && this.listening && this.db.listener.isActive(this.channel)) return c!.value;
    const seen = this.notified;
    const m = ((await this.run(`SELECT min(next_run_at) AS m FROM ${this.t.schedules}`, [], 'schedules failed'))[0] as { m: string | null }).m;
    const value = m === null ? null : Number(m);
    this.schedCache = { at: now, notified: seen, value };
    return value;
  }

  fireSchedule(id: string, expected: number, next: number, lastRunAt: number | null, jobs: readonly NewJob[]): Promise<boolean> {
    this.schedCache = undefined;
    return this.tx('schedule tick failed', jobs.length > 0, async (q) => {
      const ok = (await q(
        `UPDATE ${this.t.schedules} SET next_run_at = $1, last_run_at = COALESCE($2, last_run_at) WHERE id = $3 AND next_run_at = $4 RETURNING id`,
        [Math.round(next), lastRunAt === null ? null : Math.round(lastRunAt), id, Math.round(expected)],
      )).length === 1;
      if (ok && jobs.length > 0) await this.claims.insert(q, jobs);
      return ok;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopListening();
    releaseSignal(this.signalKey);
    await this.db.end();
  }
}
