/**
 * The storage contract of the task layer. {@link TaskQueue}, {@link TaskQueueSync} and {@link Worker} talk only to a
 * {@link TaskStore}; the SQL lives in its implementations (lib/tasks/sqlite today, PostgreSQL later).
 *
 * Every method may return a value or a Promise of it ({@link MaybePromise}), so a network backend can be
 * asynchronous. The SQLite store is synchronous underneath (better-sqlite3) and returns plain values: it is a
 * {@link SyncTaskStore}, and only such a store can drive the blocking {@link TaskQueueSync} (an asynchronous backend
 * offers the Promise classes only). Stores see encoded bytes, never user values: encoding, validation and decoding
 * happen in lib/tasks/core.ts.
 *
 * @module
 */

/** A value or a Promise of it. */
export type MaybePromise<T> = T | Promise<T>;

/** Stored status codes. `READY` covers pending and scheduled (told apart by run_at). */
export const READY = 0;
export const RUNNING = 1;
export const SUCCEEDED = 2;
export const FAILED = 3;
export const CANCELLED = 4;
/** A stored status code. */
export type StatusCode = 0 | 1 | 2 | 3 | 4;

/** A job to insert, encoded and validated. */
export interface NewJob {
  task: string;
  data: Buffer;
  priority: number;
  /**
   * When it is due, in ms since the epoch of the client's clock; null: due at once, at the clock of the store when it
   * writes the job (so that jobs enqueued one after another are due in that order even where the store translates
   * client times to another clock: PostgreSQL).
   */
  runAt: number | null;
  maxAttempts: number | null;
  /** JSON of a Backoff, or null for the worker's default. */
  backoff: string | null;
  timeout: number | null;
  key: string | null;
  /** Encoded `{ task, data }` of the follow-up, or null. */
  onComplete: Buffer | null;
}

/** A stored job row. Times are epoch ms. */
export interface JobRow {
  id: number;
  task: string;
  data: Buffer;
  status: StatusCode;
  priority: number;
  run_at: number;
  attempts: number;
  max_attempts: number | null;
  backoff: string | null;
  timeout: number | null;
  key: string | null;
  on_complete: Buffer | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  result: Buffer | null;
  error: string | null;
  progress: Buffer | null;
  owner: string | null;
  cancel_requested: number;
}

/** One group of a claim: these tasks, at most `limit` jobs, optionally under a shared rate limit. */
export interface ClaimGroup {
  tasks: readonly string[];
  limit: number;
  rate?: { max: number; perMs: number };
}

/** What a worker asks for. */
export interface ClaimRequest {
  owner: string;
  now: number;
  leaseUntil: number;
  /** Jobs in all. */
  limit: number;
  groups: readonly ClaimGroup[];
  /** max_attempts written at claim for jobs stored without one (per task; others get 3). */
  maxAttempts: Readonly<Record<string, number>>;
}

/** The outcome of an attempt, fenced by (id, attempt, owner). */
export type Outcome =
  | { kind: 'succeeded'; id: number; attempt: number; owner: string; result: Buffer | null; now: number }
  | { kind: 'retry'; id: number; attempt: number; owner: string; error: string; now: number; runAt: number }
  | { kind: 'failed'; id: number; attempt: number; owner: string; error: string; now: number }
  /** Give the job back without charging the attempt (a stopping worker). */
  | { kind: 'release'; id: number; attempt: number; owner: string; now: number };

/** What a claim/settle round returns. */
export interface CycleResult {
  /** Per outcome: the status written, or null when the claim was lost (another attempt owns the job now). */
  settled: (StatusCode | null)[];
  claimed: JobRow[];
  /** When a rate-limited group had due jobs but no allowance left: epoch ms when the window ends. */
  rateWaitUntil: number | null;
}

/** A schedule row. */
export interface ScheduleRow {
  id: string;
  task: string;
  cron: string | null;
  every: number | null;
  tz: string;
  data: Buffer;
  /** JSON of the ScheduleJobOptions. */
  options: string;
  misfire: 'skip' | 'once' | 'all';
  /** Canonical text of the definition: re-registering an equal definition changes nothing. */
  def: string;
  next_run_at: number;
  last_run_at: number | null;
}

/** Retention per finished status, ms (Infinity = keep). */
export interface Retention {
  succeeded: number;
  failed: number;
  cancelled: number;
}

/** Builds the follow-up job of a finished job with `onComplete` (pure; the store calls it inside its transaction). */
export type FollowUp = (row: JobRow, status: StatusCode, result: Buffer | null, error: string | null) => NewJob;

/** The in-process wake-up a store raises after its writes (lib/common/wait.ts `Signal` is one). */
export interface StoreSignal {
  /** Wakes every listener. */
  notify(): void;
  /** Adds a listener. */
  on(fn: () => void): void;
  /** Removes a listener. */
  off(fn: () => void): void;
}

/** The storage of one task queue. See the module comment for sync vs async. */
export interface TaskStore {
  /** In-process wake-up: raised after every write of this queue by any instance of this process. */
  readonly signal: StoreSignal;
  /** A number that changes when another connection/process commits (cheap to read). */
  version(): MaybePromise<number>;
  /**
   * Set by a store whose `version()` changes on every commit of any client (it is told by notifications, as on
   * PostgreSQL): a waiter whose version did not change re-reads only after this many ms (a backstop for notifications
   * lost while reconnecting). Unset (SQLite): waiters re-read on every poll.
   */
  readonly backstopMs?: number;
  enqueue(jobs: readonly NewJob[], now: number): MaybePromise<number[]>;
  getJob(id: number): MaybePromise<JobRow | undefined>;
  list(q: { status?: StatusCode; due?: 'pending' | 'scheduled'; task?: string; limit: number; after: number; now: number }): MaybePromise<JobRow[]>;
  counts(task: string | undefined, now: number): MaybePromise<Record<'pending' | 'scheduled' | 'running' | 'succeeded' | 'failed' | 'cancelled', number>>;
  /** Cancels a ready job at once; flags a running one (its worker aborts it). */
  cancel(id: number, now: number): MaybePromise<boolean>;
  retry(id: number, now: number): MaybePromise<boolean>;
  remove(id: number): MaybePromise<boolean>;
  purge(statuses: readonly StatusCode[], finishedBefore: number): MaybePromise<number>;
  setPaused(task: string, paused: boolean): MaybePromise<void>;
  /** Settles outcomes and claims jobs in one transaction. */
  cycle(outcomes: readonly Outcome[], claim: ClaimRequest | null): MaybePromise<CycleResult>;
  /** Extends the leases of the given running attempts; reports lost claims and cancel requests. */
  renew(owner: string, jobs: readonly { id: number; attempt: number }[], leaseUntil: number): MaybePromise<{ lost: number[]; cancelled: number[] }>;
  setProgress(id: number, attempt: number, owner: string, progress: Buffer): MaybePromise<boolean>;
  /**
   * Optional, read-only: which of these jobs have a cancel request (see {@link cancel}). A worker asks when it is woken
   * by a write or commit of the queue while jobs run, so a cancel from another process reaches `ctx.signal` within the
   * wake-up latency; a store without it delivers cancel requests at the next lease renewal ({@link renew}).
   */
  cancelRequested?(ids: readonly number[]): MaybePromise<number[]>;
  /**
   * Returns running jobs of dead owners and expired leases (charging the attempt that was started: such a job fails
   * for good when its attempts are used up) and deletes finished jobs past retention.
   */
  sweep(now: number, isAlive: (owner: string) => boolean): MaybePromise<void>;
  /** Earliest run_at of a ready job of these tasks, or null. */
  nextRunAt(tasks: readonly string[]): MaybePromise<number | null>;
  putSchedule(row: ScheduleRow): MaybePromise<void>;
  removeSchedule(id: string): MaybePromise<boolean>;
  listSchedules(): MaybePromise<ScheduleRow[]>;
  /** Earliest next_run_at of any schedule, or null. */
  nextScheduleAt(): MaybePromise<number | null>;
  /**
   * Compare-and-set of a tick: when the schedule's next_run_at is still `expected`, moves it to `next`, sets
   * last_run_at and inserts `jobs`, all in one transaction; false (nothing written) when another process fired it.
   */
  fireSchedule(id: string, expected: number, next: number, lastRunAt: number | null, jobs: readonly NewJob[]): MaybePromise<boolean>;
  close(): MaybePromise<void>;
}

/** A store whose methods all return plain values: what {@link TaskQueueSync} needs. */
export type SyncTaskStore = {
  [K in keyof TaskStore]: TaskStore[K] extends (...args: infer A) => MaybePromise<infer R> ? (...args: A) => R : TaskStore[K];
};
