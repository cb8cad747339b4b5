/**
 * {@link SqliteTaskStore}: the task store on a SQLite file (better-sqlite3, synchronous). Connection and durability
 * settings come from lib/sqlite-queue/connection.ts; every read-then-write runs in `BEGIN IMMEDIATE`.
 *
 * @module
 * @internal
 */
import type Database from 'better-sqlite3';
import { acquireSignal, releaseSignal, type Signal } from '../../common/wait.js';
import { checkDbPath, openConnection, translateError, type Durability } from '../../sqlite-queue/connection.js';
import {
  CANCELLED,
  FAILED,
  READY,
  RUNNING,
  SUCCEEDED,
  type ClaimRequest,
  type CycleResult,
  type FollowUp,
  type JobRow,
  type NewJob,
  type Outcome,
  type Retention,
  type ScheduleRow,
  type StatusCode,
  type SyncTaskStore,
} from '../store.js';
import { ClaimEngine, marks } from './claims.js';
import { ensureTaskSchema, taskTables, type TaskTables } from './schema.js';

/** How the store is opened. */
export interface SqliteTaskStoreOptions {
  name: string;
  durability: Durability;
  busyTimeout: number;
  retention: Retention;
  followUp: FollowUp;
}

type Counts = Record<'pending' | 'scheduled' | 'running' | 'succeeded' | 'failed' | 'cancelled', number>;
const STATUS_NAMES = ['pending', 'running', 'succeeded', 'failed', 'cancelled'] as const;

/** The SQLite implementation of the task store; every method is synchronous. */
export class SqliteTaskStore implements SyncTaskStore {
  readonly signal: Signal;
  readonly file: string;
  private readonly db: Database.Database;
  private readonly t: TaskTables;
  private readonly engine: ClaimEngine;
  private readonly signalKey: string;
  private readonly versionStmt: Database.Statement;
  private readonly getStmt: Database.Statement;
  private readonly txCycle: (outcomes: readonly Outcome[], claim: ClaimRequest | null) => CycleResult;
  private readonly txEnqueue: (jobs: readonly NewJob[], now: number) => number[];
  private closed = false;
  private readonly stmts = new Map<string, Database.Statement>();

  constructor(file: unknown, private readonly o: SqliteTaskStoreOptions, where: string) {
    this.file = checkDbPath(file, where);
    this.t = taskTables(o.name);
    this.db = openConnection(this.file, o.durability, o.busyTimeout);
    try {
      this.guard('cannot set up the task tables', () => this.db.transaction(() => ensureTaskSchema(this.db, o.name)).immediate());
      this.engine = new ClaimEngine(this.db, this.t, o.retention, o.followUp);
      this.versionStmt = this.db.prepare('PRAGMA data_version').pluck();
      this.getStmt = this.db.prepare(`SELECT * FROM ${this.t.jobs} WHERE id = ?`);
      this.txCycle = this.tx('task round failed', (outcomes: readonly Outcome[], claim: ClaimRequest | null): CycleResult => {
        const settled = outcomes.length === 0 ? [] : this.engine.settleAll(outcomes);
        const c = claim ? this.engine.claim(claim) : { claimed: [], rateWaitUntil: null };
        return { settled, claimed: c.claimed, rateWaitUntil: c.rateWaitUntil };
      });
      this.txEnqueue = this.tx('enqueue failed', (jobs: readonly NewJob[], now: number) => this.engine.insert(jobs, now));
    } catch (err) {
      this.db.close();
      throw err;
    }
    this.signalKey = `tasks:${this.file}:${o.name}`;
    this.signal = acquireSignal(this.signalKey);
  }

  /** A prepared statement, cached by its text. */
  private stmt(sql: string): Database.Statement {
    let s = this.stmts.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      if (this.stmts.size > 200) this.stmts.clear();
      this.stmts.set(sql, s);
    }
    return s;
  }

  private guard<R>(context: string, fn: () => R): R {
    try {
      return fn();
    } catch (err) {
      throw translateError(err, context);
    }
  }

  private tx<A extends unknown[], R>(context: string, fn: (...args: A) => R): (...args: A) => R {
    const t = this.db.transaction(fn);
    return (...args: A): R => this.guard(context, () => t.immediate(...args));
  }

  private write<R>(context: string, fn: () => R): R {
    const r = this.guard(context, () => this.db.transaction(fn).immediate());
    this.signal.notify();
    return r;
  }

  version(): number {
    return this.versionStmt.get() as number;
  }

  enqueue(jobs: readonly NewJob[], now: number): number[] {
    const ids = this.txEnqueue(jobs, now);
    this.signal.notify();
    return ids;
  }

  getJob(id: number): JobRow | undefined {
    return this.guard('getJob failed', () => this.getStmt.get(id) as JobRow | undefined);
  }

  list(q: { status?: StatusCode; due?: 'pending' | 'scheduled'; task?: string; limit: number; after: number; now: number }): JobRow[] {
    const where = ['id > ?'];
    const args: unknown[] = [q.after];
    if (q.status !== undefined) {
      where.push('status = ?');
      args.push(q.status);
    }
    if (q.due !== undefined) {
      where.push(q.due === 'pending' ? 'run_at <= ?' : 'run_at > ?');
      args.push(q.now);
    }
    if (q.task !== undefined) {
      where.push('task = ?');
      args.push(q.task);
    }
    args.push(q.limit);
    return this.guard('list failed', () =>
      this.stmt(`SELECT * FROM ${this.t.jobs} WHERE ${where.join(' AND ')} ORDER BY id LIMIT ?`).all(...args) as JobRow[],
    );
  }

  counts(task: string | undefined, now: number): Counts {
    const out: Counts = { pending: 0, scheduled: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 };
    const rows = this.guard('counts failed', () =>
      this.db
        .prepare(
          `SELECT status, status = 0 AND run_at > ? AS later, COUNT(*) AS n FROM ${this.t.jobs} ` +
            `${task === undefined ? '' : 'WHERE task = ?'} GROUP BY status, later`,
        )
        .all(...(task === undefined ? [now] : [now, task])) as { status: number; later: number; n: number }[],
    );
    for (const r of rows) out[r.later ? 'scheduled' : STATUS_NAMES[r.status]!] += r.n;
    return out;
  }

  cancel(id: number, now: number): boolean {
    return this.write('cancel failed', () => {
      if (this.engine.cancelIfReady(id, now)) return true;
      return this.db.prepare(`UPDATE ${this.t.jobs} SET cancel_requested = 1 WHERE id = ? AND status = 1`).run(id).changes > 0;
    });
  }

  retry(id: number, now: number): boolean {
    return this.write('retry failed', () => {
      const row = this.db.prepare(`SELECT status, key FROM ${this.t.jobs} WHERE id = ?`).get(id) as { status: number; key: string | null } | undefined;
      if (!row || (row.status !== FAILED && row.status !== CANCELLED)) return false;
      if (row.key !== null && this.db.prepare(`SELECT 1 FROM ${this.t.jobs} WHERE key = ? AND status < 2`).get(row.key)) return false;
      this.db
        .prepare(
          `UPDATE ${this.t.jobs} SET status = 0, attempts = 0, run_at = ?, finished_at = NULL, started_at = NULL, ` +
            'error = NULL, result = NULL, progress = NULL, cancel_requested = 0, owner = NULL, lease_until = NULL WHERE id = ?',
        )
        .run(now, id);
      return true;
    });
  }

  remove(id: number): boolean {
    return this.write('remove failed', () => this.db.prepare(`DELETE FROM ${this.t.jobs} WHERE id = ?`).run(id).changes > 0);
  }

  purge(statuses: readonly StatusCode[], finishedBefore: number): number {
    return this.write('purge failed', () =>
      this.db
        .prepare(`DELETE FROM ${this.t.jobs} WHERE status IN (${marks(statuses.length)}) AND finished_at <= ?`)
        .run(...statuses, finishedBefore).changes,
    );
  }

  setPaused(task: string, paused: boolean): void {
    this.write('pause failed', () => {
      if (paused) this.db.prepare(`INSERT OR IGNORE INTO ${this.t.paused} (task) VALUES (?)`).run(task);
      else if (task === '*') this.db.prepare(`DELETE FROM ${this.t.paused}`).run();
      else this.db.prepare(`DELETE FROM ${this.t.paused} WHERE task = ?`).run(task);
    });
  }

  cycle(outcomes: readonly Outcome[], claim: ClaimRequest | null): CycleResult {
    const r = this.txCycle(outcomes, claim);
    if (outcomes.length > 0 || r.claimed.length > 0) this.signal.notify();
    return r;
  }

  renew(owner: string, jobs: readonly { id: number; attempt: number }[], leaseUntil: number): { lost: number[]; cancelled: number[] } {
    const stmt = this.stmt(
      `UPDATE ${this.t.jobs} SET lease_until = ? WHERE id = ? AND status = 1 AND attempts = ? AND owner = ? RETURNING cancel_requested`,
    );
    return this.guard('lease renewal failed', () =>
      this.db
        .transaction(() => {
          const lost: number[] = [];
          const cancelled: number[] = [];
          for (const j of jobs) {
            const r = stmt.get(leaseUntil, j.id, j.attempt, owner) as { cancel_requested: number } | undefined;
            if (!r) lost.push(j.id);
            else if (r.cancel_requested) cancelled.push(j.id);
          }
          return { lost, cancelled };
        })
        .immediate(),
    );
  }

  setProgress(id: number, attempt: number, owner: string, progress: Buffer): boolean {
    return this.write('progress failed', () =>
      this.db.prepare(`UPDATE ${this.t.jobs} SET progress = ? WHERE id = ? AND status = 1 AND attempts = ? AND owner = ?`)
        .run(progress, id, attempt, owner).changes > 0,
    );
  }

  sweep(now: number, isAlive: (owner: string) => boolean): void {
    const j = this.t.jobs;
    const owners = this.guard('sweep failed', () => this.stmt(`SELECT DISTINCT owner FROM ${j} WHERE status = 1`).pluck().all() as string[]);
    const dead = owners.filter((x) => x !== null && !isAlive(x));
    const expired = this.stmt(`SELECT 1 FROM ${j} WHERE status = 1 AND lease_until < ? LIMIT 1`).get(now) !== undefined;
    const old: [number, number][] = [];
    for (const [status, keep] of [[SUCCEEDED, this.o.retention.succeeded], [FAILED, this.o.retention.failed], [CANCELLED, this.o.retention.cancelled]] as const) {
      if (Number.isFinite(keep)) old.push([status, now - keep]);
    }
    const stale = old.some(([s, before]) => this.stmt(`SELECT 1 FROM ${j} WHERE status = ? AND finished_at <= ? LIMIT 1`).get(s, before));
    if (dead.length === 0 && !expired && !stale) return;
    this.write('sweep failed', () => {
      type Lost = { id: number; task: string; attempts: number; max_attempts: number | null; cancel_requested: number; on_complete: Buffer | null };
      const lost: { row: Lost; why: string }[] = [];
      const byOwner = this.db.prepare(`SELECT id, task, attempts, max_attempts, cancel_requested, on_complete FROM ${j} WHERE status = 1 AND owner = ?`);
      for (const owner of dead) for (const row of byOwner.all(owner) as Lost[]) lost.push({ row, why: 'its worker process died' });
      const byLease = this.db.prepare(`SELECT id, task, attempts, max_attempts, cancel_requested, on_complete FROM ${j} WHERE status = 1 AND lease_until < ?`);
      for (const row of byLease.all(now) as Lost[]) lost.push({ row, why: 'its lease ran out' });
      const seen = new Set<number>();
      for (const { row, why } of lost) {
        if (seen.has(row.id)) continue;
        seen.add(row.id);
        const error = JSON.stringify({ name: 'TaskLostError', message: `attempt ${row.attempts} was lost: ${why}` });
        const status = row.cancel_requested ? CANCELLED : row.attempts >= (row.max_attempts ?? 3) ? FAILED : READY;
        this.db
          .prepare(`UPDATE ${j} SET status = ?, owner = NULL, lease_until = NULL, error = ?, run_at = ?, finished_at = ? WHERE id = ? AND status = 1`)
          .run(status, error, now, status === READY ? null : now, row.id);
        if (status !== READY) this.engine.finished({ ...row, status }, null, error, now);
      }
      for (const [s, before] of old) {
        this.db.prepare(`DELETE FROM ${j} WHERE id IN (SELECT id FROM ${j} WHERE status = ? AND finished_at <= ? LIMIT 5000)`).run(s, before);
      }
    });
  }

  nextRunAt(tasks: readonly string[]): number | null {
    if (tasks.length === 0) return null;
    return this.guard('nextRunAt failed', () =>
      this.stmt(`SELECT MIN(run_at) FROM ${this.t.jobs} WHERE status = 0 AND task IN (${marks(tasks.length)})`).pluck().get(...tasks) as number | null,
    );
  }

  putSchedule(row: ScheduleRow): void {
    this.write('schedule failed', () =>
      this.db
        .prepare(
          `INSERT INTO ${this.t.schedules} (id, task, cron, every, tz, data, options, misfire, def, next_run_at, last_run_at) ` +
            'VALUES (@id, @task, @cron, @every, @tz, @data, @options, @misfire, @def, @next_run_at, NULL) ON CONFLICT (id) DO UPDATE SET ' +
            'task = excluded.task, cron = excluded.cron, every = excluded.every, tz = excluded.tz, data = excluded.data, ' +
            'options = excluded.options, misfire = excluded.misfire, def = excluded.def, next_run_at = excluded.next_run_at ' +
            'WHERE def <> excluded.def',
        )
        .run(row),
    );
  }

  removeSchedule(id: string): boolean {
    return this.write('unschedule failed', () => this.db.prepare(`DELETE FROM ${this.t.schedules} WHERE id = ?`).run(id).changes > 0);
  }

  listSchedules(): ScheduleRow[] {
    return this.guard('schedules failed', () => this.db.prepare(`SELECT * FROM ${this.t.schedules} ORDER BY id`).all() as ScheduleRow[]);
  }

  nextScheduleAt(): number | null {
    return this.guard('schedules failed', () => this.stmt(`SELECT MIN(next_run_at) FROM ${this.t.schedules}`).pluck().get() as number | null);
  }

  fireSchedule(id: string, expected: number, next: number, lastRunAt: number | null, jobs: readonly NewJob[]): boolean {
    return this.write('schedule tick failed', () => {
      const ok =
        this.db
          .prepare(`UPDATE ${this.t.schedules} SET next_run_at = ?, last_run_at = COALESCE(?, last_run_at) WHERE id = ? AND next_run_at = ?`)
          .run(next, lastRunAt, id, expected).changes === 1;
      if (ok && jobs.length > 0) this.engine.insert(jobs, Date.now());
      return ok;
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    releaseSignal(this.signalKey);
    this.db.close();
  }
}

export { RUNNING };
