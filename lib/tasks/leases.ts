/**
 * The lease heartbeat of a {@link Worker}: while jobs run, their claims are renewed every third of the lease (50 to
 * 500 ms); a claim the store no longer grants (lease ran out, job removed) or a cancel request aborts the job's
 * signal. The timer is unref'd and stops when nothing runs.
 *
 * @module
 * @internal
 */
import type { Attempt } from './attempt.js';
import { TaskCancelledError } from './errors.js';
import type { TaskStore } from './store.js';

/** What the heartbeat needs of its worker. */
export interface LeaseHooks {
  /** The worker's owner token. */
  owner(): string;
  /** A job whose claim was lost: the worker forgets it (its outcome cannot be recorded). */
  lost(a: Attempt): void;
  /** A worker-level fault (a failed renewal). */
  fault(err: unknown): void;
}

/** Renews the claims of the running jobs of one worker. */
export class LeaseKeeper {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly running: ReadonlyMap<number, Attempt>,
    private readonly lease: number,
    private readonly hooks: LeaseHooks,
  ) {}

  /** Starts the heartbeat (no-op while it runs). */
  start(store: TaskStore): void {
    if (this.timer) return;
    const every = Math.max(50, Math.min(Math.floor(this.lease / 3), 500));
    this.timer = setInterval(() => void this.renew(store), every);
    this.timer.unref();
  }

  stop(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Asks the store which running jobs have a cancel request, and aborts their signals. */
  async checkCancels(store: TaskStore): Promise<void> {
    const ids: number[] = [];
    for (const a of this.running.values()) if (!a.done && !a.aborted) ids.push(a.id);
    if (ids.length > 0) this.cancelled(await store.cancelRequested!(ids));
  }

  private async renew(store: TaskStore): Promise<void> {
    const jobs = [...this.running.values()].filter((a) => !a.done).map((a) => ({ id: a.id, attempt: a.row.attempts }));
    if (jobs.length === 0) {
      if (this.running.size === 0) this.stop();
      return;
    }
    try {
      const r = await store.renew(this.hooks.owner(), jobs, Date.now() + this.lease);
      for (const id of r.lost) {
        const a = this.running.get(id);
        if (!a) continue;
        a.drop();
        a.abort(new TaskCancelledError('the claim on this job was lost (lease ran out or the job was removed)'));
        this.hooks.lost(a);
      }
      this.cancelled(r.cancelled);
    } catch (err) {
      this.hooks.fault(err);
    }
  }

  private cancelled(ids: readonly number[]): void {
    for (const id of ids) this.running.get(id)?.abort(new TaskCancelledError(`task job #${id} was cancelled`));
  }
}
