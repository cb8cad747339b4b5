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

function strictReplacer(this: unknown, key: string, value: unknown): unknown {
  const t = typeof value;
  if (t === 'function' || t === 'symbol') {
    throw new TypeError(`${t} at key "${key}" cannot be encoded as JSON`);
  }
  return value;
}

/** Plain JSON: `JSON.stringify`, refusing functions, symbols, BigInt, cycles and `undefined` instead of dropping them. */
export function encodeJson(value: unknown): Buffer {
  // Fast path: V8's serializer without a replacer (a replacer function makes it several times slower), then a walk
  // that proves no function or symbol was silently dropped. Anything unusual takes the strict path, which gives the
  // same text or the same error as always.
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    return encodeJsonStrict(value);
  }
  if (text === undefined || !plainJson(value, 0)) return encodeJsonStrict(value);
  return Buffer.from(text, 'utf8');
}

/** Whether JSON.stringify(value) drops nothing a strict encoder refuses (no function, symbol, or toJSON to follow). */
function plainJson(value: unknown, depth: number): boolean {
  const t = typeof value;
  if (t === 'function' || t === 'symbol') return false;
  if (t !== 'object' || value === null) return true;
  if (depth > 100 || typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!plainJson(value[i], depth + 1)) return false;
    return true;
  }
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o);
  for (let i = 0; i < keys.length; i++) if (!plainJson(o[keys[i]!], depth + 1)) return false;
  return true;
}

function encodeJsonStrict(value: unknown): Buffer {
  let text: string | undefined;
  try {
    text = JSON.stringify(value, strictReplacer);
  } catch (cause) {
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
  if (!Number.isFinite(n)) return 'null';
  // Python writes exponents with at least two digits (1e-07); JavaScript writes one (1e-7).
  return String(n).replace(/e([+-])(\d)$/, 'e$10$2');
}

function canonical(value: unknown, key: string, stack: unknown[]): string | undefined {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON(k: string): unknown }).toJSON(key);
  }
  switch (typeof value) {
    case 'string':
      return escapeNonAscii(JSON.stringify(value));
    case 'number':
      return canonicalNumber(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
      return undefined;
    case 'bigint':
      throw new TypeError(`BigInt at key "${key}" cannot be encoded as JSON`);
    case 'function':
    case 'symbol':
      throw new TypeError(`${typeof value} at key "${key}" cannot be encoded as JSON`);
  }
  if (value === null) return 'null';
  if (stack.includes(value)) throw new TypeError('circular structure cannot be encoded as JSON');
  stack.push(value);
  let out: string;
  if (Array.isArray(value)) {
    out = `[${value.map((v, i) => canonical(v, String(i), stack) ?? 'null').join(', ')}]`;
  } else {
    const obj = value as Record<string, unknown>;
    const parts: string[] = [];
    for (const k of Object.keys(obj).sort(compareCodePoints)) {
      const v = canonical(obj[k], k, stack);
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
 * order) have equal bytes, also when a Python persist-queue process wrote one of them.
 */
export function encodeCanonicalJson(value: unknown): Buffer {
  let text: string | undefined;
  try {
    text = canonical(value, '', []);
  } catch (cause) {
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
