/**
 * Validation of a worker's handlers and options, and the resolved per-task settings.
 *
 * @module
 * @internal
 */
import { argTypeError, argValueError, describe } from '../common/errors.js';
import { validateOptions, type OptionSchema } from '../common/options.js';
import { checkBackoff, checkTask, DEFAULT_BACKOFF, DEFAULT_MAX_ATTEMPTS } from './options.js';
import type { ClaimGroup, ClaimRequest } from './store.js';
import type { Backoff, TaskHandler, TaskHandlers, TaskHandlerSpec, WorkerOptions } from './types.js';

/** One task's resolved settings. */
export interface ResolvedHandler {
  task: string;
  /** undefined: runs in the thread pool. */
  handler: TaskHandler | undefined;
  concurrency: number | undefined;
  maxAttempts: number;
  backoff: Backoff;
  timeout: number;
  rateLimit: { max: number; perMs: number } | undefined;
}

/** Resolved worker options. */
export interface ResolvedWorkerOptions {
  concurrency: number;
  lease: number;
  threads: { module: string; size: number } | undefined;
  queue: WorkerOptions['queue'];
}

const SPEC_SCHEMA: OptionSchema = {
  handler: { kind: 'custom', check: (v, l) => void (typeof v !== 'function' && fail(`The "${l}" must be a function. ${describe(v)}`)) },
  concurrency: { kind: 'integer', min: 1, max: 10_000 },
  maxAttempts: { kind: 'integer', min: 1, max: 1_000_000 },
  backoff: { kind: 'custom', check: (v, l) => void checkBackoff(v, l) },
  timeout: { kind: 'number', min: 0, max: 2 ** 31 - 1 },
  rateLimit: {
    kind: 'custom',
    check: (v, l) => {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(`The "${l}" option must be an object { max, perMs }. ${describe(v)}`);
      const r = validateOptions<{ max: number; perMs: number }>(v, { max: { kind: 'integer', min: 1, max: 1_000_000_000 }, perMs: { kind: 'integer', min: 1, max: 2 ** 31 - 1 } }, `the "${l}" option`, l);
      if (r.max === undefined || r.perMs === undefined) fail(`The "${l}" option needs both "max" and "perMs"`);
    },
  },
};

const OPTIONS_SCHEMA: OptionSchema = {
  concurrency: { kind: 'integer', min: 1, max: 10_000 },
  lease: { kind: 'integer', min: 100, max: 2 ** 31 - 1 },
  threads: {
    kind: 'custom',
    check: (v, l) => {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(`The "${l}" option must be an object { module, size? }. ${describe(v)}`);
      const t = validateOptions<{ module: string; size: number }>(v, { module: { kind: 'string' }, size: { kind: 'integer', min: 1, max: 1024 } }, `the "${l}" option`, l);
      if (t.module === undefined) fail(`The "${l}.module" option is required (path of the module exporting the handlers)`);
    },
  },
  queue: { kind: 'custom', check: () => undefined }, // checked by TaskQueue.open()
};

function fail(message: string): never {
  throw argTypeError(message);
}

/** Validates handlers and options together. */
export function resolveWorker(handlers: unknown, options: unknown): { handlers: Map<string, ResolvedHandler>; options: ResolvedWorkerOptions } {
  const o = validateOptions<WorkerOptions>(options, OPTIONS_SCHEMA, 'new Worker()');
  if (handlers === null || typeof handlers !== 'object' || Array.isArray(handlers)) {
    throw argTypeError(`The "handlers" argument of new Worker() must be an object mapping task names to handlers. ${describe(handlers)}`);
  }
  const out = new Map<string, ResolvedHandler>();
  for (const [task, value] of Object.entries(handlers as TaskHandlers)) {
    checkTask(task, 'handlers key');
    let spec: TaskHandlerSpec;
    if (typeof value === 'function') spec = { handler: value };
    else if (value !== null && typeof value === 'object' && !Array.isArray(value)) spec = validateOptions<TaskHandlerSpec>(value, SPEC_SCHEMA, `handlers.${task}`, `handlers.${task}`);
    else throw argTypeError(`handlers.${task} must be a function or an object { handler, ... }. ${describe(value)}`);
    if (spec.handler === undefined && o.threads === undefined) {
      throw argValueError(`handlers.${task} has no "handler" function (only allowed with the "threads" option)`);
    }
    out.set(task, {
      task,
      handler: spec.handler,
      concurrency: spec.concurrency,
      maxAttempts: spec.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      backoff: spec.backoff === undefined ? DEFAULT_BACKOFF : checkBackoff(spec.backoff, `handlers.${task}.backoff`),
      timeout: spec.timeout ?? 0,
      rateLimit: spec.rateLimit,
    });
  }
  if (out.size === 0) throw argValueError('new Worker() needs at least one handler');
  return {
    handlers: out,
    options: {
      concurrency: o.concurrency ?? 1,
      lease: o.lease ?? 30_000,
      threads: o.threads === undefined ? undefined : { module: o.threads.module, size: o.threads.size ?? 2 },
      queue: o.queue,
    },
  };
}

/**
 * Builds a worker's claim requests. What does not change between rounds (the task list of the handlers without a
 * limit, the per-task max_attempts defaults) is made once, so the store can reuse its prepared claim statement by
 * the identity of those objects.
 */
export class ClaimPlanner {
  private readonly plain: string[] = [];
  private readonly limited: ResolvedHandler[] = [];
  private readonly maxAttempts: Record<string, number> = {};

  constructor(handlers: ReadonlyMap<string, ResolvedHandler>) {
    for (const h of handlers.values()) {
      if (h.maxAttempts !== DEFAULT_MAX_ATTEMPTS) this.maxAttempts[h.task] = h.maxAttempts;
      if (h.concurrency === undefined && h.rateLimit === undefined) this.plain.push(h.task);
      else this.limited.push(h);
    }
  }

  /**
   * What to claim with `free` slots; `busy(task)` = jobs of that task in flight once the outcomes settling in this
   * round are written. Null when nothing can be claimed.
   */
  request(owner: string, now: number, lease: number, free: number, busy: (task: string) => number): ClaimRequest | null {
    if (free <= 0) return null;
    const groups: ClaimGroup[] = [];
    if (this.plain.length > 0) groups.push({ tasks: this.plain, limit: free });
    for (const h of this.limited) {
      const limit = Math.min(free, (h.concurrency ?? Infinity) - busy(h.task));
      if (limit > 0) groups.push(h.rateLimit ? { tasks: [h.task], limit, rate: h.rateLimit } : { tasks: [h.task], limit });
    }
    if (groups.length === 0) return null;
    return { owner, now, leaseUntil: now + lease, limit: free, groups, maxAttempts: this.maxAttempts };
  }
}
