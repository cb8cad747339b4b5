/**
 * What both task queue classes share: argument checks and the translation between public arguments and store calls.
 * Each `args*` method validates and returns what to pass to the store; each `out*` method turns the store's answer
 * into the public value. {@link TaskQueueSync} calls the store directly, {@link TaskQueue} awaits it.
 *
 * @module
 * @internal
 */
import '../common/dispose.js';
import { argTypeError, argValueError, describe, QueueClosedError } from '../common/errors.js';
import { checkTimeout, validateOptions, type OptionSchema } from '../common/options.js';
import { checkLimit, STATUS_CODE, TaskCore } from './core.js';
import { checkEnqueueOptions, checkId, checkTask } from './options.js';
import { prepareSchedule } from './schedule.js';
import type { JobRow, NewJob, ScheduleRow, StatusCode, TaskStore } from './store.js';
import type { Job, JobCounts, JobStatus, ListOptions, PurgeOptions, ResultOptions, SubmitOptions } from './types.js';

const LIST_SCHEMA: OptionSchema = {
  status: { kind: 'enum', values: ['pending', 'scheduled', 'running', 'succeeded', 'failed', 'cancelled'] },
  task: { kind: 'string' },
  limit: { kind: 'custom', check: (v, l) => (typeof v === 'number' ? checkLimit(v, l) : throwType(v, l)) },
  after: { kind: 'integer', min: 0 },
};
const COUNTS_SCHEMA: OptionSchema = { task: { kind: 'string' } };
const RESULT_SCHEMA: OptionSchema = { timeout: { kind: 'custom', check: (v, l) => void checkTimeout(v, l) } };
const FINAL = ['succeeded', 'failed', 'cancelled'];
const PURGE_SCHEMA: OptionSchema = {
  status: {
    kind: 'custom',
    check: (v, l) => {
      const list = Array.isArray(v) ? v : [v];
      if (list.length === 0 || list.some((s) => typeof s !== 'string' || !FINAL.includes(s))) {
        throw argValueError(`The "${l}" option must be 'succeeded', 'failed', 'cancelled' or an array of them. ${describe(v)}`);
      }
    },
  },
  olderThan: { kind: 'number', min: 0, max: Number.MAX_SAFE_INTEGER },
};

/** The store and core behind a queue object, for {@link Worker} (kept out of the public types). */
export const QUEUE_PARTS = new WeakMap<object, { store: TaskStore; core: TaskCore }>();

function throwType(v: unknown, l: string): never {
  throw argTypeError(`The "${l}" option must be of type number. ${describe(v)}`);
}

/** Shared base of the task queue classes. */
export abstract class TaskShellBase<S extends TaskStore> {
  /** @internal */
  protected closed = false;

  /** @internal */
  protected constructor(
    /** @internal */ protected readonly store: S,
    /** @internal */ protected readonly core: TaskCore,
    private readonly className: string,
  ) {
    QUEUE_PARTS.set(this, { store, core });
  }

  /** The queue's name (`name` option). */
  get name(): string {
    return this.core.opts.name;
  }

  /** Whether `close()` was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** @internal */
  protected checkOpen(): void {
    if (this.closed) throw new QueueClosedError(`${this.className} is closed`);
  }

  /** @internal */
  protected argsEnqueue(task: unknown, data: unknown, options: unknown): NewJob[] {
    this.checkOpen();
    return [this.core.prepare(task, data, options, `${this.className}.enqueue()`, Date.now())];
  }

  /** @internal */
  protected argsEnqueueMany(jobs: unknown): NewJob[] {
    this.checkOpen();
    return this.core.prepareMany(jobs, `${this.className}.enqueueMany()`, Date.now());
  }

  /** @internal */
  protected argsSubmit(task: unknown, data: unknown, options: unknown): { job: NewJob; timeout: number } {
    this.checkOpen();
    const where = `${this.className}.submit()`;
    checkTask(task);
    const o = checkEnqueueOptions(options, where, {
      timeout: RESULT_SCHEMA.timeout!,
      attemptTimeout: { kind: 'number', min: 0, max: 2 ** 31 - 1 },
    }) as SubmitOptions;
    const { timeout, attemptTimeout, ...rest } = o;
    const enqueueOptions = attemptTimeout === undefined ? rest : { ...rest, timeout: attemptTimeout };
    const job = this.core.build(task as string, this.core.codec.encode(data === undefined ? null : data), enqueueOptions, Date.now());
    return { job, timeout: timeout ?? Infinity };
  }

  /** @internal */
  protected argsId(id: unknown, method: string): number {
    this.checkOpen();
    return checkId(id, `${this.className}.${method}()`);
  }

  /** @internal */
  protected argsResult(id: unknown, options: unknown): { id: number; timeout: number } {
    const n = this.argsId(id, 'result');
    const o = validateOptions<ResultOptions>(options, RESULT_SCHEMA, `${this.className}.result()`);
    return { id: n, timeout: o.timeout ?? Infinity };
  }

  /** @internal */
  protected outJob(row: JobRow | undefined): Job | undefined {
    return row === undefined ? undefined : this.core.toJob(row);
  }

  /** @internal */
  protected argsList(options: unknown): Parameters<TaskStore['list']>[0] {
    this.checkOpen();
    const o = validateOptions<ListOptions>(options, LIST_SCHEMA, `${this.className}.list()`);
    const q: Parameters<TaskStore['list']>[0] = { limit: o.limit ?? 100, after: o.after ?? 0, now: Date.now() };
    if (o.status !== undefined) {
      q.status = STATUS_CODE[o.status];
      if (o.status === 'pending' || o.status === 'scheduled') q.due = o.status;
    }
    if (o.task !== undefined) q.task = o.task;
    return q;
  }

  /** @internal */
  protected outList(rows: JobRow[]): Job[] {
    const now = Date.now();
    return rows.map((r) => this.core.toJob(r, now));
  }

  /** @internal */
  protected argsCounts(options: unknown): string | undefined {
    this.checkOpen();
    return validateOptions<{ task?: string }>(options, COUNTS_SCHEMA, `${this.className}.counts()`).task;
  }

  /** @internal */
  protected argsPurge(options: unknown): { statuses: StatusCode[]; before: number } {
    this.checkOpen();
    if (options === undefined) throw argTypeError(`${this.className}.purge() needs options { status, olderThan? }`);
    const o = validateOptions<PurgeOptions>(options, PURGE_SCHEMA, `${this.className}.purge()`);
    if (o.status === undefined) throw argTypeError(`${this.className}.purge() needs a "status"`);
    const list = (Array.isArray(o.status) ? o.status : [o.status]) as JobStatus[];
    return { statuses: [...new Set(list.map((s) => STATUS_CODE[s]))], before: Date.now() - (o.olderThan ?? 0) };
  }

  /** @internal */
  protected argsPause(task: unknown, method: string): string {
    this.checkOpen();
    if (task === undefined) return '*';
    checkTask(task);
    if (task === '*') throw argValueError(`${this.className}.${method}(): '*' is not a task name (call it without a task for all tasks)`);
    return task as string;
  }

  /** @internal */
  protected argsSchedule(id: unknown, spec: unknown): ScheduleRow {
    this.checkOpen();
    return prepareSchedule(this.core, id, spec, Date.now());
  }

  /** @internal */
  protected argsUnschedule(id: unknown): string {
    this.checkOpen();
    if (typeof id !== 'string') throw argTypeError(`The "id" argument of ${this.className}.unschedule() must be of type string. ${describe(id)}`);
    return id;
  }
}

export type { JobCounts };
