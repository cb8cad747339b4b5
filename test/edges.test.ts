/**
 * The edges issue 10 found by using the package as a new user would, for every class: call order of puts (group
 * commit included), serializers that reuse their output buffer, sparse arrays, items the serializer cannot read
 * (poison messages), messages of another queue, paths (URL, NUL, a folder that is not a queue), options set to
 * undefined. Each test failed before its fix.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ALL_CLASSES, caught, dataOf, tempDir, type AnyQueue, type QueueClass } from './helpers/classes.js';

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir('pq-edges-')));
afterEach(() => cleanup());

/** Takes every waiting item (acking messages), in order. */
async function drain(cls: QueueClass, q: AnyQueue): Promise<unknown[]> {
  const out: unknown[] = [];
  for (;;) {
    let got;
    try {
      got = await q.get({ block: false });
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_QUEUE_EMPTY') return out;
      throw err;
    }
    if (cls.ack) await q.ack(got);
    out.push(dataOf(cls, got));
  }
}

/** A serializer that writes every item into one shared buffer and returns a view of it (as msgpackr can). */
function reusingSerializer(): { encode(v: unknown): Uint8Array; decode(b: Uint8Array): unknown } {
  const shared = Buffer.alloc(256);
  return {
    encode: (v) => {
      const n = shared.write(JSON.stringify(v));
      return shared.subarray(0, n);
    },
    decode: (b) => JSON.parse(Buffer.from(b).toString()),
  };
}

/** A JSON serializer whose decode() refuses the item "bad". */
const poisonSerializer = {
  encode: (v: unknown) => Buffer.from(JSON.stringify(v)),
  decode: (b: Uint8Array) => {
    const v = JSON.parse(Buffer.from(b).toString());
    if (v === 'bad') throw new Error('cannot read "bad"');
    return v;
  },
};

for (const cls of ALL_CLASSES) {
  describe(`${cls.name}: edges`, () => {
    const open = (options?: Record<string, unknown>, at = cls.location(dir)): Promise<AnyQueue> => cls.open(at, options);

    for (const durability of cls.durabilities) {
      it(`put() and putMany() called together commit in call order (durability ${durability})`, async () => {
        const q = await open({ durability });
        const ids = await Promise.all([q.put('a'), q.putMany(['b', 'c']), q.put('d'), q.putMany(['e']), q.put('f'), q.put('g')]);
        const flat = ids.flat() as number[];
        expect(flat).toEqual([...flat].sort((x, y) => x - y)); // ids grow in call order
        const got = await drain(cls, q);
        const order = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
        expect(got).toEqual(order);
        await q.close();
      });
    }

    if (cls.orders.includes('filo')) {
      it('FILO: concurrent put() and putMany() come back in the reverse of call order', async () => {
        const q = await open({ order: 'filo', durability: 'normal' });
        await Promise.all([q.put('a'), q.putMany(['b', 'c']), q.put('d')]);
        expect(await drain(cls, q)).toEqual(['d', 'c', 'b', 'a']);
        await q.close();
      });
    }

    if (cls.flavour === 'async') {
      it('a get(), peek() or size() called after a put() sees it', async () => {
        const q = await open({ durability: 'full' });
        void q.put('x');
        expect(await q.size()).toBe(1);
        void q.put('y');
        expect(dataOf(cls, await q.get({ block: false }))).toBe('x');
        void q.putMany(['z']);
        expect(await q.peek()).toBe('y');
        await q.close();
      });

      it('maxSize: a put waiting for room is not overtaken; a later block:false put fails at once', async () => {
        const q = await open({ maxSize: 1, durability: 'normal' });
        await q.put('a');
        const b = q.put('b'); // waits for room
        const c = caught(() => q.put('c', { block: false }));
        const d = q.putMany(['d']); // waits behind b
        expect((await c).code).toBe('ERR_QUEUE_FULL');
        const take = async (): Promise<unknown> => {
          const got = await q.get();
          if (cls.ack) await q.ack(got);
          return dataOf(cls, got);
        };
        expect(await take()).toBe('a');
        await b;
        expect(await take()).toBe('b');
        await d;
        expect(await take()).toBe('d');
        expect(await q.size()).toBe(0);
        await q.close();
      });
    }

    it('a serializer that reuses its output buffer: every item is stored as it was (putMany, concurrent puts)', async () => {
      const serializer = reusingSerializer();
      const q = await open({ serializer, durability: 'normal' });
      await q.putMany(['one', 'two', 'three', { four: 4 }]);
      await Promise.all([q.put('five'), q.put('sixty-six'), q.put('7')]);
      const r = await open({ serializer }); // another instance reads the bytes from storage, checksums included
      expect(await drain(cls, r)).toEqual(['one', 'two', 'three', { four: 4 }, 'five', 'sixty-six', '7']);
      expect(r.corruptSkipped).toBe(0);
      await r.close();
      await q.close();
    });

    it('putMany() of a sparse array is a typed error and writes nothing', async () => {
      const q = await open();
      // eslint-disable-next-line no-sparse-arrays
      const err = await caught(() => q.putMany([1, , 3]));
      expect(err).toBeInstanceOf(TypeError);
      expect([err.code, err.message]).toEqual(['ERR_INVALID_ARG_VALUE', expect.stringContaining('items[1] is a hole')]);
      expect(await q.size()).toBe(0);
      await q.put(4);
      expect(await drain(cls, q)).toEqual([4]);
      await q.close();
    });

    it('an item the serializer cannot read: the error names its id, the item stays, and it can be set aside', async () => {
      const q = await open({ serializer: poisonSerializer });
      const [, badId] = (await q.putMany(['a', 'bad', 'c'])) as number[];
      const a = await q.get();
      expect(dataOf(cls, a)).toBe('a');
      if (cls.ack) await q.ack(a);
      for (const call of [() => q.get({ block: false }), () => q.getMany(5, { block: false }), () => q.peek()]) {
        const err = await caught(call);
        expect([err.name, err.code, (err as { id?: number }).id]).toEqual(['SerializationError', 'ERR_QUEUE_SERIALIZATION', badId]);
      }
      expect(await q.size()).toBe(2); // nothing lost
      if (cls.ack) {
        const items = await q.items();
        expect(items.map((i: { data?: unknown; error?: { id: number } }) => i.data ?? `error ${i.error?.id}`)).toEqual(['a', `error ${badId}`, 'c']);
        expect(await q.ackFailed(badId)).toBe(true); // named by the get's error: this instance may park it
        expect(await q.ackFailedCount()).toBe(1);
      } else {
        if (cls.backend === 'file') expect(await q.remove(badId + 1)).toBe(false); // only the front item
        expect(await q.remove(badId)).toBe(true);
        expect(await q.remove(badId)).toBe(false);
      }
      expect(await drain(cls, q)).toEqual(['c']);
      await q.close();
    });

    it.skipIf(!cls.skipCorrupt)('skipCorrupt also covers items the serializer cannot read: dropped (ack: marked failed) and counted', async () => {
      const q = await open({ serializer: poisonSerializer, skipCorrupt: true });
      await q.putMany(['bad', 'a', 'bad', 'c']);
      expect(await q.peek()).toBe('a');
      expect(await drain(cls, q)).toEqual(['a', 'c']);
      expect(q.corruptSkipped).toBe(2);
      if (cls.ack) expect(await q.ackFailedCount()).toBe(2);
      await q.close();
    });

    if (!cls.ack) {
      it('remove(id) checks its argument', async () => {
        const q = await open();
        expect((await caught(() => q.remove('1'))).code).toBe('ERR_INVALID_ARG_TYPE');
        expect((await caught(() => q.remove(-1))).code).toBe('ERR_OUT_OF_RANGE');
        expect(await q.remove(99)).toBe(false);
        await q.close();
        expect((await caught(() => q.remove(1))).code).toBe('ERR_QUEUE_CLOSED');
      });
    }

    it.skipIf(!cls.paths)('paths: a file: URL opens the queue; a NUL in the path is a TypeError and creates nothing', async () => {
      const q = await cls.open(pathToFileURL(cls.location(dir)) as unknown as string);
      await q.put('u');
      await q.close();
      const r = await open();
      expect(await drain(cls, r)).toEqual(['u']);
      await r.close();
      const before = readdirSync(dir);
      const err = await caught(() => cls.open(join(dir, 'a\0b')));
      expect([err.name, err.code]).toEqual(['TypeError', 'ERR_INVALID_ARG_VALUE']);
      expect((await caught(() => cls.open(new URL('https://example.com/q') as unknown as string))).name).toBe('TypeError');
      expect(readdirSync(dir)).toEqual(before);
    });

    it('an option set to undefined means its default (also one the class does not have)', async () => {
      const all = { order: undefined, unique: undefined, maxSize: undefined, serializer: undefined, durability: undefined, autoCommit: undefined, skipCorrupt: undefined, name: undefined, busyTimeout: undefined, visibilityTimeout: undefined, segmentBytes: undefined, syncIntervalMs: undefined, lockTimeout: undefined, lockStale: undefined };
      const q = await open(all);
      await q.put('a', { block: undefined, timeout: undefined, priority: undefined });
      await q.putMany(['b'], { block: undefined, timeout: undefined });
      expect(dataOf(cls, await q.get({ block: undefined, timeout: undefined }))).toBe('a');
      expect((await q.getMany(5, { block: undefined, timeout: undefined })).map((g: unknown) => dataOf(cls, g))).toEqual(['b']);
      if (!cls.ack) await q.taskDone();
      if (!cls.ack) await q.taskDone();
      expect((await caught(() => q.put('c', { blok: true }))).code).toBe('ERR_INVALID_ARG_VALUE'); // a misspelled, set option still is
      await q.close();
    });

    if (cls.backend === 'file') {
      it('a folder that holds other files and no queue is refused, and left as it was', async () => {
        const other = join(dir, 'photos');
        mkdirSync(other);
        writeFileSync(join(other, 'cat.jpg'), 'meow');
        const err = await caught(() => cls.open(other));
        expect([err.name, err.code]).toEqual(['TypeError', 'ERR_INVALID_ARG_VALUE']);
        expect(err.message).toContain('is not a file queue');
        expect(readdirSync(other)).toEqual(['cat.jpg']);
        expect(readFileSync(join(other, 'cat.jpg'), 'utf8')).toBe('meow');
      });
    }

    if (cls.ack) {
      it('a message from another queue in the same file is refused by ack/nack/ackFailed/update, and changes nothing', async () => {
        const file = cls.location(dir);
        const mail = await cls.open(file, { name: 'mail' });
        const sms = await cls.open(file, { name: 'sms' });
        await mail.put('m1');
        await sms.put('s1');
        const s = await sms.get();
        expect(s.id).toBe(1); // the same id as mail's message: acking by it would hit mail's row
        for (const call of [() => mail.ack(s), () => mail.nack(s), () => mail.ackFailed(s), () => mail.update(s, 'x')]) {
          const err = await caught(call);
          expect([err.name, err.code]).toEqual(['ForeignMessageError', 'ERR_QUEUE_FOREIGN_MESSAGE']);
        }
        expect(await mail.ack(s.id)).toBe(false); // a bare id: mail does not hold a message 1
        expect([await mail.readyCount(), await mail.ackedCount()]).toEqual([1, 0]);
        expect(dataOf(cls, await mail.get())).toBe('m1');
        expect(await sms.ack(s)).toBe(true);
        await mail.close();
        await sms.close();
      });

      it('a message from another file, or another instance of this queue, is refused; a bare id it does not hold is false', async () => {
        const a = await cls.open(cls.location(dir));
        const b = await cls.open(cls.location(dir));
        const other = await cls.open(join(dir, 'other.db'));
        await a.putMany(['x', 'y']);
        await other.put('o');
        const o = await other.get();
        expect((await caught(() => a.ack(o))).code).toBe('ERR_QUEUE_FOREIGN_MESSAGE');
        const m = await a.get();
        expect((await caught(() => b.ack(m))).code).toBe('ERR_QUEUE_FOREIGN_MESSAGE');
        expect(await b.ack(m.id)).toBe(false); // b does not hold it
        expect(await b.ackFailed(m.id)).toBe(false);
        expect(await b.nack(m.id)).toBe(false);
        expect(await a.unackCount()).toBe(1);
        expect(await a.ack({ id: m.id })).toBe(true); // a plain object with the id works for the holder
        expect(await a.ack(2)).toBe(false); // ready, not taken by a: a bare id acts only on a held message
        expect(await a.readyCount()).toBe(1);
        await Promise.all([a.close(), b.close(), other.close()]);
      });
    }
  });
}
