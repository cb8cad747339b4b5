/**
 * Serializers turn items into bytes and back. Encoding happens, and is validated, before anything is written, so an
 * item that cannot be encoded leaves the queue untouched.
 *
 * @module
 */
import * as v8 from 'node:v8';
import { argTypeError, describe, SerializationError } from './errors.js';

/** A custom serializer: any object with `encode` and `decode`. */
export interface Serializer<T = unknown> {
  /** Turns an item into bytes. Throwing here makes `put()` throw a {@link SerializationError} and write nothing. */
  encode(value: T): Uint8Array;
  /** Turns stored bytes back into an item. */
  decode(bytes: Uint8Array): T;
}

/**
 * The `serializer` option: `'json'` (UTF-8 JSON), `'v8'` (node:v8 structured clone: Date, Map, Set, BigInt, Buffer,
 * typed arrays, cycles) or a custom {@link Serializer}.
 */
export type SerializerOption<T = unknown> = 'json' | 'v8' | Serializer<T>;

/** The validated codec a queue uses internally. `encode` always returns a Buffer or throws SerializationError. */
export interface Codec<T> {
  readonly name: 'json' | 'v8' | 'custom';
  encode(value: T): Buffer;
  decode(bytes: Uint8Array): T;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// ---- The json serializer's rules -------------------------------------------------------------------------------
// JSON.stringify silently turns some values into something else (NaN -> null, a Map -> {}, a hole -> null, a
// symbol key -> nothing). The json serializer refuses every value that would not come back as it was given, with a
// SerializationError naming what and where. Kept conversions (documented in docs/api.md): `toJSON()` is followed
// (a Date becomes its ISO string, a Buffer { type, data }), and an `undefined` object property is dropped.

const objectToString = Object.prototype.toString;
const V8_KEEPS = "; the 'v8' serializer keeps it";
/** What JSON makes of objects of a built-in kind (by their toString tag), and what to do instead. */
const KIND_NOTES: Record<string, string> = {
  Map: `JSON stores it as {}${V8_KEEPS}`,
  Set: `JSON stores it as {}${V8_KEEPS}`,
  WeakMap: 'JSON stores it as {}; no serializer can store it',
  WeakSet: 'JSON stores it as {}; no serializer can store it',
  RegExp: `JSON stores it as {}${V8_KEEPS}`,
  Error: `JSON stores it as {}${V8_KEEPS}`,
  ArrayBuffer: `JSON stores it as {}${V8_KEEPS}`,
  SharedArrayBuffer: `JSON stores it as {}${V8_KEEPS}`,
  DataView: `JSON stores it as {}${V8_KEEPS}`,
  Number: `JSON unwraps the boxed primitive${V8_KEEPS}`,
  String: `JSON unwraps the boxed primitive${V8_KEEPS}`,
  Boolean: `JSON unwraps the boxed primitive${V8_KEEPS}`,
  BigInt: "JSON cannot store a BigInt; the 'v8' serializer keeps it",
  Symbol: 'JSON stores it as {}',
};

const withArticle = (name: string): string => `${/^[AEIO]/.test(name) ? 'an' : 'a'} ${name}`;

/** Describes an object JSON would not give back as it is: not a plain object (or array) of this realm. */
function kindNote(value: object): string {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const name = value.constructor?.name ?? 'typed array';
    return `${withArticle(name)} (JSON stores it as an object of indexes${V8_KEEPS}, or use a Buffer, which becomes { type, data })`;
  }
  const tag = objectToString.call(value).slice(8, -1);
  const note = KIND_NOTES[tag];
  if (note !== undefined) return `${['Number', 'String', 'Boolean', 'BigInt', 'Symbol'].includes(tag) ? `a boxed ${tag}` : withArticle(tag)} (${note})`;
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return (
    `an instance of ${typeof name === 'string' && name !== '' ? name : 'a class'} (JSON keeps only its own properties and ` +
    "gives back a plain object; store a plain object, give the class a toJSON(), or use the 'v8' or a custom serializer)"
  );
}

/**
 * Why JSON would not give `value` (already passed through toJSON) back as it is, or undefined when it would.
 * `holder[key]` is where the value sits (holder undefined for the item itself).
 */
function refusal(value: unknown, holder: unknown, key: string | number): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : `${value} (JSON stores it as null${V8_KEEPS})`;
    case 'undefined':
      if (!Array.isArray(holder)) return undefined; // an object property: dropped, as JSON does (documented)
      return key in holder ? `undefined in an array (JSON stores it as null${V8_KEEPS})` : `a hole of a sparse array (JSON stores it as null${V8_KEEPS})`;
    case 'bigint':
      return `a BigInt (JSON cannot store it${V8_KEEPS})`;
    case 'function':
      return 'a function (JSON drops it)';
    case 'symbol':
      return 'a symbol (JSON drops it)';
  }
  if (value === null) return undefined;
  const proto = Object.getPrototypeOf(value);
  if (Array.isArray(value)) return proto === Array.prototype ? undefined : kindNote(value); // other array properties: dropped
  if (proto !== Object.prototype && proto !== null) return kindNote(value as object);
  const symbols = Object.getOwnPropertySymbols(value);
  for (let i = 0; i < symbols.length; i++) {
    if (Object.prototype.propertyIsEnumerable.call(value, symbols[i]!)) {
      return `an object with the symbol-keyed property ${String(symbols[i])} (JSON drops it)`;
    }
  }
  return undefined;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** `item.a.b[2]["odd key"]`: where a value sits in the item. */
function childPath(parent: string, key: string, inArray: boolean): string {
  if (inArray) return `${parent}[${key}]`;
  return IDENTIFIER.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`;
}

/** The error for a refused value: `why` is "what (note)"; the path goes between. */
function refused(why: string, path: string): SerializationError {
  const i = why.indexOf(' (');
  const text = i < 0 ? `${why} at ${path}` : `${why.slice(0, i)} at ${path}${why.slice(i)}`;
  return new SerializationError(`item cannot be encoded as JSON: ${text}`);
}

/** A JSON.stringify replacer that applies {@link refusal} to every value, tracking where each object sits. */
function strictReplacer(): (this: unknown, key: string, value: unknown) => unknown {
  const paths = new WeakMap<object, string>();
  return function (this: unknown, key: string, value: unknown): unknown {
    const parent = paths.get(this as object);
    const path = parent === undefined ? 'item' : childPath(parent, key, Array.isArray(this));
    const why = refusal(value, parent === undefined ? undefined : this, key);
    if (why !== undefined) throw refused(why, path);
    if (typeof value === 'object' && value !== null) paths.set(value, path);
    return value;
  };
}

/**
 * Plain JSON: `JSON.stringify`, refusing (with {@link SerializationError}) every value that would not come back as it
 * was given instead of changing or dropping it: functions, symbols, BigInt, cycles, non-finite numbers, Map, Set,
 * RegExp, Error, typed arrays, boxed primitives, class instances, `undefined` or holes in arrays, symbol-keyed
 * properties, and a top-level `undefined`. `toJSON()` is followed and `undefined` object properties are dropped.
 */
export function encodeJson(value: unknown): Buffer {
  // Fast path: V8's serializer without a replacer (a replacer function makes it several times slower), then a walk
  // that proves JSON.stringify changed or dropped nothing. Anything unusual takes the strict path, which gives the
  // same text or the error that names the value.
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    return encodeJsonStrict(value);
  }
  if (text === undefined || !plainJson(value, 0)) return encodeJsonStrict(value);
  return Buffer.from(text, 'utf8');
}

/**
 * Whether JSON.stringify(value) gives back exactly `value`: finite numbers, strings, booleans, null, and arrays and
 * plain objects of them (an `undefined` object property, dropped, is allowed), with no toJSON to follow and no
 * symbol-keyed property. False sends the item to the strict path (which then finds out what is wrong, or not). It runs
 * on every put: a prototype check per object, a finiteness check per number, `for...in` (no key array; an inherited
 * enumerable property can only make it more careful) and one getOwnPropertySymbols per plain object.
 */
function plainJson(value: unknown, depth: number): boolean {
  const t = typeof value;
  if (t === 'string' || t === 'boolean') return true;
  if (t === 'number') return (value as number) - (value as number) === 0; // finite (NaN and ±Infinity give NaN)
  if (t !== 'object') return false; // undefined (in an array, or the item), function, symbol, bigint
  if (value === null) return true;
  if (depth > 100) return false;
  const proto = Object.getPrototypeOf(value);
  if (proto === Array.prototype) {
    const a = value as unknown[];
    for (let i = 0; i < a.length; i++) if (!plainJson(a[i], depth + 1)) return false; // a hole reads as undefined
    return Array.isArray(a);
  }
  if (proto !== Object.prototype && proto !== null) return false;
  const o = value as Record<string, unknown>;
  if (typeof o.toJSON === 'function' || Object.getOwnPropertySymbols(o).length !== 0) return false;
  for (const k in o) {
    const v = o[k];
    if (v !== undefined && !plainJson(v, depth + 1)) return false;
  }
  return true;
}

function encodeJsonStrict(value: unknown): Buffer {
  let text: string | undefined;
  try {
    text = JSON.stringify(value, strictReplacer());
  } catch (cause) {
    if (cause instanceof SerializationError) throw cause;
    throw new SerializationError(`item cannot be encoded as JSON: ${(cause as Error).message}`, { cause });
  }
  if (text === undefined) throw new SerializationError(`item cannot be encoded as JSON: ${describe(value)}`);
  return Buffer.from(text, 'utf8');
}

function escapeNonAscii(json: string): string {
  return json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; ) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(i)!;
    if (ca !== cb) return ca - cb;
    i += ca > 0xffff ? 2 : 1;
  }
  return a.length - b.length;
}

function canonicalNumber(n: number): string {
  // Python writes exponents with at least two digits (1e-07); JavaScript writes one (1e-7). Non-finite numbers were
  // refused before.
  return String(n).replace(/e([+-])(\d)$/, 'e$10$2');
}

/** Where `keys` lead from the item: `stack[i]` holds the object in which `keys[i]` is looked up. */
function pathOf(stack: readonly unknown[], keys: readonly (string | number)[]): string {
  let path = 'item';
  for (let i = 0; i < keys.length; i++) path = childPath(path, String(keys[i]), Array.isArray(stack[i]));
  return path;
}

/**
 * The canonical JSON of `holder[key]` (`value`), under the same rules as {@link encodeJson}. `stack` holds the objects
 * being written (for cycles), `keys` the keys from the item down to `value` (for the path in an error).
 */
function canonical(value: unknown, holder: unknown, key: string | number, stack: unknown[], keys: (string | number)[]): string | undefined {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON(k: string): unknown }).toJSON(String(key));
  }
  const why = refusal(value, holder, key);
  if (why !== undefined) throw refused(why, pathOf(stack, keys));
  switch (typeof value) {
    case 'string':
      return escapeNonAscii(JSON.stringify(value));
    case 'number':
      return canonicalNumber(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
      return undefined; // an object property (refusal() refused it anywhere else): dropped
  }
  if (value === null) return 'null';
  if (stack.includes(value)) throw refused('a circular reference', pathOf(stack, keys));
  stack.push(value);
  let out: string;
  if (Array.isArray(value)) {
    const parts: string[] = [];
    for (let i = 0; i < value.length; i++) {
      keys.push(i);
      parts.push(canonical(value[i], value, i, stack, keys)!);
      keys.pop();
    }
    out = `[${parts.join(', ')}]`;
  } else {
    const obj = value as Record<string, unknown>;
    const parts: string[] = [];
    for (const k of Object.keys(obj).sort(compareCodePoints)) {
      keys.push(k);
      const v = canonical(obj[k], obj, k, stack, keys);
      keys.pop();
      if (v !== undefined) parts.push(`${escapeNonAscii(JSON.stringify(k))}: ${v}`);
    }
    out = `{${parts.join(', ')}}`;
  }
  stack.pop();
  return out;
}

/**
 * Canonical JSON as Python's `json.dumps(value, sort_keys=True)` writes it: keys sorted by code point, `", "` and
 * `": "` separators, non-ASCII escaped as `\uXXXX`. Unique queues use it so that equal items (whatever their key
 * order) have equal bytes, also when a Python persist-queue process wrote one of them. Refuses exactly what
 * {@link encodeJson} refuses.
 */
export function encodeCanonicalJson(value: unknown): Buffer {
  let text: string | undefined;
  try {
    text = canonical(value, undefined, '', [], []);
  } catch (cause) {
    if (cause instanceof SerializationError) throw cause;
    throw new SerializationError(`item cannot be encoded as JSON: ${(cause as Error).message}`, { cause });
  }
  if (text === undefined) throw new SerializationError(`item cannot be encoded as JSON: ${describe(value)}`);
  return Buffer.from(text, 'utf8');
}

function decodeJson(bytes: Uint8Array): unknown {
  return JSON.parse(toBuffer(bytes).toString('utf8'));
}

function encodeV8(value: unknown): Buffer {
  try {
    return v8.serialize(value);
  } catch (cause) {
    throw new SerializationError(`item cannot be encoded by the v8 serializer: ${(cause as Error).message}`, { cause });
  }
}

function decodeV8(bytes: Uint8Array): unknown {
  return v8.deserialize(toBuffer(bytes));
}

/**
 * Validates the `serializer` option and returns the codec to use.
 *
 * @param option - the option as given (`undefined` means `'json'`)
 * @param canonicalJson - use {@link encodeCanonicalJson} for `'json'` (unique queues)
 */
export function resolveSerializer<T>(option: unknown, canonicalJson = false): Codec<T> {
  if (option === undefined || option === 'json') {
    return { name: 'json', encode: canonicalJson ? encodeCanonicalJson : encodeJson, decode: decodeJson as (b: Uint8Array) => T };
  }
  if (option === 'v8') return { name: 'v8', encode: encodeV8, decode: decodeV8 as (b: Uint8Array) => T };
  if (typeof option === 'string') {
    throw argTypeError(`The "serializer" option must be 'json', 'v8' or an object with encode() and decode(). Received '${option}'`);
  }
  if (
    option === null ||
    typeof option !== 'object' ||
    typeof (option as Serializer).encode !== 'function' ||
    typeof (option as Serializer).decode !== 'function'
  ) {
    throw argTypeError(`The "serializer" option must be 'json', 'v8' or an object with encode() and decode(). ${describe(option)}`);
  }
  const custom = option as Serializer<T>;
  return {
    name: 'custom',
    encode(value: T): Buffer {
      let out: unknown;
      try {
        out = custom.encode(value);
      } catch (cause) {
        throw new SerializationError(`serializer.encode() threw: ${(cause as Error)?.message ?? String(cause)}`, { cause });
      }
      if (!(out instanceof Uint8Array)) {
        throw new SerializationError(`serializer.encode() must return a Uint8Array. ${describe(out)}`);
      }
      // A copy: fast encoders reuse their output buffer (msgpackr does), so the bytes of this item would change at
      // the next encode() — before a putMany or a group commit writes them, and after their checksum was taken.
      return Buffer.from(out);
    },
    // A copy too: the bytes may be a view of a buffer the queue reuses, and a decoder may keep them (zero-copy).
    decode: (bytes: Uint8Array) => custom.decode(Buffer.from(bytes)),
  };
}

/**
 * Decodes stored bytes; a decoder failure becomes a {@link SerializationError} naming the item, so that the caller
 * can roll back instead of losing the item.
 */
export function decodeItem<T>(codec: Codec<T>, bytes: Uint8Array, where: string, id?: number): T {
  try {
    return codec.decode(bytes);
  } catch (cause) {
    throw decodeError(codec, where, cause, id);
  }
}

/** The {@link SerializationError} for stored bytes that `codec` could not decode. */
export function decodeError(codec: Codec<unknown>, where: string, cause: unknown, id?: number): SerializationError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new SerializationError(`stored item ${where} cannot be decoded by the ${codec.name} serializer: ${why}`, id === undefined ? { cause } : { cause, id });
}
