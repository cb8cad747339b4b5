/**
 * The contract suite: one body of tests run against every queue class (sync and Promise, every backend), so the
 * twins cannot drift. Classes are listed in test/helpers/classes.ts.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as lib from '../dist/esm/index.js';
import * as pgLib from '../dist/esm/postgres.js';
import { ALL_CLASSES, PG_CLASSES, caught, dataOf, tempDir, type AnyQueue, type QueueClass } from './helpers/classes.js';

for (const cls of ALL_CLASSES) {
  describe(`contract: ${cls.name}`, () => {
    let dir: string;
    let cleanup: () => void;
    let loc: string;
    const open: AnyQueue[] = [];
    const openQ = async (options?: Record<string, unknown>, location = loc): Promise<AnyQueue> => {
      const q = await cls.open(location, options);
      open.push(q);
      return q;
    };
    const take = async (q: AnyQueue, options?: unknown): Promise<unknown> => {
      const got = await q.get(options);
      if (cls.ack) await q.ack(got);
      return dataOf(cls, got);
    };

    beforeEach(() => {
      ({ dir, cleanup } = tempDir());
      loc = cls.location(dir);
    });
    afterEach(async () => {
      for (const q of open.splice(0)) await q.close();
      cleanup();
    });

    describe('put and get', () => {
      it('returns items in FIFO order with increasing ids', async () => {
        const q = await openQ();
        const ids = [await q.put({ n: 1 }), await q.put('two'), await q.put([3])];
        expect(ids[0]).toBeTypeOf('number');
        expect(ids[1]).toBeGreaterThan(ids[0]);
        expect(ids[2]).toBeGreaterThan(ids[1]);
        expect(await q.size()).toBe(3);
        expect(await take(q)).toEqual({ n: 1 });
        expect(await take(q)).toBe('two');
        expect(await take(q)).toEqual([3]);
        expect(await q.size()).toBe(0);
        expect(await q.empty()).toBe(true);
      });

      it('keeps items across close and reopen', async () => {
        const q = await openQ();
        await q.put({ keep: 1 });
        await q.put({ keep: 2 });
        await q.close();
        const q2 = await openQ();
        expect(await q2.size()).toBe(2);
        expect(await take(q2)).toEqual({ keep: 1 });
      });

      it('shares one queue between two open instances', async () => {
        const a = await openQ();
        const b = await openQ();
        await a.put('x');
        expect(await b.size()).toBe(1);
        expect(await take(b)).toBe('x');
        expect(await a.size()).toBe(0);
      });

      if (cls.orders.includes('filo')) {
        it("order 'filo' returns the newest first", async () => {
          const q = await openQ({ order: 'filo' });
          for (const i of [1, 2, 3]) await q.put(i);
          expect([await take(q), await take(q), await take(q)]).toEqual([3, 2, 1]);
        });
      }

      if (cls.orders.includes('priority')) {
        it("order 'priority' returns the lowest priority number first, then FIFO", async () => {
          const q = await openQ({ order: 'priority' });
          await q.put('low', { priority: 10 });
          await q.put('high', { priority: 1 });
          await q.put('mid', { priority: 5 });
          await q.put('high2', { priority: 1 });
          await q.put('default');
          expect([await take(q), await take(q), await take(q), await take(q), await take(q)]).toEqual(['default', 'high', 'high2', 'mid', 'low']);
        });

        it('rejects a non-integer priority', async () => {
          const q = await openQ({ order: 'priority' });
          expect((await caught(() => q.put('x', { priority: 1.5 }))).code).toBe('ERR_OUT_OF_RANGE');
          expect((await caught(() => q.put('x', { priority: '1' }))).code).toBe('ERR_INVALID_ARG_TYPE');
          expect(await q.size()).toBe(0);
        });
      }

      it('rejects a priority on a queue that has no priority order', async () => {
        const q = await openQ();
        const err = await caught(() => q.put('x', { priority: 1 }));
        expect(err).toBeInstanceOf(TypeError);
        expect(err.message).toMatch(/priority/);
        expect(await q.size()).toBe(0);
      });

      if (!cls.orders.includes('priority')) {
        it("rejects order 'priority' at open", async () => {
          const err = await caught(() => cls.open(loc, { order: 'priority' }));
          expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
        });
      }
    });

    describe('blocking and timeouts', () => {
      it('get({ block: false }) on an empty queue throws QueueEmptyError', async () => {
        const q = await openQ();
        const err = await caught(() => q.get({ block: false }));
        expect(err).toBeInstanceOf(lib.QueueEmptyError);
        expect(err).toBeInstanceOf(lib.QueueError);
        expect(err.code).toBe('ERR_QUEUE_EMPTY');
      });

      it('get({ timeout }) waits about that long, then throws QueueEmptyError', async () => {
        const q = await openQ();
        const t0 = performance.now();
        const err = await caught(() => q.get({ timeout: 60 }));
        expect(err.code).toBe('ERR_QUEUE_EMPTY');
        expect(performance.now() - t0).toBeGreaterThanOrEqual(55);
      });

      it('rejects bad get options with typed errors', async () => {
        const q = await openQ();
        const neg = await caught(() => q.get({ timeout: -1 }));
        expect(neg).toBeInstanceOf(RangeError);
        expect(neg.code).toBe('ERR_OUT_OF_RANGE');
        const type = await caught(() => q.get({ timeout: '10' }));
        expect(type).toBeInstanceOf(TypeError);
        expect(type.code).toBe('ERR_INVALID_ARG_TYPE');
        const typo = await caught(() => q.get({ timout: 10 }));
        expect(typo.code).toBe('ERR_INVALID_ARG_VALUE');
        expect(typo.message).toMatch(/did you mean "timeout"/);
      });

      if (cls.flavour === 'async') {
        it('a blocked get() wakes when another instance of this process puts', async () => {
          const a = await openQ();
          const b = await openQ();
          const pending = a.get({ timeout: 5000 });
          await new Promise((r) => setImmediate(r));
          const t0 = performance.now();
          await b.put('wake');
          expect(dataOf(cls, await pending)).toBe('wake');
          expect(performance.now() - t0).toBeLessThan(1000);
        });

        it('close() ends a blocked get() with QueueClosedError', async () => {
          const q = await cls.open(loc);
          const pending = caught(() => q.get()); // handled at once: close() may take a round trip before we await it
          await new Promise((r) => setImmediate(r));
          await q.close();
          const err = await pending;
          expect(err).toBeInstanceOf(lib.QueueClosedError);
        });

        it('is an async iterable that ends when the queue closes', async () => {
          const q = await cls.open(loc);
          await q.put(1);
          await q.put(2);
          const seen: unknown[] = [];
          for await (const got of q) {
            seen.push(dataOf(cls, got));
            if (cls.ack) await q.ack(got);
            if (seen.length === 2) setTimeout(() => void q.close(), 10);
          }
          expect(seen).toEqual([1, 2]);
        });
      }
    });

    describe('maxSize', () => {
      it('blocks or fails a put into a full queue and frees room on get', async () => {
        const q = await openQ({ maxSize: 2 });
        await q.put(1);
        expect(await q.full()).toBe(false);
        await q.put(2);
        expect(await q.full()).toBe(true);
        const now = await caught(() => q.put(3, { block: false }));
        expect(now).toBeInstanceOf(lib.QueueFullError);
        expect(now.code).toBe('ERR_QUEUE_FULL');
        const later = await caught(() => q.put(3, { timeout: 30 }));
        expect(later.code).toBe('ERR_QUEUE_FULL');
        expect(await q.size()).toBe(2);
        await take(q);
        await q.put(3);
        expect(await q.size()).toBe(2);
      });

      it('putMany larger than maxSize is a RangeError; one that does not fit now waits', async () => {
        const q = await openQ({ maxSize: 3 });
        expect((await caught(() => q.putMany([1, 2, 3, 4]))).code).toBe('ERR_OUT_OF_RANGE');
        await q.putMany([1, 2]);
        expect((await caught(() => q.putMany([3, 4], { block: false }))).code).toBe('ERR_QUEUE_FULL');
        expect(await q.size()).toBe(2);
      });

      it('full() is false for an unbounded queue', async () => {
        const q = await openQ();
        await q.put(1);
        expect(await q.full()).toBe(false);
      });

      if (cls.flavour === 'async') {
        it('a put blocked by maxSize completes when a get makes room', async () => {
          const q = await openQ({ maxSize: 1 });
          await q.put('a');
          const blocked = q.put('b', { timeout: 5000 });
          await new Promise((r) => setTimeout(r, 20));
          expect(await take(q)).toBe('a');
          expect(await blocked).toBeTypeOf('number');
          expect(await take(q)).toBe('b');
        });
      }
    });

    describe('putMany and getMany', () => {
      it('puts and gets in batches, in order', async () => {
        const q = await openQ();
        const ids = await q.putMany([1, 2, 3, 4, 5]);
        expect(ids).toHaveLength(5);
        const first = await q.getMany(3);
        expect(first.map((g: unknown) => dataOf(cls, g))).toEqual([1, 2, 3]);
        const rest = await q.getMany(10);
        expect(rest.map((g: unknown) => dataOf(cls, g))).toEqual([4, 5]);
        expect(await q.putMany([])).toEqual([]);
        expect((await caught(() => q.getMany(0))).code).toBe('ERR_OUT_OF_RANGE');
        expect((await caught(() => q.getMany(2, { block: false }))).code).toBe('ERR_QUEUE_EMPTY');
      });

      it('putMany is all or nothing when one item cannot be encoded', async () => {
        const q = await openQ();
        const err = await caught(() => q.putMany([1, () => 2, 3]));
        expect(err).toBeInstanceOf(lib.SerializationError);
        expect(await q.size()).toBe(0);
        expect((await caught(() => q.putMany('abc'))).code).toBe('ERR_INVALID_ARG_TYPE');
      });
    });

    describe('peek', () => {
      it('shows the next item without taking it', async () => {
        const q = await openQ();
        expect(await q.peek()).toBeUndefined();
        await q.put('first');
        await q.put('second');
        expect(await q.peek()).toBe('first');
        expect(await q.size()).toBe(2);
        expect(await take(q)).toBe('first');
      });
    });

    describe('taskDone and join', () => {
      it('join() returns once every taken item is done', async () => {
        const q = await openQ();
        expect(await q.join({ timeout: 0 })).toBe(true);
        await q.put(1);
        expect(await q.join({ timeout: 20 })).toBe(false);
        const got = await q.get();
        if (cls.ack) await q.ack(got);
        if (!cls.ack) expect(await q.join({ timeout: 20 })).toBe(false);
        await q.taskDone();
        expect(await q.join({ timeout: 1000 })).toBe(true);
      });

      it('join() in one instance waits for items taken by another', async () => {
        const a = await openQ();
        const b = await openQ();
        await a.put(1);
        const got = await b.get();
        expect(await a.join({ timeout: 30 })).toBe(false);
        if (cls.ack) await b.ack(got);
        else await b.taskDone();
        expect(await a.join({ timeout: 2000 })).toBe(true);
      });

      it('taskDone() more often than items were taken throws ERR_QUEUE_TASK_DONE', async () => {
        const q = await openQ();
        const err = await caught(() => q.taskDone());
        expect(err).toBeInstanceOf(lib.QueueError);
        expect(err.code).toBe('ERR_QUEUE_TASK_DONE');
        await q.put(1);
        await take(q);
        await q.taskDone();
        expect((await caught(() => q.taskDone())).code).toBe('ERR_QUEUE_TASK_DONE');
      });
    });

    if (cls.autoCommit) {
      describe('autoCommit: false', () => {
        it('delivers a taken item again after reopen unless taskDone() was called', async () => {
          const q = await cls.open(loc, { autoCommit: false });
          await q.putMany(['done', 'redo', 'rest']);
          expect(await q.get()).toBe('done');
          await q.taskDone();
          expect(await q.get()).toBe('redo');
          expect(await q.size()).toBe(1);
          await q.close();
          const q2 = await openQ({ autoCommit: false });
          expect(await q2.size()).toBe(2);
          expect(await q2.get()).toBe('redo');
          expect(await q2.get()).toBe('rest');
        });

        it('hides a taken item from other instances until it is done', async () => {
          const a = await openQ({ autoCommit: false });
          const b = await openQ({ autoCommit: false });
          await a.put('only');
          expect(await a.get()).toBe('only');
          expect((await caught(() => b.get({ block: false }))).code).toBe('ERR_QUEUE_EMPTY');
          expect(await b.join({ timeout: 20 })).toBe(false);
          await a.taskDone();
          expect(await b.join({ timeout: 1000 })).toBe(true);
        });
      });
    }

    describe('unique', () => {
      it('ignores a put equal to a waiting item (key order does not matter)', async () => {
        const q = await openQ({ unique: true });
        expect(await q.put({ a: 1, b: 2 })).toBeTypeOf('number');
        expect(await q.put({ b: 2, a: 1 })).toBeNull();
        expect(await q.put('é')).toBeTypeOf('number');
        expect(await q.putMany(['é', 'new'])).toEqual([null, expect.any(Number)]);
        expect(await q.size()).toBe(3);
        expect(await take(q)).toEqual({ a: 1, b: 2 });
        expect(await q.put({ a: 1, b: 2 })).toBeTypeOf('number');
      });

      it('keeps its set of waiting items across reopen', async () => {
        const q = await cls.open(loc, { unique: true });
        await q.put('same');
        await q.close();
        const q2 = await openQ({ unique: true });
        expect(await q2.put('same')).toBeNull();
        expect(await q2.size()).toBe(1);
      });
    });

    describe('serializers', () => {
      it('json (default) round-trips nested values', async () => {
        const q = await openQ();
        const v = { s: 'é ✓ 😀', n: -1.5, b: true, z: null, a: [1, { x: [] }] };
        await q.put(v);
        expect(await take(q)).toEqual(v);
      });

      it('v8 round-trips Date, Map, Set, BigInt, Buffer and cycles', async () => {
        const q = await openQ({ serializer: 'v8' });
        const cyc: Record<string, unknown> = { name: 'c' };
        cyc.self = cyc;
        const v = { d: new Date(5), m: new Map([[1, 'a']]), s: new Set([2]), big: 10n ** 20n, buf: Buffer.from('hi'), cyc };
        await q.put(v);
        const got = (await take(q)) as typeof v;
        expect(got.d).toEqual(new Date(5));
        expect(got.m.get(1)).toBe('a');
        expect(got.s.has(2)).toBe(true);
        expect(got.big).toBe(10n ** 20n);
        expect(Buffer.from(got.buf).toString()).toBe('hi');
        expect((got.cyc as Record<string, unknown>).self).toBe(got.cyc);
      });

      it('uses a custom { encode, decode }', async () => {
        const serializer = {
          encode: (v: string) => Buffer.from(v.split('').reverse().join('')),
          decode: (b: Uint8Array) => Buffer.from(b).toString().split('').reverse().join(''),
        };
        const q = await openQ({ serializer });
        await q.put('abc');
        expect(await take(q)).toBe('abc');
      });

      it('throws SerializationError for unencodable items and changes nothing', async () => {
        const q = await openQ();
        await q.put('before');
        const circular: Record<string, unknown> = {};
        circular.self = circular;
        for (const bad of [() => 1, Symbol('s'), circular, 10n, { nested: () => 1 }, undefined, [1, [Symbol('deep')]], { d: { toJSON: () => ({ f: () => 1 }) } }]) {
          const err = await caught(() => q.put(bad));
          expect(err).toBeInstanceOf(lib.SerializationError);
          expect(err.code).toBe('ERR_QUEUE_SERIALIZATION');
        }
        expect(await q.size()).toBe(1);
        // a second and third queue: another table of the same file, or another folder
        const other = (name: string): [Record<string, unknown>, string] =>
          cls.backend === 'sqlite' ? [{ name }, loc] : cls.backend === 'postgres' ? [{}, `${loc}_${name}`] : [{}, join(dir, name)];
        const [o1, l1] = other('v8q');
        const v8q = await openQ({ serializer: 'v8', ...o1 }, l1);
        expect((await caught(() => v8q.put(() => 1))).code).toBe('ERR_QUEUE_SERIALIZATION');
        const [o2, l2] = other('c');
        const bad = await openQ({ serializer: { encode: () => 'not bytes', decode: (b: Uint8Array) => b }, ...o2 }, l2);
        expect((await caught(() => bad.put(1))).code).toBe('ERR_QUEUE_SERIALIZATION');
        expect(await v8q.size()).toBe(0);
      });

      it('rejects a bad serializer option', async () => {
        expect((await caught(() => cls.open(loc, { serializer: 'yaml' }))).code).toBe('ERR_INVALID_ARG_TYPE');
        expect((await caught(() => cls.open(loc, { serializer: { encode: 1 } }))).code).toBe('ERR_INVALID_ARG_TYPE');
      });
    });

    describe('options and paths', () => {
      it('rejects misspelled, wrong-typed and out-of-range options, creating nothing', async () => {
        const typo = await caught(() => cls.open(loc, { maxsize: 3 }));
        expect(typo).toBeInstanceOf(TypeError);
        expect(typo.code).toBe('ERR_INVALID_ARG_VALUE');
        expect(typo.message).toMatch(/"maxsize".*did you mean "maxSize"/);
        const type = await caught(() => cls.open(loc, { maxSize: '3' }));
        expect(type.code).toBe('ERR_INVALID_ARG_TYPE');
        expect(type.message).toMatch(/maxSize/);
        const range = await caught(() => cls.open(loc, { maxSize: -1 }));
        expect(range).toBeInstanceOf(RangeError);
        expect(range.code).toBe('ERR_OUT_OF_RANGE');
        const value = await caught(() => cls.open(loc, { durability: 'fast' }));
        expect(value.code).toBe('ERR_INVALID_ARG_VALUE');
        expect(value.message).toMatch(/durability/);
        expect((await caught(() => cls.open(loc, 'fifo' as never))).code).toBe('ERR_INVALID_ARG_TYPE');
        expect(existsSync(loc)).toBe(false);
        expect(readdirSync(dir)).toEqual([]);
      });

      it.skipIf(!cls.paths)('names the path when its parent folder is missing', async () => {
        const missing = join(dir, 'no', 'such', 'place');
        const err = await caught(() => cls.open(missing));
        expect(err.message).toContain(join(dir, 'no', 'such'));
        expect(existsSync(join(dir, 'no'))).toBe(false);
      });

      it.skipIf(!cls.paths)('names the path when it is the wrong kind of file', async () => {
        if (cls.backend === 'sqlite') mkdirSync(loc);
        else writeFileSync(loc, 'not a folder');
        const err = await caught(() => cls.open(loc));
        expect(err.message).toContain(loc);
      });
    });

    describe('close', () => {
      it('makes every later call throw QueueClosedError; close twice is fine', async () => {
        const q = await cls.open(loc);
        await q.put(1);
        await q.close();
        await q.close();
        const calls: (() => unknown)[] = [
          () => q.put(2),
          () => q.putMany([2]),
          () => q.get(),
          () => q.getMany(1),
          () => q.peek(),
          () => q.taskDone(),
          () => q.join(),
          () => q.size(),
          () => q.empty(),
          () => q.full(),
        ];
        if (cls.ack) calls.push(() => q.ack(1), () => q.nack(1), () => q.ackFailed(1), () => q.items(), () => q.readyCount());
        for (const call of calls) {
          const err = await caught(call);
          expect(err).toBeInstanceOf(lib.QueueClosedError);
          expect(err.code).toBe('ERR_QUEUE_CLOSED');
        }
      });

      it('closes through Symbol.dispose / Symbol.asyncDispose', async () => {
        const q = await cls.open(loc);
        const sym = cls.flavour === 'sync' ? (Symbol as { dispose?: symbol }).dispose : (Symbol as { asyncDispose?: symbol }).asyncDispose;
        expect(sym).toBeDefined();
        await q[sym!]();
        expect((await caught(() => q.size())).code).toBe('ERR_QUEUE_CLOSED');
      });
    });

    if (cls.ack) {
      describe('ack queue', () => {
        it('get() reserves a message; ack, nack and ackFailed change its status', async () => {
          const q = await openQ();
          await q.putMany(['a', 'b', 'c']);
          const a = await q.get();
          expect(a).toEqual({ id: expect.any(Number), data: 'a', attempts: 1 });
          expect(await q.unackCount()).toBe(1);
          expect(await q.readyCount()).toBe(2);
          expect(await q.size()).toBe(2);
          expect(await q.ack(a)).toBe(true);
          expect(await q.ack(a)).toBe(false);
          expect(await q.ackedCount()).toBe(1);
          const b = await q.get();
          expect(await q.nack(b.id)).toBe(true);
          expect(await q.nack(b.id)).toBe(false);
          const b2 = await q.get();
          expect(b2).toEqual({ id: b.id, data: 'b', attempts: 2 });
          expect(await q.ackFailed(b2)).toBe(true);
          expect(await q.ackFailedCount()).toBe(1);
          const statuses = (await q.items()).map((i: { data: unknown; status: string }) => [i.data, i.status]);
          expect(statuses).toEqual([['a', 'acked'], ['b', 'failed'], ['c', 'ready']]);
        });

        it('rejects bad message ids', async () => {
          const q = await openQ();
          expect((await caught(() => q.ack('1'))).code).toBe('ERR_INVALID_ARG_TYPE');
          expect((await caught(() => q.ack(-1))).code).toBe('ERR_OUT_OF_RANGE');
          expect((await caught(() => q.nack({ id: 1.5 }))).code).toBe('ERR_OUT_OF_RANGE');
          expect(await q.ack(12345)).toBe(false);
        });

        it('clearAcked() deletes acked rows, keeping the latest if asked', async () => {
          const q = await openQ();
          await q.putMany([1, 2, 3, 4, 5]);
          for (let i = 0; i < 4; i++) await q.ack(await q.get());
          await q.ackFailed(await q.get());
          expect(await q.clearAcked({ keepLatest: 1 })).toBe(3);
          expect(await q.ackedCount()).toBe(1);
          expect(await q.clearAcked({ includeFailed: true, maxDelete: 1 })).toBe(1);
          expect(await q.clearAcked({ includeFailed: true })).toBe(1);
          expect(await q.items()).toEqual([]);
          expect((await caught(() => q.clearAcked({ keeplatest: 1 }))).code).toBe('ERR_INVALID_ARG_VALUE');
        });

        it('update() replaces stored data', async () => {
          const q = await openQ();
          const id = await q.put({ v: 1 });
          expect(await q.update(id, { v: 2 })).toBe(true);
          expect(await q.update(999, { v: 3 })).toBe(false);
          expect((await q.get()).data).toEqual({ v: 2 });
        });

        it('a message not acked within visibilityTimeout is delivered again', async () => {
          const q = await openQ({ visibilityTimeout: 50 });
          await q.put('lease');
          const first = await q.get();
          expect((await caught(() => q.get({ block: false }))).code).toBe('ERR_QUEUE_EMPTY');
          const again = await q.get({ timeout: 3000 });
          expect(again).toEqual({ id: first.id, data: 'lease', attempts: 2 });
        });

        it('a live holder keeps its message from other consumers', async () => {
          const a = await openQ();
          const b = await openQ();
          await a.put('mine');
          await a.get();
          expect((await caught(() => b.get({ timeout: 30 }))).code).toBe('ERR_QUEUE_EMPTY');
          expect(await b.unackCount()).toBe(1);
        });

        it('close() returns the unacked messages of the closing instance', async () => {
          const a = await cls.open(loc);
          await a.put('back');
          await a.get();
          await a.close();
          const b = await openQ();
          expect(await b.readyCount()).toBe(1);
          expect(await b.get()).toEqual({ id: expect.any(Number), data: 'back', attempts: 2 });
        });

        it('unique: an acked item may be put again', async () => {
          const q = await openQ({ unique: true });
          await q.put({ z: 1 });
          expect(await q.put({ z: 1 })).toBeNull();
          await q.ack(await q.get());
          expect(await q.put({ z: 1 })).toBeTypeOf('number');
        });
      });
    }
  });
}

/** Classes checked against each other: the contract covers every class the package exports. */
describe('contract coverage', () => {
  it('lists every exported queue class', () => {
    // TaskQueue/TaskQueueSync are not queues of items: test/tasks/ is their suite.
    const exported = Object.keys(lib).filter((k) => /Queue(Sync)?$/.test(k) && !k.startsWith('Task') && typeof (lib as Record<string, unknown>)[k] === 'function');
    expect(ALL_CLASSES.filter((c) => c.backend !== 'postgres').map((c: QueueClass) => c.name).sort()).toEqual(exported.sort());
  });

  it.skipIf(PG_CLASSES.length === 0)('lists every queue class of persist-queue/postgres', () => {
    const exported = Object.keys(pgLib).filter((k) => /Queue(Sync)?$/.test(k) && !k.startsWith('Task') && typeof (pgLib as Record<string, unknown>)[k] === 'function');
    expect(PG_CLASSES.map((c: QueueClass) => c.name).sort()).toEqual(exported.sort());
  });
});
