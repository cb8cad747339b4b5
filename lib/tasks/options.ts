/**
 * Validation of the task layer's arguments and options: everything is checked before anything is written, and a bad
 * value is a TypeError/RangeError naming it (lib/common/options.ts).
 *
 * @module
 * @internal
 */
import { argTypeError, argValueError, describe, rangeError } from '../common/errors.js';
import { checkValue, validateOptions, type OptionSchema } from '../common/options.js';
import type { Retention } from './store.js';
import type { Backoff, EnqueueOptions, TaskQueueOptions } from './types.js';

/** Default retention (ms). */
export const DEFAULT_RETENTION: Retention = { succeeded: 86_400_000, failed: 604_800_000, cancelled: 86_400_000 };
/** Default attempts. */
export const DEFAULT_MAX_ATTEMPTS = 3;
/** Default backoff. */
export const DEFAULT_BACKOFF: Backoff = { type: 'exponential', delay: 1000 };

const ms = (max = Number.MAX_SAFE_INTEGER) => ({ kind: 'number', min: 0, max }) as const;
const notNaN = (v: unknown, label: string): void => {
  checkValue(v, { kind: 'number', min: 0, max: Infinity }, label);
};

/** Checks a task name. */
export function checkTask(task: unknown, label = 'task'): string {
  if (typeof task !== 'string') throw argTypeError(`The "${label}" argument must be of type string. ${describe(task)}`);
  if (task.length === 0 || task.length > 200) throw argValueError(`The "${label}" argument must be 1 to 200 characters long. Received '${task}'`);
  return task;
}

/** Checks a job id. */
export function checkId(id: unknown, where: string): number {
  if (typeof id !== 'number') throw argTypeError(`The "id" argument of ${where} must be of type number. ${describe(id)}`);
  if (!Number.isSafeInteger(id) || id < 1) throw rangeError(`The "id" argument of ${where} must be a positive integer. Received ${id}`);
  return id;
}

const BACKOFF_SCHEMA: OptionSchema = {
  type: { kind: 'enum', values: ['fixed', 'exponential'] },
  delay: ms(),
  maxDelay: { kind: 'custom', check: notNaN },
  jitter: { kind: 'number', min: 0, max: 1 },
};

/** Checks a backoff object; returns it normalized. */
export function checkBackoff(value: unknown, label: string): Backoff {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw argTypeError(`The "${label}" option must be an object { type, delay, maxDelay?, jitter? }. ${describe(value)}`);
  }
  const b = validateOptions<Backoff>(value, BACKOFF_SCHEMA, `the "${label}" option`, label);
  if (b.type === undefined) throw argTypeError(`The "${label}.type" option is required ('fixed' or 'exponential')`);
  if (b.delay === undefined) throw argTypeError(`The "${label}.delay" option is required (milliseconds)`);
  const out: Backoff = { type: b.type, delay: b.delay };
  if (b.maxDelay !== undefined) out.maxDelay = b.maxDelay;
  if (b.jitter !== undefined) out.jitter = b.jitter;
  return out;
}

/** The largest epoch ms a Date can hold (a due time past it could not be shown or read back). */
const MAX_DATE_MS = 8.64e15;

const ENQUEUE_SCHEMA: OptionSchema = {
  priority: { kind: 'custom', check: (v, l) => checkSafeInt(v, l) },
  delay: {
    kind: 'custom',
    check: (v, l) => {
      checkValue(v, ms(), l);
      if ((v as number) > MAX_DATE_MS - Date.now()) throw rangeError(`The "${l}" option must not reach past the largest Date (epoch ms ${MAX_DATE_MS}). Received ${v}`);
    },
  },
  runAt: {
    kind: 'custom',
    check: (v, l) => {
      if (v instanceof Date) {
        if (Number.isNaN(v.getTime())) throw rangeError(`The "${l}" option is an invalid Date`);
      } else if (typeof v === 'number') {
        if (!Number.isFinite(v) || Math.abs(v) > MAX_DATE_MS) throw rangeError(`The "${l}" option must be epoch ms within the range of a Date (±${MAX_DATE_MS}). Received ${v}`);
      } else throw argTypeError(`The "${l}" option must be a Date or epoch milliseconds. ${describe(v)}`);
    },
  },
  maxAttempts: { kind: 'integer', min: 1, max: 1_000_000 },
  backoff: { kind: 'custom', check: (v, l) => void checkBackoff(v, l) },
  timeout: ms(2 ** 31 - 1),
  key: { kind: 'string', pattern: /^.{1,500}$/s, patternText: 'a string of 1 to 500 characters' },
  onComplete: {
    kind: 'custom',
    check: (v, l) => {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw argTypeError(`The "${l}" option must be an object { task, data? }. ${describe(v)}`);
      validateOptions(v, { task: { kind: 'custom', check: (t) => void checkTask(t, `${l}.task`) }, data: { kind: 'custom', check: () => undefined } }, `the "${l}" option`, l);
      if ((v as { task?: unknown }).task === undefined) throw argTypeError(`The "${l}.task" option is required`);
    },
  },
};

function checkSafeInt(v: unknown, l: string): void {
  if (typeof v !== 'number') throw argTypeError(`The "${l}" option must be of type number. ${describe(v)}`);
  if (!Number.isSafeInteger(v)) throw rangeError(`The "${l}" option must be a safe integer. Received ${v}`);
}

/** Validates enqueue options (unknown names rejected). */
export function checkEnqueueOptions(options: unknown, where: string, extra?: OptionSchema, prefix?: string): EnqueueOptions {
  const o = validateOptions<EnqueueOptions>(options, extra ? { ...ENQUEUE_SCHEMA, ...extra } : ENQUEUE_SCHEMA, where, prefix);
  if (o.delay !== undefined && o.runAt !== undefined) throw argValueError(`${where}: give "delay" or "runAt", not both`);
  return o;
}

/** The subset of enqueue options a schedule may carry. */
export const SCHEDULE_JOB_SCHEMA: OptionSchema = {
  priority: ENQUEUE_SCHEMA.priority!,
  maxAttempts: ENQUEUE_SCHEMA.maxAttempts!,
  backoff: ENQUEUE_SCHEMA.backoff!,
  timeout: ENQUEUE_SCHEMA.timeout!,
  key: ENQUEUE_SCHEMA.key!,
};

/** Resolved open options. */
export interface ResolvedTaskOptions {
  name: string;
  serializer: TaskQueueOptions['serializer'];
  durability: 'full' | 'normal' | 'off';
  busyTimeout: number;
  retention: Retention;
  /** PostgreSQL schema (undefined: not given). */
  schema?: string;
}

const OPEN_SCHEMA: OptionSchema = {
  name: { kind: 'string', pattern: /^[A-Za-z0-9_]{1,64}$/, patternText: 'letters, digits and _ only (1 to 64)' },
  serializer: { kind: 'custom', check: () => undefined }, // checked by resolveSerializer
  durability: { kind: 'enum', values: ['full', 'normal', 'off'] },
  busyTimeout: { kind: 'integer', min: 0, max: 2 ** 31 - 1 },
  schema: { kind: 'string', pattern: /^[A-Za-z_][A-Za-z0-9_]{0,40}$/, patternText: 'a letter or underscore, then up to 40 letters, digits or underscores' },
  retention: {
    kind: 'custom',
    check: (v, l) => {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw argTypeError(`The "${l}" option must be an object. ${describe(v)}`);
      validateOptions(v, { succeeded: { kind: 'custom', check: notNaN }, failed: { kind: 'custom', check: notNaN }, cancelled: { kind: 'custom', check: notNaN } }, `the "${l}" option`, l);
    },
  },
};

/** Validates and resolves the open options. */
export function resolveTaskOptions(options: unknown, where: string): ResolvedTaskOptions {
  const o = validateOptions<TaskQueueOptions>(options, OPEN_SCHEMA, where);
  const r = o.retention ?? {};
  const resolved: ResolvedTaskOptions = {
    name: o.name ?? 'default',
    serializer: o.serializer,
    durability: o.durability ?? 'full',
    busyTimeout: o.busyTimeout ?? 10_000,
    retention: {
      succeeded: r.succeeded ?? DEFAULT_RETENTION.succeeded,
      failed: r.failed ?? DEFAULT_RETENTION.failed,
      cancelled: r.cancelled ?? DEFAULT_RETENTION.cancelled,
    },
  };
  if (o.schema !== undefined) resolved.schema = o.schema;
  return resolved;
}

/** The delay before retry number `n` (n >= 1). */
export function backoffDelay(b: Backoff, n: number): number {
  let d = b.type === 'fixed' ? b.delay : b.delay * 2 ** Math.min(n - 1, 60);
  if (b.maxDelay !== undefined) d = Math.min(d, b.maxDelay);
  if (b.jitter) d *= 1 - Math.random() * b.jitter;
  return Math.max(0, Math.min(Math.round(d), 2 ** 31 - 1));
}
