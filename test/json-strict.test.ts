/**
 * The json serializer refuses what JSON would not give back as it was given (docs/api.md, "Serializers"), with a
 * SerializationError naming what and where, and writes nothing: for plain queues (encodeJson, fast and strict path)
 * and unique queues (canonical JSON), on both backends. The documented conversions still go through.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as lib from '../dist/esm/index.js';
import { caught, tempDir, type AnyQueue } from './helpers/classes.js';

class Point {
  constructor(
    public x = 1,
    public y = 2,
  ) {}
}
class Stamp {
  toJSON(): string {
    return 'stamp';
  }
}
class List extends Array<number> {}

const sparse = (): unknown[] => {
  const a = [1, 2, 3];
  delete a[1];
  return a;
};

/** [label, item, what the message must say (what, where, advice)] */
const REFUSED: [string, () => unknown, RegExp][] = [
  ['NaN', () => ({ a: { b: [1, NaN] } }), /NaN at item\.a\.b\[1\] \(JSON stores it as null; the 'v8' serializer keeps it\)/],
  ['Infinity as the item', () => Infinity, /Infinity at item \(/],
  ['-Infinity', () => ({ x: -Infinity }), /-Infinity at item\.x /],
  ['Map', () => ({ m: new Map([[1, 2]]) }), /a Map at item\.m \(JSON stores it as \{\}; the 'v8' serializer keeps it\)/],
  ['Set', () => [new Set([1])], /a Set at item\[0\] /],
  ['WeakMap', () => ({ w: new WeakMap() }), /a WeakMap at item\.w /],
  ['RegExp under an odd key', () => ({ 'odd key': /x/ }), /a RegExp at item\["odd key"\] /],
  ['Error', () => ({ e: new TypeError('boom') }), /an Error at item\.e /],
  ['Uint8Array', () => ({ bytes: new Uint8Array([1, 2]) }), /a Uint8Array at item\.bytes .*Buffer/],
  ['Float64Array', () => [[new Float64Array(1)]], /a Float64Array at item\[0\]\[0\] /],
  ['ArrayBuffer', () => ({ ab: new ArrayBuffer(4) }), /an ArrayBuffer at item\.ab /],
  ['DataView', () => ({ dv: new DataView(new ArrayBuffer(4)) }), /a DataView at item\.dv /],
  ['boxed Number', () => ({ n: new Number(1) }), /a boxed Number at item\.n /],
  ['boxed String', () => [new String('s')], /a boxed String at item\[0\] /],
  ['boxed Boolean', () => ({ b: new Boolean(false) }), /a boxed Boolean at item\.b /],
  ['class instance', () => ({ p: new Point() }), /an instance of Point at item\.p .*toJSON\(\).*'v8'/],
  ['Array subclass', () => ({ l: List.from([1]) }), /an instance of List at item\.l /],
  ['undefined in an array', () => [1, undefined], /undefined in an array at item\[1\] \(JSON stores it as null/],
  ['sparse-array hole', sparse, /a hole of a sparse array at item\[1\] /],
  ['symbol-keyed property', () => ({ a: { [Symbol('secret')]: 1, b: 2 } }), /symbol-keyed property Symbol\(secret\) at item\.a /],
  ['toJSON giving NaN', () => ({ t: { toJSON: () => NaN } }), /NaN at item\.t /],
  ['refused value beside a toJSON (strict path)', () => ({ d: new Date(0), bad: [Infinity] }), /Infinity at item\.bad\[0\] /],
  ['BigInt', () => ({ big: 1n }), /a BigInt at item\.big /],
  ['function', () => ({ f: () => 1 }), /a function at item\.f /],
  ['symbol value', () => ({ s: Symbol('x') }), /a symbol at item\.s /],
];

const QUEUES: [string, string, (loc: string) => AnyQueue][] = [
  ['SqliteQueueSync', 'q.db', (loc) => lib.SqliteQueueSync.open(loc)],
  ['SqliteQueueSync unique', 'q.db', (loc) => lib.SqliteQueueSync.open(loc, { unique: true })],
  ['FileQueueSync', 'q', (loc) => lib.FileQueueSync.open(loc)],
  ['FileQueueSync unique', 'q', (loc) => lib.FileQueueSync.open(loc, { unique: true })],
];

/**
 * What is stored: for a SQLite file every row of every table (read through a second connection; the WAL and shm files
 * change on reads and checkpoints), for a queue folder every file's hash.
 */
function stored(dir: string, file: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (file.endsWith('.db')) {
    const db = new Database(join(dir, file), { readonly: true });
    try {
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[];
      for (const t of tables) out[t] = JSON.stringify(db.prepare(`SELECT * FROM "${t}"`).raw().all());
    } finally {
      db.close();
    }
    return out;
  }
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const p = join(dir, name);
    if (statSync(p).isFile()) out[name] = createHash('sha256').update(readFileSync(p)).digest('hex');
  }
  return out;
}

for (const [label, file, open] of QUEUES) {
  describe(`json serializer refuses what JSON would change: ${label}`, () => {
    let dir: string;
    let cleanup: () => void;
    let q: AnyQueue;
    beforeEach(() => {
      ({ dir, cleanup } = tempDir('pq-json-'));
      q = open(join(dir, file));
    });
    afterEach(() => {
      q.close();
      cleanup();
    });

    it('throws SerializationError naming what and where, and writes nothing', () => {
      q.put('warm-up'); // the store exists on disk, so the comparison covers everything a put would write
      expect(q.get()).toBe('warm-up');
      const before = stored(dir, file);
      for (const [kind, make, message] of REFUSED) {
        const err = (() => {
          try {
            q.put(make());
          } catch (e) {
            return e as Error & { code?: string };
          }
          throw new Error(`${kind}: put() accepted it`);
        })();
        expect(err, kind).toBeInstanceOf(lib.SerializationError);
        expect(err.code, kind).toBe('ERR_QUEUE_SERIALIZATION');
        expect(err.message, kind).toMatch(message);
        expect(q.size(), kind).toBe(0);
      }
      expect(stored(dir, file)).toEqual(before);
      expect(q.put({ ok: [1, 2.5, 'x', null, true] })).toBeTypeOf('number');
      expect(q.size()).toBe(1);
      expect(q.get()).toEqual({ ok: [1, 2.5, 'x', null, true] });
    });

    it('putMany() with one refused item writes none', async () => {
      expect((await caught(() => q.putMany([{ a: 1 }, { b: new Map() }, { c: 3 }]))).message).toMatch(/a Map at item\.b /);
      expect(q.size()).toBe(0);
    });

    it('keeps the documented conversions: toJSON (Date, Buffer, own classes), dropped undefined properties', () => {
      const item = {
        when: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)),
        bytes: Buffer.from('hi'),
        stamp: new Stamp(),
        gone: undefined,
        bare: Object.assign(Object.create(null) as object, { k: 1 }),
        list: [{ n: -0.5e-7 }, [], {}],
      };
      q.put(item);
      expect(q.get()).toEqual({
        when: '2026-01-02T03:04:05.000Z',
        bytes: { type: 'Buffer', data: [104, 105] },
        stamp: 'stamp',
        bare: { k: 1 },
        list: [{ n: -0.5e-7 }, [], {}],
      });
    });
  });
}
