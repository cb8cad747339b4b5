/**
 * {@link Worker}: claims due jobs of the tasks it has handlers for, runs them, records their outcomes, renews their
 * leases, returns jobs of dead workers, fires due schedule ticks, and sleeps without spinning when there is nothing
 * to do.
 *
 * One round = one store transaction: the outcomes that finished since the last round (batched across a
 * `setImmediate`, like group commit) are written and as many due jobs as there are free slots are claimed.
 *
 * @module
 */
import { EventEmitter } from 'node:events';
import type { Piscina } from 'piscina';
import { argTypeError, describe, QueueClosedError } from '../common/errors.js';
import { validateOptions } from '../common/options.js';
import { isOwnerAlive, newOwner, retireOwner } from '../common/owner.js';
import { MAX_POLL_MS } from '../common/wait.js';
import { Attempt, type Finished } from './attempt.js';
import { TaskCancelledError } from './errors.js';
import type { TaskCore } from './core.js';
import { resolveWorker, type ResolvedHandler, type ResolvedWorkerOptions } from './handlers.js';
import type { PostgresTarget } from '../postgres/options.js';
import { isPostgresTarget } from '../postgres/tasks/open.js';
import { TaskQueue, TaskQueueSync } from './queue.js';
import { planTicks } from './schedule.js';
import { QUEUE_PARTS } from './shell.js';
import { CANCELLED, FAILED, READY, SUCCEEDED, type ClaimGroup, type ClaimRequest, type JobRow, type StatusCode, type TaskStore } from './store.js';
import type { Job, StopOptions, TaskHandlers, WorkerOptions } from './types.js';

/** The events of a {@link Worker} and their arguments. */
export interface WorkerEvents {
  completed: [job: Job, result: unknown];
  failed: [job: Job, error: unknown];
  retrying: [job: Job, error: unknown, delayMs: number];
  error: [error: unknown];
  idle: [];
}

/** How often dead owners, expired leases, retention and schedules are looked at. */
const SWEEP_MS = 1000;

/**
 * Runs jobs. Give it a {@link TaskQueue} (or {@link TaskQueueSync}, or a file path: it then opens and closes its own
 * queue) and handlers by task name. It claims only tasks it has handlers for. Events: `'completed' (job, result)`,
 * `'failed' (job, error)` (attempts used up), `'retrying' (job, error, delayMs)`, `'error' (err)` (a worker-level
 * fault; the worker keeps going; emitted only when someone listens), `'idle'`.
 *
 * @example
 * ```ts
 * const w = new Worker(q, { resize: async (img, ctx) => resize(img, ctx.signal) }, { concurrency: 4 }).start();
 * w.on('failed', (job, err) => console.error(job.id, err));
 * await w.stop();
 * ```
 */
export class Worker extends EventEmitter<WorkerEvents> {
  private readonly handlers: Map<string, ResolvedHandler>;
  private readonly opts: ResolvedWorkerOptions;
  private readonly target: TaskQueue | TaskQueueSync | string | PostgresTarget;
  private parts: { store: TaskStore; core: TaskCore } | undefined;
  private ownQueue: TaskQueue | undefined;
  private owner: string | undefined;
  private pool: Piscina | undefined;
  private readonly running = new Map<number, Attempt>();
  private readonly perTask = new Map<string, number>();
  private finished: Finished[] = [];
  private loop: Promise<void> | undefined;
  private stopping = false;
  private stopped = false;
  private paused = false;
  private kick: (() => void) | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private lastSweep = 0;
  private settledCount = 0;

  /**
   * @param queueOrTarget - an open task queue, the path of a SQLite file, or a PostgreSQL target (a `postgres://`
   *   URL, a `pg.Pool` or a `pg.PoolConfig`); a path or target is opened with `options.queue` and closed by `stop()`
   * @param handlers - task name to handler function or {@link TaskHandlerSpec}
   * @param options - {@link WorkerOptions}
   * @throws TypeError/RangeError for bad handlers or options
   */
  constructor(queueOrTarget: TaskQueue | TaskQueueSync | string | PostgresTarget, handlers: TaskHandlers, options?: WorkerOptions) {
    super();
    if (typeof queueOrTarget !== 'string' && !isQueue(queueOrTarget) && !isPostgresTarget(queueOrTarget)) {
      throw argTypeError(`The "queueOrTarget" argument of new Worker() must be a TaskQueue, a TaskQueueSync, a file path or a PostgreSQL target. ${describe(queueOrTarget)}`);
    }
    const r = resolveWorker(handlers, options);
    this.handlers = r.handlers;
    this.opts = r.options;
    this.target = queueOrTarget;
  }

  /** Whether the worker is running (started or inside `runUntilIdle()`). */
  get isRunning(): boolean {
    return this.loop !== undefined;
  }

  /** Jobs in flight now. */
  get active(): number {
    return this.running.size;
  }

  /** Starts claiming and running jobs in the background. Returns the worker. */
  start(): this {
    this.checkUsable();
    if (!this.loop) this.loop = this.run(false).catch((err: unknown) => this.fault(err));
    return this;
  }

  /**
   * Runs until no job this worker can handle is due and none is running (also firing due schedules), then resolves
   * with the number of attempts it finished. The worker can be started or run again afterwards.
   */
  async runUntilIdle(): Promise<number> {
    this.checkUsable();
    if (this.loop) throw new Error('runUntilIdle(): the worker is already running');
    const before = this.settledCount;
    this.loop = this.run(true);
    try {
      await this.loop;
    } finally {
      this.loop = undefined;
    }
    return this.settledCount - before;
  }

  /** Stops claiming (running jobs go on). */
  pause(): void {
    this.paused = true;
  }

  /** Claims again after {@link pause}. */
  resume(): void {
    this.paused = false;
    this.wake();
  }

  /**
   * Claims nothing more, waits up to `timeout` ms for running jobs, then aborts their `signal` and gives them back
   * without charging the attempt. Closes the queue the worker opened itself. Idempotent.
   */
  async stop(options?: StopOptions): Promise<void> {
    const o = validateOptions<StopOptions>(options, { timeout: { kind: 'number', min: 0, max: Infinity } }, 'Worker.stop()');
    if (this.stopped) return;
    this.stopping = true;
    this.wake();
    const timeout = o.timeout ?? 30_000;
    if (this.loop && this.running.size > 0 && timeout > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.loop, new Promise<void>((r) => (timer = setTimeout(r, timeout)))]);
      clearTimeout(timer);
    }
    for (const a of this.running.values()) {
      const f = a.release();
      a.abort(new TaskCancelledError('the worker stopped; the job was given back'));
      if (f) this.finished.push(f);
    }
    this.wake();
    await this.loop;
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.owner) retireOwner(this.owner);
    if (this.pool) await this.pool.destroy();
    if (this.ownQueue) await this.ownQueue.close();
  }

  private checkUsable(): void {
    if (this.stopping || this.stopped) throw new QueueClosedError('the worker was stopped');
    const q = this.target;
    if (isQueue(q) && q.isClosed) throw new QueueClosedError('the worker\'s task queue is closed');
  }

  private wake(): void {
    const k = this.kick;
    this.kick = undefined;
    if (k) k();
  }

  private fault(err: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  private async setup(): Promise<{ store: TaskStore; core: TaskCore }> {
    if (!this.parts) {
      let q = this.target;
      if (!isQueue(q)) q = this.ownQueue = await TaskQueue.open(q, this.opts.queue);
      this.parts = QUEUE_PARTS.get(q)!;
    }
    this.owner ??= newOwner();
    if (this.opts.threads && !this.pool) {
      // Loaded on first use: most workers never need threads.
      const { Piscina: Pool } = await import('piscina');
      this.pool = new Pool({ filename: this.opts.threads.module, maxThreads: this.opts.threads.size, minThreads: 0, idleTimeout: 1000 });
    }
    return this.parts;
  }

  private async run(untilIdle: boolean): Promise<void> {
    const { store, core } = await this.setup();
    const tasks = [...this.handlers.keys()];
    let idleSaid = false;
    let nextDue: number | null = null;
    let rateWait: number | null = null;
    let scheduleAt: number | null = null;
    const queue = isQueue(this.target) ? this.target : this.ownQueue!;
    for (;;) {
      // A queue closed under a running worker: nothing can be recorded any more (stop the worker first).
      if (queue.isClosed) return;
      const now = Date.now();
      let outcomes: Finished[] | undefined;
      let written = false;
      try {
        if (!this.stopping && now - this.lastSweep >= SWEEP_MS) {
          this.lastSweep = now;
          await store.sweep(now, isOwnerAlive);
          scheduleAt = await store.nextScheduleAt();
        }
        if (!this.stopping && scheduleAt !== null && scheduleAt <= now) {
          await this.fireSchedules(store, core, now);
          scheduleAt = await store.nextScheduleAt();
        }
        outcomes = this.finished;
        this.finished = [];
        const claim = this.stopping || this.paused ? null : this.claimRequest(now, outcomes);
        let claimed: JobRow[] = [];
        if (claim || outcomes.length > 0) {
          const r = await store.cycle(outcomes.map((f) => f.outcome), claim);
          written = true;
          for (let i = 0; i < outcomes.length; i++) this.settled(outcomes[i]!, r.settled[i]!, core);
          claimed = r.claimed;
          rateWait = r.rateWaitUntil;
          for (const row of claimed) this.begin(row, core, store);
          // A due job that could not be claimed (paused task, per-task limit) is no reason to wake early.
          if (claim && claimed.length < claim.limit) nextDue = await store.nextRunAt(tasks);
          if (nextDue !== null && nextDue <= now) nextDue = null;
          if (rateWait !== null && rateWait <= now) rateWait = null;
        }
        if (claimed.length > 0 || outcomes.length > 0) idleSaid = false;
        if (this.running.size === 0 && this.finished.length === 0 && claimed.length === 0) {
          if (this.stopping || untilIdle) return;
          if (!idleSaid && !this.paused) {
            idleSaid = true;
            this.emit('idle');
          }
        }
        if (this.finished.length > 0) {
          await new Promise<void>((r) => setImmediate(r));
          continue;
        }
        if (claim && claimed.length === claim.limit) continue; // maybe more due jobs than slots
        if (!this.stopping) scheduleAt = await store.nextScheduleAt();
        await this.sleep(store, Math.min(nextDue ?? Infinity, scheduleAt ?? Infinity, rateWait ?? Infinity, this.lastSweep + SWEEP_MS));
      } catch (err) {
        // Outcomes not written stay for the next round (the claim fence makes a repeat harmless).
        if (outcomes && outcomes.length > 0 && !written) this.finished = outcomes.concat(this.finished);
        this.fault(err);
        if (this.stopping && this.running.size === 0) return;
        await new Promise<void>((r) => setTimeout(r, 100).unref());
      }
    }
  }

  /** Sleeps until `until` (epoch ms), a finished job, an in-process write, or another process's commit. */
  private async sleep(store: TaskStore, until: number): Promise<void> {
    const version = await store.version();
    let poll = 1;
    for (;;) {
      // Always wait for at least one timer tick: the store may be synchronous, and a loop of resolved awaits would
      // starve the event loop.
      const left = Math.max(1, until - Date.now());
      if (this.finished.length > 0) return;
      let timer: NodeJS.Timeout | undefined;
      let woken = false;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          woken = true;
          store.signal.off(done);
          clearTimeout(timer);
          resolve();
        };
        this.kick = done;
        store.signal.on(done);
        timer = setTimeout(() => {
          store.signal.off(done);
          resolve();
        }, Math.min(poll, left));
      });
      this.kick = undefined;
      if (woken || Date.now() >= until) return;
      if ((await store.version()) !== version) return;
      poll = Math.min(poll * 2, MAX_POLL_MS);
    }
  }

  /** What to claim once `settling` are settled (they free their slots in the same round). */
  private claimRequest(now: number, settling: readonly Finished[]): ClaimRequest | null {
    const free = this.opts.concurrency - this.running.size + settling.length;
    if (free <= 0) return null;
    const plain: string[] = [];
    const groups: ClaimGroup[] = [];
    const maxAttempts: Record<string, number> = {};
    for (const h of this.handlers.values()) {
      if (h.maxAttempts !== 3) maxAttempts[h.task] = h.maxAttempts;
      if (h.concurrency === undefined && h.rateLimit === undefined) plain.push(h.task);
      else {
        let busy = this.perTask.get(h.task) ?? 0;
        for (const f of settling) if (f.attempt.row.task === h.task) busy--;
        const limit = Math.min(free, (h.concurrency ?? Infinity) - busy);
        if (limit > 0) groups.push(h.rateLimit ? { tasks: [h.task], limit, rate: h.rateLimit } : { tasks: [h.task], limit });
      }
    }
    if (plain.length > 0) groups.unshift({ tasks: plain, limit: free });
    if (groups.length === 0) return null;
    return { owner: this.owner!, now, leaseUntil: now + this.opts.lease, limit: free, groups, maxAttempts };
  }

  private begin(row: JobRow, core: TaskCore, store: TaskStore): void {
    const spec = this.handlers.get(row.task)!;
    const a = new Attempt(
      row,
      spec,
      core,
      this.owner!,
      (f) => {
        this.finished.push(f);
        this.wake();
      },
      async (att, bytes) => {
        await store.setProgress(att.row.id, att.row.attempts, this.owner!, bytes);
      },
    );
    this.running.set(row.id, a);
    this.perTask.set(row.task, (this.perTask.get(row.task) ?? 0) + 1);
    this.startHeartbeat(store);
    a.run(this.pool);
  }

  private end(a: Attempt): void {
    if (this.running.get(a.id) !== a) return;
    this.running.delete(a.id);
    this.perTask.set(a.row.task, (this.perTask.get(a.row.task) ?? 1) - 1);
    if (this.running.size === 0 && this.heartbeat) {
      clearInterval(this.heartbeat);
      this.heartbeat = undefined;
    }
  }

  private settled(f: Finished, status: StatusCode | null, core: TaskCore): void {
    this.end(f.attempt);
    if (status === null || f.outcome.kind === 'release') return;
    this.settledCount++;
    const event = status === SUCCEEDED ? 'completed' : status === FAILED ? 'failed' : status === READY ? 'retrying' : undefined;
    if (event === undefined || this.listenerCount(event) === 0) return;
    const row = f.attempt.row;
    const o = f.outcome;
    const job = core.toJob({
      ...row,
      status,
      owner: null,
      result: o.kind === 'succeeded' ? o.result : null,
      error: o.kind === 'retry' || o.kind === 'failed' ? o.error : row.error,
      run_at: o.kind === 'retry' ? o.runAt : row.run_at,
      finished_at: status === READY ? null : o.now,
    });
    try {
      if (event === 'completed') this.emit('completed', job, f.value);
      else if (event === 'failed') this.emit('failed', job, f.error);
      else this.emit('retrying', job, f.error, f.delay ?? 0);
    } catch (err) {
      this.fault(err);
    }
  }

  private startHeartbeat(store: TaskStore): void {
    if (this.heartbeat) return;
    const every = Math.max(50, Math.min(Math.floor(this.opts.lease / 3), 500));
    this.heartbeat = setInterval(() => void this.renew(store), every);
    this.heartbeat.unref();
  }

  private async renew(store: TaskStore): Promise<void> {
    const jobs = [...this.running.values()].filter((a) => !a.done).map((a) => ({ id: a.id, attempt: a.row.attempts }));
    if (jobs.length === 0) return;
    try {
      const r = await store.renew(this.owner!, jobs, Date.now() + this.opts.lease);
      for (const id of r.lost) {
        const a = this.running.get(id);
        if (!a) continue;
        a.drop();
        a.abort(new TaskCancelledError('the claim on this job was lost (lease ran out or the job was removed)'));
        this.end(a);
      }
      for (const id of r.cancelled) this.running.get(id)?.abort(new TaskCancelledError(`task job #${id} was cancelled`));
    } catch (err) {
      this.fault(err);
    }
  }

  private async fireSchedules(store: TaskStore, core: TaskCore, now: number): Promise<void> {
    for (const row of await store.listSchedules()) {
      if (row.next_run_at > now) continue;
      const plan = planTicks(core, row, now);
      await store.fireSchedule(row.id, row.next_run_at, plan.next, plan.last, plan.jobs);
    }
  }
}

function isQueue(q: unknown): q is TaskQueue | TaskQueueSync {
  return q instanceof TaskQueue || q instanceof TaskQueueSync;
}

export { CANCELLED };
