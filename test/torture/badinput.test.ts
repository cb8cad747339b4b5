/**
 * Torture 6: bad input through the public API, for every class (SPEC.md guarantees 5 and 7; docs/api.md "Errors").
 * Each bad call must give the documented typed error — a Promise class as a rejection, never a synchronous throw —
 * and leave the queue exactly as it was: size() after every call, and the full contents (drained in order) at the
 * end. Complements test/contract.test.ts, which covers the first case of each kind; this file goes through the rest.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ALL_CLASSES, failingDecoder, tempDir, type AnyQueue, type QueueClass } from '../helpers/classes.js';
import { drain, lib } from './helpers.js';

type Expect = 'TYPE' | 'VALUE' | 'RANGE' | 'SERIAL' | 'CLOSED' | 'CORRUPT';
const CODES: Record<Expect, string> = {
  TYPE: 'ERR_INVALID_ARG_TYPE',
  VALUE: 'ERR_INVALID_ARG_VALUE',
  RANGE: 'ERR_OUT_OF_RANGE',
  SERIAL: 'ERR_QUEUE_SERIALIZATION',
  CLOSED: 'ERR_QUEUE_CLOSED',
  CORRUPT: 'ERR_QUEUE_CORRUPT',
};

/** Calls `fn` and checks the documented error; for a Promise class the error must come as a rejection. */
async function expectError(cls: QueueClass, what: string, fn: () => unknown, want: Expect): Promise<Error & { code?: string }> {
  let result: unknown;
  try {
    result = fn();
  } catch (err) {
    if (cls.flavour === 'async') throw new Error(`${what}: a Promise class threw synchronously: ${String(err)}`);
    return check(err);
  }
  if (cls.flavour === 'async') expect(result, `${what}: must return a Promise`).toBeInstanceOf(Promise);
  try {
    await result;
  } catch (err) {
    return check(err);
  }
  throw new Error(`${what}: expected ${CODES[want]}, the call succeeded`);
  function check(err: unknown): Error & { code?: string } {
    const e = err as Error & { code?: string };
    expect(e.code, `${what}: ${e.name}: ${e.message}`).toBe(CODES[want]);
    if (want === 'TYPE' || want === 'VALUE') expect(e, what).toBeInstanceOf(TypeError);
    else if (want === 'RANGE') expect(e, what).toBeInstanceOf(RangeError);
    else expect(e, what).toBeInstanceOf(lib.QueueError);
    return e;
  }
}

const circular = (): unknown => {
  const o: Record<string, unknown> = {};
  o.self = o;
  return o;
};

for (const cls of ALL_CLASSES) {
  describe(`bad input: ${cls.name}`, () => {
    let dir: string;
    let cleanup: () => void;
    let loc: string;
    const opened: AnyQueue[] = [];
    const open = async (o?: Record<string, unknown>, l = loc): Promise<AnyQueue> => {
      const q = await cls.open(l, o);
      opened.push(q);
      return q;
    };
    beforeEach(() => {
      ({ dir, cleanup } = tempDir('pq-torture-bad-'));
      loc = cls.location(dir);
    });
    afterEach(async () => {
      for (const q of opened.splice(0)) await q.close();
      cleanup();
    });
    const ORIGINAL = ['s0', { n: 1, nested: [1, 2, { deep: true }] }, 's2', 3, null];
    const unwrap = (g: unknown): unknown => (cls.ack ? (g as { data: unknown }).data : g);

    it('open(): wrong option types and values, misspelled options, bad option objects: typed, nothing created', async () => {
      const cases: [Record<string, unknown> | unknown, Expect][] = [
        [null, 'TYPE'],
        [[], 'TYPE'],
        [42, 'TYPE'],
        [{ order: 'lifo' }, 'VALUE'],
        [{ order: 5 }, 'TYPE'],
        [{ unique: 'yes' }, 'TYPE'],
        [{ maxSize: 1.5 }, 'RANGE'],
        [{ maxSize: NaN }, 'RANGE'],
        [{ maxSize: Infinity }, 'RANGE'],
        [{ maxSize: 2 ** 60 }, 'RANGE'],
        [{ durability: 'FULL' }, 'VALUE'],
        [{ durability: true }, 'TYPE'],
        [{ serializer: null }, 'TYPE'],
        [{ serializer: { encode: () => new Uint8Array() } }, 'TYPE'],
        [{ serializer: 'JSON' }, 'TYPE'],
        [{ Order: 'fifo' }, 'VALUE'],
        [{ max_size: 1 }, 'VALUE'],
        [{ durabilty: 'full' }, 'VALUE'],
        [{ unknownThing: 1 }, 'VALUE'],
      ];
      if (cls.autoCommit) cases.push([{ autoCommit: 1 }, 'TYPE'], [{ autocommit: false }, 'VALUE']);
      else cases.push([{ autoCommit: false }, 'VALUE']);
      if (cls.ack) cases.push([{ visibilityTimeout: -1 }, 'RANGE'], [{ visibilityTimeout: '1s' }, 'TYPE'], [{ visibilityTimeout: 2 ** 40 }, 'RANGE']);
      else cases.push([{ visibilityTimeout: 1000 }, 'VALUE']);
      if (cls.backend === 'postgres') cases.push([{ name: '' }, 'VALUE'], [{ name: 'a-b' }, 'VALUE'], [{ name: 'q; DROP TABLE x' }, 'VALUE'], [{ name: 7 }, 'TYPE']);
      if (cls.backend === 'sqlite') {
        cases.push(
          [{ busyTimeout: -1 }, 'RANGE'],
          [{ busyTimeout: 1.5 }, 'RANGE'],
          [{ busyTimeout: '100' }, 'TYPE'],
          [{ busyTimeout: Infinity }, 'RANGE'],
          [{ name: '' }, 'VALUE'],
          [{ name: 'a-b' }, 'VALUE'],
          [{ name: 'x'.repeat(65) }, 'VALUE'],
          [{ name: 'q; DROP TABLE x' }, 'VALUE'],
          [{ name: 7 }, 'TYPE'],
          [{ unique: true, order: 'filo' }, 'VALUE'], // SQLite: no unique FILO table (as in Python persist-queue)
        );
      }
      for (const [options, want] of cases) {
        const err = await expectError(cls, `open(${JSON.stringify(options)})`, () => cls.open(loc, options as Record<string, unknown>), want);
        if (options && typeof options === 'object' && !Array.isArray(options)) {
          const key = Object.keys(options).find((k) => k !== 'order' || Object.keys(options).length === 1) ?? '';
          expect(err.message, `the message names the option: ${err.message}`).toContain(key === 'unique' && 'order' in options ? 'unique' : key);
        }
      }
      expect(readdirSync(dir)).toEqual([]);
    });

    // a server class's location is a queue name, not a path (its names are checked in the option test below)
    it.skipIf(!cls.paths)('open(): unusable paths give a typed error naming the path, and change nothing', async () => {
      const file = join(dir, 'plain.txt');
      writeFileSync(file, 'not a queue\n');
      const folder = join(dir, 'folder');
      mkdirSync(folder);
      const cases: [unknown, Expect | 'TYPED'][] = [
        ['', 'VALUE'],
        [42, 'TYPE'],
        [null, 'TYPE'],
        [join(dir, 'missing', 'deeper', cls.backend === 'sqlite' ? 'q.db' : 'q'), 'TYPED'],
        [join(file, 'q.db'), 'TYPED'],
        [join(dir, 'nul\0byte'), 'VALUE'],
      ];
      if (cls.backend === 'sqlite') cases.push([folder, 'VALUE'], [':memory:', 'VALUE']);
      for (const [path, want] of cases) {
        const what = `open(${JSON.stringify(path)})`;
        let err: Error & { code?: string };
        if (want === 'TYPED') {
          try {
            await cls.open(path as string);
            throw new Error(`${what} succeeded`);
          } catch (e) {
            err = e as Error & { code?: string };
          }
          expect(err instanceof lib.QueueError || ((err instanceof TypeError || err instanceof RangeError) && /^ERR_/.test(err.code ?? '')), `${what}: ${err.name} ${err.code} ${err.message}`).toBe(true);
        } else {
          err = await expectError(cls, what, () => cls.open(path as string), want);
        }
        if (typeof path === 'string' && path.length > 0 && path !== ':memory:') {
          const shown = path.includes('missing') ? join(dir, 'missing', 'deeper') : path.includes('plain.txt') ? file : path.includes('\0') ? dir : path;
          expect(err.message, `${what}: the message names the path`).toContain(shown.replace('\0', ''));
        }
      }
      expect(readFileSync(file, 'utf8')).toBe('not a queue\n');
      expect(readdirSync(dir).sort()).toEqual(['folder', 'plain.txt']);
      expect(readdirSync(folder)).toEqual([]);
    });

    if (cls.backend === 'sqlite') {
      it('open(): a file that is not a SQLite database is QueueCorruptError and is left untouched', async () => {
        const file = join(dir, 'notdb.db');
        const bytes = Buffer.from('SQLite format 2\0'.padEnd(4096, 'x'));
        writeFileSync(file, bytes);
        await expectError(cls, 'open(not a database)', () => cls.open(file), 'CORRUPT');
        expect(readFileSync(file).equals(bytes)).toBe(true);
        expect(readdirSync(dir)).toEqual(['notdb.db']);
      });
    }

    it('every bad call on an open queue: typed error, queue exactly as it was', async () => {
      const q = await open();
      await q.putMany(ORIGINAL);
      const size0 = await q.size();
      const throwingGetter = { ok: 1, get bad(): never { throw new Error('getter boom'); } };
      const throwingToJSON = { toJSON(): never { throw new Error('toJSON boom'); } };
      const hostileProxy = new Proxy({}, { ownKeys() { throw new Error('proxy boom'); } });
      const calls: [string, () => unknown, Expect][] = [
        ['put(function)', () => q.put(() => 1), 'SERIAL'],
        ['put(nested symbol)', () => q.put({ a: [1, Symbol('s')] }), 'SERIAL'],
        ['put(circular)', () => q.put(circular()), 'SERIAL'],
        ['put(BigInt deep)', () => q.put({ a: { b: [10n] } }), 'SERIAL'],
        ['put(throwing getter)', () => q.put(throwingGetter), 'SERIAL'],
        ['put(throwing toJSON)', () => q.put(throwingToJSON), 'SERIAL'],
        ['put(hostile Proxy)', () => q.put(hostileProxy), 'SERIAL'],
        ['putMany(bad in the middle)', () => q.putMany(['ok1', 'ok2', () => 0, 'ok3']), 'SERIAL'],
        ['putMany(bad last)', () => q.putMany(['ok1', circular()]), 'SERIAL'],
        ['putMany(null)', () => q.putMany(null), 'TYPE'],
        ['putMany(Set)', () => q.putMany(new Set(['a'])), 'TYPE'],
        ['put(x, { blok })', () => q.put('x', { blok: false }), 'VALUE'],
        ['put(x, { timeout: -1 })', () => q.put('x', { timeout: -1 }), 'RANGE'],
        ['put(x, { timeout: NaN })', () => q.put('x', { timeout: NaN }), 'RANGE'],
        ['put(x, { timeout: "1" })', () => q.put('x', { timeout: '1' }), 'TYPE'],
        ['put(x, { block: 1 })', () => q.put('x', { block: 1 }), 'TYPE'],
        ['put(x, "fast")', () => q.put('x', 'fast'), 'TYPE'],
        ['put(x, { priority: 1 }) without priority order', () => q.put('x', { priority: 1 }), 'TYPE'],
        ['putMany([x], { timeout: -5 })', () => q.putMany(['x'], { timeout: -5 }), 'RANGE'],
        ['get({ timeout: -1 })', () => q.get({ timeout: -1 }), 'RANGE'],
        ['get({ timeout: -Infinity })', () => q.get({ timeout: -Infinity }), 'RANGE'],
        ['get({ blocking: false })', () => q.get({ blocking: false }), 'VALUE'],
        ['get(5)', () => q.get(5), 'TYPE'],
        ['getMany(1.5)', () => q.getMany(1.5), 'RANGE'],
        ['getMany("2")', () => q.getMany('2'), 'TYPE'],
        ['getMany(-1)', () => q.getMany(-1), 'RANGE'],
        ['getMany(1e7)', () => q.getMany(1e7), 'RANGE'],
        ['getMany(2, { timeout: -1 })', () => q.getMany(2, { timeout: -1 }), 'RANGE'],
        ['join({ timeout: -1 })', () => q.join({ timeout: -1 }), 'RANGE'],
        ['join({ timout: 1 })', () => q.join({ timout: 1 }), 'VALUE'],
        ['taskDone() with nothing taken', () => q.taskDone(), 'TASK_DONE' as Expect],
      ];
      if (cls.ack) {
        calls.push(
          ['ack(null)', () => q.ack(null), 'TYPE'],
          ['ack({})', () => q.ack({}), 'TYPE'],
          ['ack(NaN)', () => q.ack(NaN), 'RANGE'],
          ['ack(Infinity)', () => q.ack(Infinity), 'RANGE'],
          ['nack("1")', () => q.nack('1'), 'TYPE'],
          ['ackFailed(-3)', () => q.ackFailed(-3), 'RANGE'],
          ['update(-1, x)', () => q.update(-1, 'x'), 'RANGE'],
          ['update(1, function)', () => q.update(1, () => 1), 'SERIAL'],
          ['update(1, circular)', () => q.update(1, circular()), 'SERIAL'],
          ['clearAcked("all")', () => q.clearAcked('all'), 'TYPE'],
          ['clearAcked({ keepLatest: -1 })', () => q.clearAcked({ keepLatest: -1 }), 'RANGE'],
          ['clearAcked({ maxdelete: 1 })', () => q.clearAcked({ maxdelete: 1 }), 'VALUE'],
        );
      }
      CODES['TASK_DONE' as Expect] = 'ERR_QUEUE_TASK_DONE';
      for (const [what, call, want] of calls) {
        await expectError(cls, what, call, want);
        expect(await q.size(), `size after ${what}`).toBe(size0);
      }
      const rest = (await drain(cls, q)).map((v) => v);
      expect(rest).toEqual(ORIGINAL);
    });

    it('the v8 and custom serializers: unencodable items and bad encoder results are typed, nothing written', async () => {
      const v8q = await open({ serializer: 'v8', ...(cls.backend === 'sqlite' ? { name: 'v8q' } : {}) }, cls.backend === 'sqlite' ? loc : join(dir, 'v8q'));
      await v8q.put('keep');
      for (const [what, item] of [
        ['function', () => 1],
        ['symbol', Symbol('x')],
        ['WeakMap', new WeakMap()],
        ['nested function', { a: [{ f: () => 1 }] }],
      ] as const) {
        await expectError(cls, `v8 put(${what})`, () => v8q.put(item), 'SERIAL');
      }
      await expectError(cls, 'v8 putMany(with a function)', () => v8q.putMany([1, () => 1]), 'SERIAL');
      expect(await drain(cls, v8q)).toEqual(['keep']);
      const encoders: [string, () => unknown][] = [
        ['throws', () => { throw new Error('nope'); }],
        ['throws a non-Error', () => { throw 'a string'; }], // eslint-disable-line no-throw-literal
        ['returns a string', () => 'bytes'],
        ['returns null', () => null],
        ['returns an ArrayBuffer', () => new ArrayBuffer(4)],
        ['returns an array', () => [1, 2]],
      ];
      for (const [i, [what, encode]] of encoders.entries()) {
        const cq = await open({ serializer: { encode, decode: (b: Uint8Array) => b }, ...(cls.backend === 'sqlite' ? { name: `c${i}` } : {}) }, cls.backend === 'sqlite' ? loc : join(dir, `c${i}`));
        await expectError(cls, `custom encode ${what}`, () => cq.put('x'), 'SERIAL');
        await expectError(cls, `custom encode ${what} (putMany)`, () => cq.putMany(['x', 'y']), 'SERIAL');
        expect(await cq.size()).toBe(0);
      }
    });

    it('a custom decoder that throws: SerializationError, and the item stays stored', async () => {
      const { serializer, heal } = failingDecoder();
      const q = await open({ serializer });
      await q.putMany(['a', 'b']);
      await expectError(cls, 'get() with a throwing decoder', () => q.get({ block: false }), 'SERIAL');
      await expectError(cls, 'getMany() with a throwing decoder', () => q.getMany(2, { block: false }), 'SERIAL');
      await expectError(cls, 'peek() with a throwing decoder', () => q.peek(), 'SERIAL');
      expect(await q.size()).toBe(2);
      heal();
      expect((await drain(cls, q)).map(String)).toEqual(['a', 'b']);
    });

    it('a 64 MiB item works (or is a typed error), and nothing else is disturbed', async () => {
      const q = await open({ durability: 'normal' });
      await q.put('before');
      const big = 'x'.repeat(64 * 1024 * 1024 - 64) + 'end';
      const digest = createHash('sha256').update(big).digest('hex');
      let stored = true;
      try {
        await q.put({ big });
      } catch (err) {
        expect(err, String(err)).toBeInstanceOf(lib.QueueError);
        stored = false;
      }
      await q.put('after');
      expect(await q.size()).toBe(stored ? 3 : 2);
      expect(unwrap(await q.get())).toBe('before');
      if (cls.ack) await q.ack((await q.items())[0].id);
      if (stored) {
        const g = await q.get();
        const v = unwrap(g) as { big: string };
        expect(v.big.length).toBe(big.length);
        expect(createHash('sha256').update(v.big).digest('hex')).toBe(digest);
        if (cls.ack) await q.ack(g);
      }
      expect(unwrap(await q.get())).toBe('after');
      console.log(`[torture] ${cls.name}: 64 MiB item ${stored ? 'stored and read back intact' : 'refused with a typed error'}`);
    }, 60_000);

    it('after close(): every method, including the ack-only ones and bad arguments, throws QueueClosedError', async () => {
      const q = await cls.open(loc);
      await q.putMany(['a', 'b']);
      await q.close();
      const calls: [string, () => unknown][] = [
        ['put(bad item)', () => q.put(() => 1)],
        ['put(x, bad options)', () => q.put('x', { timeout: -1 })],
        ['putMany(not an array)', () => q.putMany('x')],
        ['get(bad options)', () => q.get({ timeout: -1 })],
        ['getMany(0)', () => q.getMany(0)],
        ['getMany("x")', () => q.getMany('x')],
        ['join(bad options)', () => q.join({ timeout: -1 })],
      ];
      if (cls.ack) {
        calls.push(
          ['update(1, x)', () => q.update(1, 'x')],
          ['clearAcked()', () => q.clearAcked()],
          ['unackCount()', () => q.unackCount()],
          ['ackedCount()', () => q.ackedCount()],
          ['ackFailedCount()', () => q.ackFailedCount()],
          ['ack(bad id)', () => q.ack('x')],
        );
      }
      for (const [what, call] of calls) await expectError(cls, `after close: ${what}`, call, 'CLOSED');
      if (cls.flavour === 'async') {
        const seen: unknown[] = [];
        for await (const x of q) seen.push(x);
        expect(seen).toEqual([]);
      }
      const q2 = await open();
      expect(await drain(cls, q2)).toEqual(['a', 'b']);
    });
  });
}
