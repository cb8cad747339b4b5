/**
 * The task queues: {@link TaskQueueSync} (blocking) and {@link TaskQueue} (Promises). Same methods, same tables; they
 * differ only in how they wait and whether they await the store.
 *
 * @module
 */
import { argTypeError, argValueError } from '../common/errors.js';
import { GroupCommit } from '../common/group-commit.js';
import type { PostgresTarget } from '../postgres/options.js';
import { isPostgresTarget, openPgTaskStore, refuseSync } from '../postgres/tasks/open.js';
import { AsyncWaits, RETRY, waitSync } from '../common/wait.js';
import { NOT_YET, TaskCore } from './core.js';
import { TaskTimeoutError } from './errors.js';
import { resolveTaskOptions } from './options.js';
import { planTicks, scheduleInfo } from './schedule.js';
import { TaskShellBase } from './shell.js';
import { SqliteTaskStore } from './sqlite/store.js';
import type { NewJob, SyncTaskStore, TaskStore } from './store.js';
import type { EnqueueItem, EnqueueOptions, Job, JobCounts, ListOptions, PurgeOptions, ResultOptions, ScheduleInfo, ScheduleSpec, SubmitOptions, TaskQueueOptions } from './types.js';

function openSqlite(target: unknown, options: unknown, where: string): { store: SqliteTaskStore; core: TaskCore } {
  if (isPostgresTarget(target)) refuseSync(where);
  // A URL of another scheme (a typo such as postgress://, or http://) is not a file name anyone means.
  const scheme = typeof target === 'string' ? /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(target) : null;
  if (scheme) {
    throw argValueError(`The "target" argument of ${where} looks like a URL with the scheme '${scheme[1]}:'; a PostgreSQL target starts with postgres:// or postgresql://, a SQLite target is a file path`);
  }
  const opts = resolveTaskOptions(options, where);
  if (opts.schema !== undefined) throw argTypeError(`The "schema" option of ${where} is for PostgreSQL targets only`);
  const core = new TaskCore(opts);
  const store = new SqliteTaskStore(target, { ...opts, followUp: core.followUp }, where);
  return { store, core };
}

/** Opens the store behind a {@link TaskQueue}: a SQLite file or a PostgreSQL server. */
async function openAny(target: unknown, options: unknown, where: string): Promise<{ store: TaskStore; core: TaskCore }> {
  if (!isPostgresTarget(target)) return openSqlite(target, options, where);
  const opts = resolveTaskOptions(options, where);
  const core = new TaskCore(opts);
  return { store: await openPgTaskStore(target, options, opts, core.followUp, where), core };
}

const timeoutError = (id: number, ms: number) => () => new TaskTimeoutError(`task job #${id} did not finish within ${ms} ms`);

/**
 * A task queue in a SQLite file with a blocking API: enqueue jobs, wait for their results (the thread sleeps; a
 * {@link Worker} in another process or thread runs the job), inspect and manage jobs and schedules. Needs a
 * synchronous store (SQLite); the PostgreSQL backend offers the Promise class only.
 *
 * @example
 * ```ts
 * const q = TaskQueueSync.open('tasks.db');
 * const id = q.enqueue('email', { to: 'a@b.c' }, { maxAttempts: 5 });
 * const sum = q.submit('add', { a: 1, b: 2 }, { timeout: 5000 }); // a worker elsewhere computes it
 * q.close();
 * ```
 */
export class TaskQueueSync extends TaskShellBase<SyncTaskStore> {
  private constructor(store: SyncTaskStore, core: TaskCore) {
    super(store, core, 'TaskQueueSync');
  }

  /**
   * Opens (creating if needed) the task queue `options.name` in a SQLite file.
   * @param target - path of the SQLite file (it may also hold plain and ack queues); its folder must exist
   * @throws TypeError/RangeError for a bad path or option (a PostgreSQL target is refused with a TypeError coded
   * `ERR_INVALID_ARG_VALUE`: use {@link TaskQueue}), {@link QueueLockedError} when the file stays locked
   */
  static open(target: string, options?: TaskQueueOptions): TaskQueueSync {
    const { store, core } = openSqlite(target, options, 'TaskQueueSync.open()');
    return new TaskQueueSync(store, core);
  }

  /** Adds a job; returns its id (or, with `key`, the id of the unfinished job holding that key). */
  enqueue(task: string, data?: unknown, options?: EnqueueOptions): number {
    return this.store.enqueue(this.argsEnqueue(task, data, options), Date.now())[0]!;
  }

  /** Adds jobs in one commit, all or none; returns their ids in order. */
  enqueueMany(jobs: EnqueueItem[]): number[] {
    const prepared = this.argsEnqueueMany(jobs);
    return prepared.length === 0 ? [] : this.store.enqueue(prepared, Date.now());
  }

  /** The job, or undefined when no job has this id. */
  getJob(id: number): Job | undefined {
    return this.outJob(this.store.getJob(this.argsId(id, 'getJob')));
  }

  /**
   * Blocks until the job finishes and returns its result.
   * @throws {@link TaskFailedError}, {@link TaskCancelledError}, {@link TaskNotFoundError}, {@link TaskTimeoutError}
   */
  result<R = unknown>(id: number, options?: ResultOptions): R {
    const a = this.argsResult(id, options);
    return this.waitResult(a.id, a.timeout) as R;
  }

  /**
   * `enqueue()` then `result()`; `timeout` bounds the wait. Needs the result kept: with `retention.succeeded` 0 it
   * throws `TaskNotFoundError` once the job succeeded.
   */
  submit<R = unknown>(task: string, data?: unknown, options?: SubmitOptions): R {
    const a = this.argsSubmit(task, data, options);
    const id = this.store.enqueue([a.job], Date.now())[0]!;
    return this.waitResult(id, a.timeout) as R;
  }

  private waitResult(id: number, timeout: number): unknown {
    return waitSync(
      () => {
        this.checkOpen();
        const v = this.core.outcome(id, this.store.getJob(id));
        return v === NOT_YET ? RETRY : v;
      },
      { timeout, onTimeout: timeoutError(id, timeout) },
    );
  }

  /** Jobs by id (`after` pages). */
  list(options?: ListOptions): Job[] {
    return this.outList(this.store.list(this.argsList(options)));
  }

  /** Jobs per status. */
  counts(options?: { task?: string }): JobCounts {
    return this.store.counts(this.argsCounts(options), Date.now());
  }

  /** Cancels a pending/scheduled job at once, or asks the worker of a running one to abort it. */
  cancel(id: number): boolean {
    return this.store.cancel(this.argsId(id, 'cancel'), Date.now());
  }

  /** Runs a failed or cancelled job again with fresh attempts. */
  retry(id: number): boolean {
    return this.store.retry(this.argsId(id, 'retry'), Date.now());
  }

  /** Deletes a job (a running job's worker then cannot record its outcome). */
  remove(id: number): boolean {
    return this.store.remove(this.argsId(id, 'remove'));
  }

  /** Deletes finished jobs of the given status(es); returns how many. */
  purge(options: PurgeOptions): number {
    const a = this.argsPurge(options);
    return this.store.purge(a.statuses, a.before);
  }

  /** Stops every worker of every process from claiming `task` (or all tasks); persisted. */
  pause(task?: string): void {
    this.store.setPaused(this.argsPause(task, 'pause'), true);
  }

  /** Undoes {@link pause}; without a task, resumes every task. */
  resume(task?: string): void {
    this.store.setPaused(this.argsPause(task, 'resume'), false);
  }

  /** Creates or replaces a schedule (an equal definition registered again changes nothing). */
  schedule(id: string, spec: ScheduleSpec): void {
    this.store.putSchedule(this.argsSchedule(id, spec));
  }

  /** Deletes a schedule. */
  unschedule(id: string): boolean {
    return this.store.removeSchedule(this.argsUnschedule(id));
  }

  /** Every schedule. */
  schedules(): ScheduleInfo[] {
    this.checkOpen();
    return this.store.listSchedules().map(scheduleInfo);
  }

  /** Enqueues the jobs of due schedule ticks (workers do this; exposed for scripts without a worker). */
  fireSchedules(): number {
    this.checkOpen();
    let n = 0;
    const now = Date.now();
    for (const row of this.store.listSchedules()) {
      if (row.next_run_at > now) continue;
      const plan = planTicks(this.core, row, now);
      if (this.store.fireSchedule(row.id, row.next_run_at, plan.next, plan.last, plan.jobs)) n += plan.jobs.length;
    }
    return n;
  }

  /** Closes the file. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.store.close();
  }

  /** Same as {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * The Promise twin of {@link TaskQueueSync}: same methods, same tables. Concurrent `enqueue()` calls share a commit.
 *
 * @example
 * ```ts
 * const q = await TaskQueue.open('tasks.db');
 * const w = new Worker(q, { add: ({ a, b }) => a + b }, { concurrency: 4 }).start();
 * console.log(await q.submit('add', { a: 1, b: 2 })); // 3
 * await w.stop(); await q.close();
 * ```
 */
export class TaskQueue extends TaskShellBase<TaskStore> {
  private readonly waits: AsyncWaits;
  /**
   * The write line: every enqueue() and enqueueMany() joins it (a unit of one job or of an enqueueMany's jobs), and
   * the units waiting together share one commit, in call order.
   */
  private readonly batch: GroupCommit<NewJob | NewJob[], number | number[]>;

  private constructor(store: TaskStore, core: TaskCore) {
    super(store, core, 'TaskQueue');
    this.waits = new AsyncWaits(store.signal);
    this.batch = new GroupCommit<NewJob | NewJob[], number | number[]>((units) => commitUnits(store, units), core.opts.durability === 'full');
  }

  /** Waits until the enqueues called before are committed: reads and changes see them, as the queues' gets see puts. */
  private async synced(): Promise<void> {
    const pending = this.batch.settled();
    if (pending) await pending;
  }

  /**
   * Opens (creating if needed) the task queue `options.name` in a SQLite file, as {@link TaskQueueSync.open}, or on a
   * PostgreSQL server: `target` a `postgres://`/`postgresql://` connection string, a `pg.Pool` the caller owns (never
   * ended by `close()`) or a `pg.PoolConfig`. On PostgreSQL the tables live in `options.schema`, leases and due times
   * are on the server's clock, and every host's workers and `result()` waiters are woken by `LISTEN/NOTIFY`.
   * @throws TypeError/RangeError for a bad target or option; `ERR_QUEUE_CLIENT_MISSING` when `pg` is not installed;
   * `ERR_QUEUE_CONNECTION` when the server cannot be reached
   */
  static async open(target: string | PostgresTarget, options?: TaskQueueOptions): Promise<TaskQueue> {
    const { store, core } = await openAny(target, options, 'TaskQueue.open()');
    return new TaskQueue(store, core);
  }

  /** See {@link TaskQueueSync.enqueue}. */
  async enqueue(task: string, data?: unknown, options?: EnqueueOptions): Promise<number> {
    return (await this.batch.submit(this.argsEnqueue(task, data, options)[0]!)) as number;
  }

  /** See {@link TaskQueueSync.enqueueMany}. Commits after the enqueue() calls made before it, all or nothing. */
  async enqueueMany(jobs: EnqueueItem[]): Promise<number[]> {
    const prepared = this.argsEnqueueMany(jobs);
    return prepared.length === 0 ? [] : ((await this.batch.submit(prepared)) as number[]);
  }

  /** See {@link TaskQueueSync.getJob}. */
  async getJob(id: number): Promise<Job | undefined> {
    const jobId = this.argsId(id, 'getJob');
    await this.synced();
    return this.outJob(await this.store.getJob(jobId));
  }

  /** Waits (woken within 50 ms, no spinning) until the job finishes; see {@link TaskQueueSync.result}. */
  async result<R = unknown>(id: number, options?: ResultOptions): Promise<R> {
    const a = this.argsResult(id, options);
    return (await this.waitResult(a.id, a.timeout)) as R;
  }

  /** See {@link TaskQueueSync.submit}. */
  async submit<R = unknown>(task: string, data?: unknown, options?: SubmitOptions): Promise<R> {
    const a = this.argsSubmit(task, data, options);
    const id = (await this.batch.submit(a.job)) as number;
    return (await this.waitResult(id, a.timeout)) as R;
  }

  private waitResult(id: number, timeout: number): Promise<unknown> {
    // A store that is told of every commit (backstopMs set) is asked again only after a notification or the backstop.
    const backstop = this.store.backstopMs;
    let seen: number | undefined;
    let at = 0;
    return this.waits.run(
      async () => {
        if (backstop !== undefined) {
          const v = await this.store.version();
          const t = performance.now();
          if (v === seen && t - at < backstop) return RETRY;
          seen = v;
          at = t;
        }
        const v = this.core.outcome(id, await this.store.getJob(id));
        return v === NOT_YET ? RETRY : v;
      },
      { timeout, onTimeout: timeoutError(id, timeout) },
    );
  }

  /** See {@link TaskQueueSync.list}. */
  async list(options?: ListOptions): Promise<Job[]> {
    const a = this.argsList(options);
    await this.synced();
    return this.outList(await this.store.list(a));
  }

  /** See {@link TaskQueueSync.counts}. */
  async counts(options?: { task?: string }): Promise<JobCounts> {
    const a = this.argsCounts(options);
    await this.synced();
    return this.store.counts(a, Date.now());
  }

  /** See {@link TaskQueueSync.cancel}. */
  async cancel(id: number): Promise<boolean> {
    const jobId = this.argsId(id, 'cancel');
    await this.synced();
    return this.store.cancel(jobId, Date.now());
  }

  /** See {@link TaskQueueSync.retry}. */
  async retry(id: number): Promise<boolean> {
    const jobId = this.argsId(id, 'retry');
    await this.synced();
    return this.store.retry(jobId, Date.now());
  }

  /** See {@link TaskQueueSync.remove}. */
  async remove(id: number): Promise<boolean> {
    const jobId = this.argsId(id, 'remove');
    await this.synced();
    return this.store.remove(jobId);
  }

  /** See {@link TaskQueueSync.purge}. */
  async purge(options: PurgeOptions): Promise<number> {
    const a = this.argsPurge(options);
    await this.synced();
    return this.store.purge(a.statuses, a.before);
  }

  /** See {@link TaskQueueSync.pause}. */
  async pause(task?: string): Promise<void> {
    await this.store.setPaused(this.argsPause(task, 'pause'), true);
  }

  /** See {@link TaskQueueSync.resume}. */
  async resume(task?: string): Promise<void> {
    await this.store.setPaused(this.argsPause(task, 'resume'), false);
  }

  /** See {@link TaskQueueSync.schedule}. */
  async schedule(id: string, spec: ScheduleSpec): Promise<void> {
    await this.store.putSchedule(this.argsSchedule(id, spec));
  }

  /** See {@link TaskQueueSync.unschedule}. */
  async unschedule(id: string): Promise<boolean> {
    return this.store.removeSchedule(this.argsUnschedule(id));
  }

  /** See {@link TaskQueueSync.schedules}. */
  async schedules(): Promise<ScheduleInfo[]> {
    this.checkOpen();
    return (await this.store.listSchedules()).map(scheduleInfo);
  }

  /** See {@link TaskQueueSync.fireSchedules}. */
  async fireSchedules(): Promise<number> {
    this.checkOpen();
    let n = 0;
    const now = Date.now();
    for (const row of await this.store.listSchedules()) {
      if (row.next_run_at > now) continue;
      const plan = planTicks(this.core, row, now);
      if (await this.store.fireSchedule(row.id, row.next_run_at, plan.next, plan.last, plan.jobs)) n += plan.jobs.length;
    }
    return n;
  }

  /** Ends waiting `result()` calls with {@link QueueClosedError} and closes the file. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.waits.closeAll();
    await this.batch.drain();
    await this.store.close();
  }

  /** Same as {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Commits the units waiting on a {@link TaskQueue}'s line (a job of an enqueue(), or the jobs of an enqueueMany()) as
 * one store enqueue, and hands each unit its id or ids (the store returns them in job order).
 */
function commitUnits(store: TaskStore, units: (NewJob | NewJob[])[]): (number | number[])[] | Promise<(number | number[])[]> {
  if (!units.some((u) => Array.isArray(u))) return store.enqueue(units as NewJob[], Date.now());
  const jobs: NewJob[] = [];
  for (const u of units) {
    if (Array.isArray(u)) jobs.push(...u);
    else jobs.push(u);
  }
  const split = (ids: number[]): (number | number[])[] => {
    let k = 0;
    return units.map((u) => (Array.isArray(u) ? ids.slice(k, (k += u.length)) : ids[k++]!));
  };
  const ids = store.enqueue(jobs, Date.now());
  return Array.isArray(ids) ? split(ids) : ids.then(split);
}
