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
import { argTypeError, describe, QueueClosedError } from '../common/errors.js';
import { validateOptions } from '../common/options.js';
import { isOwnerAlive, newOwner, retireOwner } from '../common/owner.js';
import { Attempt, THREAD_ENTRY, type Finished, type Threads } from './attempt.js';
import { TaskCancelledError } from './errors.js';
import { LeaseKeeper } from './leases.js';
import type { TaskCore } from './core.js';
import { ClaimPlanner, resolveWorker, type ResolvedHandler, type ResolvedWorkerOptions } from './handlers.js';
import type { PostgresTarget } from '../postgres/options.js';
import { isPostgresTarget } from '../postgres/tasks/open.js';
import { TaskQueue, TaskQueueSync } from './queue.js';
import { fireDueSchedules } from './schedule.js';
import { QUEUE_PARTS } from './shell.js';
import { sleepUntil, type Sleeper } from './sleep.js';
import { CANCELLED, FAILED, READY, SUCCEEDED, type JobRow, type StatusCode, type TaskStore } from './store.js';
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
 * While jobs finish back to back without waiting (synchronous handlers, a synchronous store), the loop runs on
 * microtasks and gives the event loop a turn (`setImmediate`) once this many ms have passed since the last one, rather
 * than once per job.
 */
const YIELD_MS = 4;

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
  private readonly planner: ClaimPlanner;
  private readonly target: TaskQueue | TaskQueueSync | string | PostgresTarget;
  private parts: { store: TaskStore; core: TaskCore } | undefined;
  private ownQueue: TaskQueue | undefined;
  private owner: string | undefined;
  private threads: Threads | undefined;
  private readonly running = new Map<number, Attempt>();
  private readonly perTask = new Map<string, number>();
  private finished: Finished[] = [];
  /** The running loop (never rejects; cleared when the loop ends). */
  private loop: Promise<void> | undefined;
  /** What the loop does once idle: go on ('started') or end ('idle', a runUntilIdle() of a worker not started). */
  private mode: 'idle' | 'started' = 'idle';
  /** Rounds of the loop begun so far. */
  private round = 0;
  /** runUntilIdle() calls waiting for an idle round that began after the call (or for the loop's end). */
  private idleWaiters: { after: number; resolve: () => void }[] = [];
  private stopping = false;
  private stopped = false;
  private paused = false;
  private readonly sleeper: Sleeper = { kick: undefined, pending: () => this.finished.length > 0 };
  private readonly leases: LeaseKeeper;
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
    this.planner = new ClaimPlanner(r.handlers);
    this.target = queueOrTarget;
    this.leases = new LeaseKeeper(this.running, this.opts.lease, {
      owner: () => this.owner!,
      lost: (a) => this.end(a),
      fault: (err) => this.fault(err),
    });
  }

  /** Whether the worker is running (started and not stopped, or inside `runUntilIdle()`). */
  get isRunning(): boolean {
    return this.loop !== undefined;
  }

  /** Jobs in flight now. */
  get active(): number {
    return this.running.size;
  }

  /**
   * Starts claiming and running jobs in the background. Returns the worker. Called while `runUntilIdle()` runs, the
   * worker goes on after that call resolves. Calling it on a started worker changes nothing.
   */
  start(): this {
    this.checkUsable();
    this.mode = 'started';
    if (!this.loop) void this.launch();
    return this;
  }

  /**
   * Runs until no job this worker can handle is due and none is running (also firing due schedules), then resolves
   * with the number of attempts it finished meanwhile. On a started worker: resolves at its next idle round (it
   * goes on running). The worker can be started or run again afterwards.
   * @throws QueueClosedError after `stop()`; the error of opening the worker's own queue, if that fails
   */
  async runUntilIdle(): Promise<number> {
    this.checkUsable();
    const before = this.settledCount;
    // A round already under way may have looked for due jobs before this call: only a later round's idleness counts.
    const idle = new Promise<void>((resolve) => this.idleWaiters.push({ after: this.round, resolve }));
    if (this.loop) {
      this.wake();
      await idle;
    } else {
      this.mode = 'idle';
      await Promise.race([idle, this.launch()]);
    }
    return this.settledCount - before;
  }

  /** Runs the loop; returns its own promise (rejects if it fails), `this.loop` holds one that never rejects. */
  private launch(): Promise<void> {
    const run = this.run();
    this.loop = run.catch((err: unknown) => {
      if (this.mode === 'started') this.fault(err);
    });
    return run;
  }

  /** Resolves the runUntilIdle() calls made before the current round began (all of them when the loop ends). */
  private releaseIdle(all: boolean): void {
    const keep: { after: number; resolve: () => void }[] = [];
    for (const w of this.idleWaiters) {
      if (all || w.after < this.round) w.resolve();
      else keep.push(w);
    }
    this.idleWaiters = keep;
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
    this.leases.stop();
    if (this.owner) retireOwner(this.owner);
    if (this.threads) await this.threads.pool.destroy();
    if (this.ownQueue) await this.ownQueue.close();
  }

  private checkUsable(): void {
    if (this.stopping || this.stopped) throw new QueueClosedError('the worker was stopped');
    const q = this.target;
    if (isQueue(q) && q.isClosed) throw new QueueClosedError('the worker\'s task queue is closed');
  }

  private wake(): void {
    const k = this.sleeper.kick;
    this.sleeper.kick = undefined;
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
    if (this.opts.threads && !this.threads) {
      // Loaded on first use: most workers never need threads.
      const { Piscina: Pool } = await import('piscina');
      const pool = new Pool({ filename: THREAD_ENTRY, maxThreads: this.opts.threads.size, minThreads: 0, idleTimeout: 1000 });
      this.threads = { pool, module: this.opts.threads.module };
    }
    return this.parts;
  }

  private async run(): Promise<void> {
    try {
      await this.rounds();
    } finally {
      // Synchronously with the end of the loop, so a runUntilIdle() resumed by it finds no loop and starts one.
      this.loop = undefined;
      this.releaseIdle(true);
    }
  }

  private async rounds(): Promise<void> {
    const { store, core } = await this.setup();
    const tasks = [...this.handlers.keys()];
    let idleSaid = false;
    let nextDue: number | null = null;
    let rateWait: number | null = null;
    let scheduleAt: number | null = null;
    let lastYield = performance.now();
    const queue = isQueue(this.target) ? this.target : this.ownQueue!;
    for (;;) {
      this.round++;
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
          await fireDueSchedules(store, core, now);
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
          this.releaseIdle(false);
          if (this.stopping || this.mode === 'idle') {
            this.leases.stop();
            return;
          }
          if (!idleSaid && !this.paused) {
            idleSaid = true;
            this.emit('idle');
          }
        }
        // More to do at once (outcomes to write, or maybe more due jobs than slots): go on, with an event-loop turn
        // every YIELD_MS (timers, I/O, a stop() call) instead of one per round.
        if (this.finished.length > 0 || (claim && claimed.length === claim.limit)) {
          if (performance.now() - lastYield >= YIELD_MS) {
            await new Promise<void>((r) => setImmediate(r));
            lastYield = performance.now();
          }
          continue;
        }
        if (this.running.size === 0) this.leases.stop();
        if (!this.stopping) scheduleAt = await store.nextScheduleAt();
        const why = await sleepUntil(store, Math.min(nextDue ?? Infinity, scheduleAt ?? Infinity, rateWait ?? Infinity, this.lastSweep + SWEEP_MS), this.sleeper);
        lastYield = performance.now();
        // A write or commit of the queue while jobs run may be a cancel of one of them: deliver it now, not at the
        // next lease renewal.
        if (why === 'store' && this.running.size > 0 && store.cancelRequested) await this.leases.checkCancels(store);
      } catch (err) {
        // Outcomes not written stay for the next round (the claim fence makes a repeat harmless).
        if (outcomes && outcomes.length > 0 && !written) this.finished = outcomes.concat(this.finished);
        this.fault(err);
        if (this.stopping && this.running.size === 0) return;
        await new Promise<void>((r) => setTimeout(r, 100).unref());
      }
    }
  }

  /** What to claim once `settling` are settled (they free their slots in the same round). */
  private claimRequest(now: number, settling: readonly Finished[]) {
    const free = this.opts.concurrency - this.running.size + settling.length;
    return this.planner.request(this.owner!, now, this.opts.lease, free, (task) => {
      let busy = this.perTask.get(task) ?? 0;
      for (const f of settling) if (f.attempt.row.task === task) busy--;
      return busy;
    });
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
    this.leases.start(store);
    a.run(this.threads);
  }

  private end(a: Attempt): void {
    if (this.running.get(a.id) !== a) return;
    this.running.delete(a.id);
    this.perTask.set(a.row.task, (this.perTask.get(a.row.task) ?? 1) - 1);
    // The heartbeat is not stopped here: at concurrency 1 every job would stop it and the next one start it again.
    // It stops when the worker goes to sleep with nothing running (or finds nothing to renew).
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
}

function isQueue(q: unknown): q is TaskQueue | TaskQueueSync {
  return q instanceof TaskQueue || q instanceof TaskQueueSync;
}

export { CANCELLED };
