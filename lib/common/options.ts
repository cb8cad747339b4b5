/**
 * Option validation shared by every queue class: unknown (misspelled) options, wrong types and out-of-range values
 * are rejected with a `TypeError`/`RangeError` naming the option, before anything touches the disk.
 *
 * @module
 */
import { fileURLToPath } from 'node:url';
import { argTypeError, argValueError, describe, rangeError } from './errors.js';
import type { SerializerOption } from './serializer.js';

/** One rule of an options schema. */
export type OptionRule =
  | { kind: 'boolean' }
  | { kind: 'integer'; min: number; max?: number }
  | { kind: 'number'; min: number; max?: number }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'string'; pattern?: RegExp; patternText?: string }
  | { kind: 'custom'; check: (value: unknown, label: string) => void };

/** A schema: option name to rule. */
export type OptionSchema = Record<string, OptionRule>;

function distance(a: string, b: string): number {
  const dp: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}

/** The closest known option name to `name`, if it is plausibly a misspelling. */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  for (const k of known) {
    const score = k.toLowerCase() === name.toLowerCase() ? 0 : distance(name.toLowerCase(), k.toLowerCase());
    if (score < bestScore) {
      bestScore = score;
      best = k;
    }
  }
  return bestScore <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/** Checks one value against a rule; throws a TypeError/RangeError naming `label`. */
export function checkValue(value: unknown, rule: OptionRule, label: string): void {
  switch (rule.kind) {
    case 'boolean':
      if (typeof value !== 'boolean') throw argTypeError(`The "${label}" option must be of type boolean. ${describe(value)}`);
      return;
    case 'integer':
    case 'number': {
      if (typeof value !== 'number') throw argTypeError(`The "${label}" option must be of type number. ${describe(value)}`);
      if (Number.isNaN(value) || (rule.kind === 'integer' && !Number.isInteger(value))) {
        throw rangeError(`The "${label}" option must be ${rule.kind === 'integer' ? 'an integer' : 'a number'}. Received ${value}`);
      }
      const max = rule.max ?? Number.MAX_SAFE_INTEGER;
      if (value < rule.min || value > max) {
        throw rangeError(`The "${label}" option must be >= ${rule.min} and <= ${max}. Received ${value}`);
      }
      return;
    }
    case 'enum':
      if (typeof value !== 'string') throw argTypeError(`The "${label}" option must be of type string. ${describe(value)}`);
      if (!rule.values.includes(value)) {
        throw argValueError(`The "${label}" option must be one of ${rule.values.map((v) => `'${v}'`).join(', ')}. Received '${value}'`);
      }
      return;
    case 'string':
      if (typeof value !== 'string') throw argTypeError(`The "${label}" option must be of type string. ${describe(value)}`);
      if (rule.pattern && !rule.pattern.test(value)) {
        throw argValueError(`The "${label}" option must be ${rule.patternText ?? `a string matching ${rule.pattern}`}. Received '${value}'`);
      }
      return;
    case 'custom':
      rule.check(value, label);
      return;
  }
}

/**
 * Validates `options` against `schema`. `undefined` values mean "use the default". Unknown keys are rejected, with the
 * closest known option suggested.
 *
 * @param options - what the caller passed (may be undefined)
 * @param schema - the allowed options
 * @param where - the call, for messages (e.g. `SqliteQueue.open()`)
 * @param prefix - for an object inside an option: its name, so that messages name `backoff.delay`, not `delay`
 * @returns the same object (or an empty one), typed
 */
export function validateOptions<O extends object>(options: unknown, schema: OptionSchema, where: string, prefix?: string): Partial<O> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw argTypeError(`The "options" argument of ${where} must be an object. ${describe(options)}`);
  }
  const known = Object.keys(schema);
  for (const key of Object.keys(options)) {
    const rule = schema[key];
    // An option set to undefined means its default; one this call does not have (autoCommit for an ack queue, say)
    // has no effect either way, so generic code may pass a shared options object with unset fields.
    if (!rule && (options as Record<string, unknown>)[key] === undefined) continue;
    if (!rule) {
      const hint = closest(key, known);
      throw argValueError(
        `Unknown option "${key}" for ${where}${hint ? `; did you mean "${hint}"?` : `. Known options: ${known.join(', ')}`}`,
      );
    }
    const value = (options as Record<string, unknown>)[key];
    if (value !== undefined) checkValue(value, rule, prefix === undefined ? key : `${prefix}.${key}`);
  }
  return options as Partial<O>;
}

/** Validates a per-call `timeout` (ms, >= 0, finite or Infinity) and returns it; `undefined` stays undefined. */
export function checkTimeout(value: unknown, label = 'timeout'): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw argTypeError(`The "${label}" option must be of type number. ${describe(value)}`);
  if (Number.isNaN(value) || value < 0) {
    throw rangeError(`The "${label}" option must be >= 0 (milliseconds). Received ${value}`);
  }
  return value;
}

/** The options every queue class takes (file and SQLite, plain and ack). */
export interface BaseQueueOptions<T = unknown> {
  /**
   * Most waiting items; a put into a full queue waits (`block`/`timeout`). 0 = unbounded.
   * @default 0
   */
  maxSize?: number | undefined;
  /**
   * `'json'` (UTF-8 JSON, readable by Python persist-queue), `'v8'` (structured clone) or `{ encode, decode }`.
   * @default 'json'
   */
  serializer?: SerializerOption<T> | undefined;
}

/** Checks an item id argument (`remove(id)`): a non-negative safe integer. */
export function checkItemId(id: unknown, where: string): number {
  if (typeof id !== 'number') throw argTypeError(`The "id" argument of ${where} must be of type number. ${describe(id)}`);
  if (!Number.isSafeInteger(id) || id < 0) throw rangeError(`The "id" argument of ${where} must be a non-negative integer. Received ${id}`);
  return id;
}

/**
 * Checks a queue path argument the way `fs` does: a non-empty string or a `file:` URL (other URLs are Node's
 * ERR_INVALID_URL_SCHEME TypeError), without NUL characters. Returns it as a string path.
 */
export function checkPath(value: unknown, name: string, where: string): string {
  let path: string;
  if (value instanceof URL) path = fileURLToPath(value);
  else if (typeof value === 'string') path = value;
  else throw argTypeError(`The "${name}" argument of ${where} must be of type string or an instance of URL. ${describe(value)}`);
  if (path.length === 0) throw argValueError(`The "${name}" argument of ${where} must be a non-empty path`);
  if (path.includes('\u0000')) throw argValueError(`The "${name}" argument of ${where} must be a path without null bytes. Received ${JSON.stringify(path)}`);
  return path;
}
