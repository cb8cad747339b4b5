/**
 * Rows as the PostgreSQL task store reads them (`bigint` columns arrive as strings) and the clock translation between
 * the client and the server.
 *
 * Every time the store writes or compares is the server's: `now` comparisons are `clock_timestamp()` in the statement.
 * A job's due time (`runAt`, or now + `delay`) is written as the client's time plus `ahead`, the upper end of the
 * skew (server minus client) that the round trip measured at open allows, so one process maps every client time to
 * the server the same way: equal `runAt`s stay equal (and run in id order), `run_at` reads back as given (it is
 * shifted back by `ahead`), and a job is never due on the server before the client's clock reached its time. A job
 * due at once is written as the server's clock at the insert, so jobs enqueued one after another are due in that
 * order. Relative times (a lease, a retry's delay) are sent as distances and added to the server's clock. Times the
 * server stamped (created, started, finished; rate windows) are shifted back by `skew`, the middle of the round trip.
 *
 * @module
 * @internal
 */
import type { JobRow, NewJob, ScheduleRow, StatusCode } from '../../tasks/store.js';

/** A query function inside a transaction (or on the pool). */
export type Q = (sql: string, params?: unknown[]) => Promise<any[]>; // eslint-disable-line @typescript-eslint/no-explicit-any

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));

/** The clock translation of one store, measured when it opened (server minus client, ms). */
export interface Clock {
  /** The best estimate (the middle of the round trip): for times the server stamped (created, started, finished). */
  skew: number;
  /** The upper end of what the round trip allows: due times are written as client time + `ahead` and read back with it. */
  ahead: number;
}

/** No translation (the server's times as they are stored). */
export const UNSHIFTED: Clock = Object.freeze({ skew: 0, ahead: 0 });

/** Raw row to {@link JobRow}, times shifted to the client's clock (`run_at` by `clock.ahead`, the rest by `clock.skew`). */
export function jobRow(r: Record<string, unknown>, clock: Clock): JobRow {
  const t = (v: unknown): number | null => (v === null || v === undefined ? null : num(v) - clock.skew);
  return {
    id: num(r.id),
    task: r.task as string,
    data: r.data as Buffer,
    status: (r.status === undefined ? 1 : num(r.status)) as StatusCode,
    priority: num(r.priority),
    run_at: num(r.run_at) - clock.ahead,
    attempts: num(r.attempts),
    max_attempts: numOrNull(r.max_attempts),
    backoff: (r.backoff ?? null) as string | null,
    timeout: numOrNull(r.timeout),
    key: (r.key ?? null) as string | null,
    on_complete: (r.on_complete ?? null) as Buffer | null,
    created_at: t(r.created_at)!,
    started_at: t(r.started_at),
    finished_at: t(r.finished_at),
    result: (r.result ?? null) as Buffer | null,
    error: (r.error ?? null) as string | null,
    progress: (r.progress ?? null) as Buffer | null,
    owner: (r.owner ?? null) as string | null,
    cancel_requested: r.cancel_requested === undefined ? 0 : num(r.cancel_requested),
  };
}

/** Raw schedule row to {@link ScheduleRow} (`skew` 0: schedule times are stored unshifted, see the store). */
export function scheduleRow(r: Record<string, unknown>, skew: number): ScheduleRow {
  return {
    id: r.id as string,
    task: r.task as string,
    cron: (r.cron ?? null) as string | null,
    every: numOrNull(r.every),
    tz: r.tz as string,
    data: r.data as Buffer,
    options: r.options as string,
    misfire: r.misfire as ScheduleRow['misfire'],
    def: r.def as string,
    next_run_at: num(r.next_run_at) - skew,
    last_run_at: r.last_run_at === null || r.last_run_at === undefined ? null : num(r.last_run_at) - skew,
  };
}

/**
 * The columns of a job insert as parallel arrays for `unnest`: `run_at` on the server's clock (the client's time plus
 * `ahead`, see {@link Clock}), or null for a job due at once (the server's clock at the insert).
 */
export function insertArrays(jobs: readonly NewJob[], ahead: number): unknown[] {
  return [
    jobs.map((j) => j.task),
    jobs.map((j) => j.priority),
    jobs.map((j) => (j.runAt === null ? null : Math.round(j.runAt) + ahead)),
    jobs.map((j) => j.maxAttempts),
    jobs.map((j) => j.backoff),
    jobs.map((j) => j.timeout),
    jobs.map((j) => j.key),
    jobs.map((j) => j.onComplete),
    jobs.map((j) => j.data),
  ];
}

/**
 * `INSERT ... SELECT FROM unnest(...)` of the jobs in {@link insertArrays} order (parameters `$1..$9`), ids returned.
 * `conflict`: text appended after the SELECT (e.g. an `ON CONFLICT` clause).
 */
export function insertSql(jobs: string, nowMs: string, conflict = ''): string {
  return (
    `INSERT INTO ${jobs} (task, status, priority, run_at, max_attempts, created_at, backoff, timeout, key, on_complete, data) ` +
    `SELECT v.task, 0, v.priority, COALESCE(v.run_at, n.ms), v.max_attempts, n.ms, v.backoff, v.timeout, v.key, v.on_complete, v.data ` +
    `FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::int[], $5::text[], $6::int[], $7::text[], $8::bytea[], $9::bytea[]) ` +
    `WITH ORDINALITY AS v(task, priority, run_at, max_attempts, backoff, timeout, key, on_complete, data, ord), ` +
    `(SELECT ${nowMs} AS ms) n ORDER BY v.ord ${conflict}RETURNING id`
  );
}
