/**
 * The logic {@link TaskQueue}, {@link TaskQueueSync} and {@link Worker} share, above the store: validating and encoding
 * jobs, decoding rows into {@link Job}s, what a finished job's `result()` gives, and the follow-up of `onComplete`.
 * The shells only differ in how they wait and whether they await the store.
 *
 * @module
 * @internal
 */
import { argTypeError, describe, rangeError, SerializationError } from '../common/errors.js';
import { resolveSerializer, type Codec } from '../common/serializer.js';
import { TaskCancelledError, TaskFailedError, TaskNotFoundError } from './errors.js';
import { checkEnqueueOptions, checkTask, DEFAULT_MAX_ATTEMPTS, type ResolvedTaskOptions } from './options.js';
import { CANCELLED, FAILED, READY, RUNNING, SUCCEEDED, type FollowUp, type JobRow, type NewJob, type StatusCode } from './store.js';
import type { EnqueueItem, EnqueueOptions, Job, JobError, JobStatus } from './types.js';

/** Returned by {@link TaskCore.outcome} while the job is not finished. */
export const NOT_YET: unique symbol = Symbol('persist-queue.tasks.notYet');

/** Status names to stored codes (pending and scheduled share READY). */
export const STATUS_CODE: Record<JobStatus, StatusCode> = {
  pending: READY,
  scheduled: READY,
  running: RUNNING,
  succeeded: SUCCEEDED,
  failed: FAILED,
  cancelled: CANCELLED,
};

/** Shared logic of one open task queue. */
export class TaskCore {
  readonly codec: Codec<unknown>;
  readonly followUp: FollowUp;

  constructor(readonly opts: ResolvedTaskOptions) {
    this.codec = resolveSerializer<unknown>(opts.serializer);
    this.followUp = (row, status, result, error) => {
      const spec = this.codec.decode(row.on_complete!) as { task: string; data?: unknown };
      const job: Record<string, unknown> = { id: row.id, task: row.task, status: statusName(status, 0, 0) };
      if (result !== null) job.result = this.codec.decode(result);
      if (error !== null) job.error = JSON.parse(error) as JobError;
      // A result the serializer cannot re-encode inside the follow-up is left out rather than losing the follow-up.
      let data: Buffer;
      try {
        data = this.codec.encode({ job, data: spec.data ?? null });
      } catch {
        delete job.result;
        data = this.codec.encode({ job, data: spec.data ?? null });
      }
      return { task: spec.task, data, priority: 0, runAt: null, maxAttempts: null, backoff: null, timeout: null, key: null, onComplete: null };
    };
  }

  /** Encodes a value; `undefined` (a handler that returned nothing) is stored as NULL. */
  encodeValue(value: unknown): Buffer | null {
    return value === undefined ? null : this.codec.encode(value);
  }

  decodeValue(bytes: Buffer | null): unknown {
    return bytes === null ? undefined : this.codec.decode(bytes);
  }

  /** Validates and encodes one job (throws before anything is written). */
  prepare(task: unknown, data: unknown, options: unknown, where: string, now: number, label?: string): NewJob {
    checkTask(task, label === undefined ? 'task' : `${label}.task`);
    const o = checkEnqueueOptions(options, where, undefined, label === undefined ? undefined : `${label}.options`);
    return this.build(task as string, this.codec.encode(data === undefined ? null : data), o, now);
  }

  /** Builds a job from encoded data and validated options. */
  build(task: string, data: Buffer, o: EnqueueOptions, now: number): NewJob {
    // Due at once (no delay, or 0): null, the store's clock at the write; a client time sent as "now minus the
    // moments spent before the write" could order two jobs enqueued one after the other the wrong way round.
    let runAt: number | null = null;
    if (o.delay !== undefined && o.delay > 0) runAt = Math.round(now + o.delay);
    else if (o.runAt !== undefined) runAt = Math.round(o.runAt instanceof Date ? o.runAt.getTime() : o.runAt);
    return {
      task,
      data,
      priority: o.priority ?? 0,
      runAt,
      maxAttempts: o.maxAttempts ?? null,
      backoff: o.backoff === undefined ? null : JSON.stringify(o.backoff),
      timeout: o.timeout ?? null,
      key: o.key ?? null,
      onComplete: o.onComplete === undefined ? null : this.codec.encode({ task: o.onComplete.task, data: o.onComplete.data ?? null }),
    };
  }

  /** Validates and encodes the jobs of `enqueueMany()`. */
  prepareMany(items: unknown, where: string, now: number): NewJob[] {
    if (!Array.isArray(items)) throw argTypeError(`The "jobs" argument of ${where} must be an array. ${describe(items)}`);
    // Every index, holes included (map() would skip a hole and leave it in the result).
    return Array.from(items as unknown[], (item: unknown, i) => {
      if (item === null || typeof item !== 'object') throw argTypeError(`jobs[${i}] of ${where} must be an object { task, data?, options? }. ${describe(item)}`);
      const { task, data, options, ...rest } = item as EnqueueItem;
      const extra = Object.keys(rest);
      if (extra.length > 0) throw argTypeError(`jobs[${i}] of ${where} has an unknown property "${extra[0]}" (known: task, data, options)`);
      try {
        return this.prepare(task, data, options, `${where} jobs[${i}]`, now, `jobs[${i}]`);
      } catch (err) {
        if (err instanceof SerializationError) throw new SerializationError(`jobs[${i}]: ${err.message}`, { cause: err });
        throw err;
      }
    });
  }

  /** A stored row as a public {@link Job}. */
  toJob(row: JobRow, now = Date.now()): Job {
    const job: Job = {
      id: row.id,
      task: row.task,
      data: this.codec.decode(row.data),
      status: statusName(row.status, row.run_at, now),
      priority: row.priority,
      attempts: row.attempts,
      maxAttempts: row.max_attempts ?? DEFAULT_MAX_ATTEMPTS,
      runAt: new Date(row.run_at),
      createdAt: new Date(row.created_at),
    };
    if (row.started_at !== null) job.startedAt = new Date(row.started_at);
    if (row.finished_at !== null) job.finishedAt = new Date(row.finished_at);
    if (row.result !== null) job.result = this.codec.decode(row.result);
    if (row.error !== null) job.error = JSON.parse(row.error) as JobError;
    if (row.progress !== null) job.progress = this.codec.decode(row.progress);
    if (row.key !== null) job.key = row.key;
    return job;
  }

  /**
   * What `result()` gives for this row: the value, a thrown TaskFailedError/TaskCancelledError/TaskNotFoundError, or
   * {@link NOT_YET}.
   */
  outcome(id: number, row: JobRow | undefined): unknown {
    if (row === undefined) throw new TaskNotFoundError(id);
    switch (row.status) {
      case SUCCEEDED:
        return this.decodeValue(row.result);
      case FAILED:
        throw new TaskFailedError(this.toJob(row));
      case CANCELLED:
        throw new TaskCancelledError(`task ${row.task} #${row.id} was cancelled`, this.toJob(row));
      default:
        return NOT_YET;
    }
  }
}

/** The public status of a stored status code. */
export function statusName(status: number, runAt: number, now: number): JobStatus {
  switch (status) {
    case READY:
      return runAt > now ? 'scheduled' : 'pending';
    case RUNNING:
      return 'running';
    case SUCCEEDED:
      return 'succeeded';
    case FAILED:
      return 'failed';
    default:
      return 'cancelled';
  }
}

/** A thrown value as a stored {@link JobError} (JSON). */
export function errorJson(err: unknown): string {
  const e: JobError =
    err instanceof Error
      ? { name: err.name, message: err.message }
      : { name: 'NonError', message: typeof err === 'string' ? err : safeString(err) };
  if (err instanceof Error && err.stack) e.stack = err.stack;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' || typeof code === 'number') e.code = String(code);
  return JSON.stringify(e);
}

function safeString(v: unknown): string {
  try {
    const s = JSON.stringify(v);
    if (s !== undefined) return s;
  } catch {
    // fall through
  }
  try {
    return String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/** Checks a `limit` option. */
export function checkLimit(v: number, label: string): void {
  if (!Number.isInteger(v) || v < 1 || v > 10_000) throw rangeError(`The "${label}" option must be an integer from 1 to 10000. Received ${v}`);
}
