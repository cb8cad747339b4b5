/**
 * Public types of the task layer: jobs, their options, schedules, worker handlers and options.
 *
 * @module
 */
import type { SerializerOption } from '../common/serializer.js';
import type { Durability } from '../sqlite-queue/connection.js';

/**
 * Where a job is: `'pending'` (can run now), `'scheduled'` (its runAt is in the future, including a retry waiting its
 * backoff), `'running'`, `'succeeded'`, `'failed'` (attempts used up: the dead letter), `'cancelled'`.
 */
export type JobStatus = 'pending' | 'scheduled' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** A failure as stored on a job: a thrown non-Error is kept as its string in `message` (name `'NonError'`). */
export interface JobError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

/** A job as stored. Dates are `Date` objects. */
export interface Job<D = unknown, R = unknown> {
  id: number;
  task: string;
  data: D;
  status: JobStatus;
  priority: number;
  /** Attempts started so far (a running attempt counts). */
  attempts: number;
  /**
   * Attempts allowed, the first run included. A job enqueued without `maxAttempts` shows 3 until a worker claims it;
   * the worker's per-task default (if any) is written at the first claim.
   */
  maxAttempts: number;
  runAt: Date;
  createdAt: Date;
  startedAt?: Date;
  finishedAt?: Date;
  result?: R;
  error?: JobError;
  progress?: unknown;
  key?: string;
}

/** Retry delays. The n-th retry waits `delay` (fixed) or `delay * 2^(n-1)` (exponential), at most `maxDelay`. */
export interface Backoff {
  /** `'fixed'` or `'exponential'`. */
  type: 'fixed' | 'exponential';
  /** Milliseconds (>= 0): the fixed delay, or the first delay of an exponential backoff. */
  delay: number;
  /**
   * Upper bound of a delay in ms.
   * @default Infinity
   */
  maxDelay?: number | undefined;
  /**
   * 0..1: each delay is multiplied by a random factor in `[1 - jitter, 1]`.
   * @default 0
   */
  jitter?: number | undefined;
}

/** Options of `enqueue()`. */
export interface EnqueueOptions {
  /**
   * Integer; lower runs first.
   * @default 0
   */
  priority?: number | undefined;
  /**
   * Milliseconds from now before the job may run (not with `runAt`).
   * @default 0
   */
  delay?: number | undefined;
  /**
   * When the job may run: a Date or epoch ms (not with `delay`). Without it (and without a `delay` above 0) the job
   * is due at once, at the store's clock when the job is written, so jobs enqueued one after another are due, and of
   * equal priority run, in that order.
   * @default now
   */
  runAt?: Date | number | undefined;
  /**
   * Attempts allowed, the first run included (integer >= 1).
   * @default 3 (or the worker's per-task `maxAttempts`)
   */
  maxAttempts?: number | undefined;
  /**
   * Delay before each retry.
   * @default { type: 'exponential', delay: 1000 } (or the worker's per-task `backoff`)
   */
  backoff?: Backoff | undefined;
  /**
   * Milliseconds one attempt may run before it fails with {@link TaskTimeoutError} and its `signal` is aborted; 0 = no
   * limit.
   * @default 0 (or the worker's per-task `timeout`)
   */
  timeout?: number | undefined;
  /**
   * Deduplication key: while an unfinished job (pending, scheduled or running) has this key, `enqueue()` adds nothing
   * and returns that job's id.
   * @default undefined (no key)
   */
  key?: string | undefined;
  /**
   * A task enqueued in the same transaction when this job finishes (succeeded, failed for good, or cancelled), with
   * data `{ job: { id, task, status, result?, error? }, data }`.
   * @default undefined
   */
  onComplete?: { task: string; data?: unknown } | undefined;
}

/** One job of `enqueueMany()`. */
export interface EnqueueItem {
  task: string;
  data?: unknown | undefined;
  options?: EnqueueOptions | undefined;
}

/** Options of {@link TaskQueue.open} and {@link TaskQueueSync.open}. */
export interface TaskQueueOptions {
  /**
   * Name of the task queue: several can live in one file (tables `pq_tasks_<name>`, ...). Letters, digits and `_`.
   * @default 'default'
   */
  name?: string | undefined;
  /**
   * How job data, results and progress are stored: `'json'`, `'v8'` or `{ encode, decode }`.
   * @default 'json'
   */
  serializer?: SerializerOption | undefined;
  /**
   * `'full'`: a stored outcome survives power loss; `'normal'`: survives a killed process; `'off'` (SQLite only).
   * On PostgreSQL `'full'` is `synchronous_commit = on` and `'normal'` `synchronous_commit = off`.
   * @default 'full'
   */
  durability?: Durability | undefined;
  /**
   * SQLite files only: milliseconds a call may wait for another process's write lock before
   * {@link QueueLockedError}. Given with a PostgreSQL target, a TypeError.
   * @default 10000
   */
  busyTimeout?: number | undefined;
  /**
   * Milliseconds to keep finished jobs (0 = remove when they finish, `Infinity` = keep for ever). Workers delete
   * older ones about once a second. With `succeeded: 0` no result can be read back: `result()` and `submit()` of a
   * job that succeeded throw `TaskNotFoundError` (listen to the worker's `'completed'` event instead).
   * @default { succeeded: 86400000 (1 day), failed: 604800000 (7 days), cancelled: 86400000 (1 day) }
   */
  retention?: { succeeded?: number | undefined; failed?: number | undefined; cancelled?: number | undefined } | undefined;
  /**
   * PostgreSQL targets only: the schema holding the task tables (created on first open). Given with a SQLite file, a
   * TypeError.
   * @default 'persist_queue'
   */
  schema?: string | undefined;
}

/** Options of `result()`. */
export interface ResultOptions {
  /**
   * Milliseconds to wait before {@link TaskTimeoutError}.
   * @default Infinity
   */
  timeout?: number | undefined;
}

/** Options of `submit()`: enqueue options, and `timeout` bounds the wait (not the attempt; see `attemptTimeout`). */
export interface SubmitOptions extends Omit<EnqueueOptions, 'timeout'> {
  /**
   * Milliseconds to wait for the result before {@link TaskTimeoutError} (the job stays queued).
   * @default Infinity
   */
  timeout?: number | undefined;
  /**
   * The job's per-attempt `timeout` (see {@link EnqueueOptions.timeout}).
   * @default 0
   */
  attemptTimeout?: number | undefined;
}

/** Options of `list()`. */
export interface ListOptions {
  /**
   * Only jobs with this status.
   * @default every status
   */
  status?: JobStatus | undefined;
  /**
   * Only jobs of this task.
   * @default every task
   */
  task?: string | undefined;
  /**
   * Most jobs returned (1..10000).
   * @default 100
   */
  limit?: number | undefined;
  /**
   * Only jobs with an id greater than this (paging: pass the last id of the previous page).
   * @default 0
   */
  after?: number | undefined;
}

/** Jobs per status. */
export interface JobCounts {
  pending: number;
  scheduled: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

/** Options of `purge()`. */
export interface PurgeOptions {
  /** Which finished jobs: `'succeeded'`, `'failed'`, `'cancelled'` (or an array of them). Required. */
  status: 'succeeded' | 'failed' | 'cancelled' | ('succeeded' | 'failed' | 'cancelled')[];
  /**
   * Only jobs that finished more than this many ms ago.
   * @default 0
   */
  olderThan?: number | undefined;
}

/** Enqueue options a schedule may give its jobs. */
export type ScheduleJobOptions = Pick<EnqueueOptions, 'priority' | 'maxAttempts' | 'backoff' | 'timeout' | 'key'>;

/** A schedule definition for `schedule()`: exactly one of `cron` and `every`. */
export interface ScheduleSpec {
  /** The task each tick enqueues. */
  task: string;
  /**
   * A 5-field (minute precision) or 6-field (seconds first) cron expression, parsed by croner.
   * @default undefined
   */
  cron?: string | undefined;
  /**
   * Interval in ms (>= 1000 is sensible; >= 1 allowed). The first tick is `every` ms after the schedule is created.
   * @default undefined
   */
  every?: number | undefined;
  /**
   * IANA time zone the cron expression is read in.
   * @default 'UTC'
   */
  tz?: string | undefined;
  /**
   * Data of every job the schedule enqueues.
   * @default null
   */
  data?: unknown | undefined;
  /**
   * Options of every job the schedule enqueues.
   * @default {}
   */
  options?: ScheduleJobOptions | undefined;
  /**
   * What ticks missed while no worker ran become: `'skip'` (none; only a tick less than 5 s late runs), `'once'` (one
   * job), `'all'` (one job per missed tick, at most 1000 at a time).
   * @default 'once'
   */
  misfire?: 'skip' | 'once' | 'all' | undefined;
}

/** A stored schedule as `schedules()` lists it. */
export interface ScheduleInfo {
  id: string;
  task: string;
  cron?: string;
  every?: number;
  tz: string;
  nextRunAt: Date;
  lastRunAt?: Date;
}

/** What a handler gets besides the data. */
export interface TaskContext {
  /** The job's id. */
  id: number;
  /** The task name. */
  task: string;
  /** This attempt's number, 1 for the first run. */
  attempt: number;
  /** Aborted when the job is cancelled, its attempt times out, or the worker stops and gives the job back. */
  signal: AbortSignal;
  /** Stores `value` (serialized) as the job's `progress`; resolves when written. */
  progress(value: unknown): Promise<void>;
}

/** A task handler: its return value (or resolved value) is the job's result. */
export type TaskHandler<D = any, R = unknown> = (data: D, ctx: TaskContext) => R | Promise<R>;

/** A handler with per-task settings; without `handler` the task runs in the worker's thread pool (`threads`). */
export interface TaskHandlerSpec<D = any, R = unknown> {
  /**
   * The function; leave it out to run the export of this task's name from `threads.module`.
   * @default undefined
   */
  handler?: TaskHandler<D, R> | undefined;
  /**
   * Most jobs of this task in flight in this worker.
   * @default the worker's `concurrency`
   */
  concurrency?: number | undefined;
  /**
   * Default attempts for jobs of this task enqueued without `maxAttempts`.
   * @default 3
   */
  maxAttempts?: number | undefined;
  /**
   * Default backoff for jobs of this task enqueued without one.
   * @default { type: 'exponential', delay: 1000 }
   */
  backoff?: Backoff | undefined;
  /**
   * Default per-attempt timeout (ms, 0 = none) for jobs of this task enqueued without one.
   * @default 0
   */
  timeout?: number | undefined;
  /**
   * At most `max` jobs of this task start per `perMs` window, counted across every worker of every process (the
   * window is stored in the database).
   * @default undefined (no limit)
   */
  rateLimit?: { max: number; perMs: number } | undefined;
}

/** The handlers of a worker: task name to function or {@link TaskHandlerSpec}. */
export type TaskHandlers = Record<string, TaskHandler | TaskHandlerSpec>;

/** Options of `new Worker()`. */
export interface WorkerOptions {
  /**
   * Jobs in flight at once.
   * @default 1
   */
  concurrency?: number | undefined;
  /**
   * Milliseconds a claim lasts without renewal; the worker renews it while the job runs. A job whose worker
   * vanished without its process dying (a hung machine) runs again after this.
   * @default 30000
   */
  lease?: number | undefined;
  /**
   * Run handlers in a piscina worker-thread pool: `module` (absolute path or file URL, ESM or CommonJS) exports one
   * function per task name, called as `(data, ctx)` where ctx has `id`, `task`, `attempt`, `signal` (aborted by a
   * message from the main thread; a handler that ignores it is terminated with its thread 1 s later) and
   * `progress(value)` (structured-cloned to the main thread and stored); `size` threads (default 2).
   * @default undefined (handlers run on the event loop)
   */
  threads?: { module: string; size?: number | undefined } | undefined;
  /**
   * Open options used when the worker is given a file path instead of a queue.
   * @default {}
   */
  queue?: TaskQueueOptions | undefined;
}

/** Options of `Worker.stop()`. */
export interface StopOptions {
  /**
   * Milliseconds to wait for running jobs before aborting them and giving them back (not charging the attempt).
   * @default 30000
   */
  timeout?: number | undefined;
}
