/** SQLite-specific behaviour beyond the contract suite: row checksums. */
import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as lib from '../dist/esm/index.js';
import { caught, failingDecoder, SQLITE_CLASSES, tempDir } from './helpers/classes.js';

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir('pq-sqlite-')));
afterEach(() => cleanup());

for (const cls of SQLITE_CLASSES) {
  describe(`${cls.name} row checksums`, () => {
    const table = cls.ack ? 'ack_queue_default' : 'queue_default';

    it('a row whose data no longer matches its checksum is a QueueCorruptError, and stays stored', async () => {
      const file = join(dir, 'q.db');
      const q = await cls.open(file);
      await q.put({ amount: 100 });
      await q.put({ amount: 200 });
      const raw = new Database(file);
      raw.prepare(`UPDATE ${table} SET data = ? WHERE _id = 1`).run(Buffer.from('{"amount":900}'));
      raw.close();
      for (const call of [() => q.get({ block: false }), () => q.peek(), () => q.getMany(2, { block: false })]) {
        const err = await caught(call);
        expect(err).toBeInstanceOf(lib.QueueCorruptError);
        expect(err.code).toBe('ERR_QUEUE_CORRUPT');
        expect(err.message).toContain(`${table}#1`);
      }
      expect(await q.size()).toBe(2);
      await q.close();
    });

    it('skipCorrupt: a damaged row is dropped (ack: marked failed), counted, and the next one is returned', async () => {
      const file = join(dir, 'q.db');
      const q = await cls.open(file, { skipCorrupt: true });
      await q.putMany(['good-1', 'bad', 'good-2']);
      const raw = new Database(file);
      raw.prepare(`UPDATE ${table} SET data = ? WHERE _id = 2`).run(Buffer.from('"evil"'));
      raw.close();
      expect(q.corruptSkipped).toBe(0);
      const first = await q.get();
      expect(cls.ack ? first.data : first).toBe('good-1');
      if (cls.ack) await q.ack(first);
      const second = await q.get();
      expect(cls.ack ? second.data : second).toBe('good-2');
      expect(q.corruptSkipped).toBe(1);
      if (cls.ack) {
        expect(await q.ackFailedCount()).toBe(1);
        // items() lists the damaged row with its error (and id) instead of failing or hiding it
        const items = await q.items();
        expect(items.map((i: { data: unknown }) => i.data)).toEqual(['good-1', undefined, 'good-2']);
        expect([items[1].status, items[1].error?.code, items[1].error?.id]).toEqual(['failed', 'ERR_QUEUE_CORRUPT', 2]);
      } else {
        expect(await q.size()).toBe(0);
      }
      await q.close();
    });

    it('rows without a checksum (written by Python) are read as they are', async () => {
      const file = join(dir, 'q.db');
      const q = await cls.open(file);
      const raw = new Database(file);
      raw.prepare(`INSERT INTO ${table} (data, timestamp${cls.ack ? ', status' : ''}) VALUES (?, ?${cls.ack ? ', 0' : ''})`).run(Buffer.from('{"py": true}'), 1.5);
      raw.close();
      const got = await q.get({ block: false });
      expect(cls.ack ? got.data : got).toEqual({ py: true });
      await q.close();
    });
  });
}

const until = async (t: number): Promise<void> => {
  // A lease runs out with time alone: there is no event to wait for.
  while (Date.now() < t) await new Promise((r) => setTimeout(r, Math.max(1, t - Date.now())));
};

describe('sqlite ack queues: how a get chooses and what an ack writes', () => {
  for (const cls of SQLITE_CLASSES.filter((c) => c.ack)) {
    it(`${cls.name}: messages whose lease ran out come back in queue order among the ready ones (fifo and filo)`, async () => {
      for (const order of ['fifo', 'filo'] as const) {
        const q = await cls.open(join(dir, `${order}.db`), { visibilityTimeout: 40, order });
        await q.putMany([1, 2, 3, 4]);
        const a = await q.get();
        const b = await q.get();
        const leaseEnd = Date.now() + 40;
        expect([a.data, b.data]).toEqual(order === 'fifo' ? [1, 2] : [4, 3]);
        expect([await q.readyCount(), await q.unackCount()]).toEqual([2, 2]);
        await until(leaseEnd + 5);
        // before any get expires them: what a get would take is what size(), empty(), peek() and the counts say
        expect([await q.size(), await q.readyCount(), await q.unackCount(), await q.empty()]).toEqual([4, 4, 0, false]);
        expect(await q.peek()).toBe(order === 'fifo' ? 1 : 4);
        const got = [];
        for (let i = 0; i < 4; i++) {
          const m = await q.get({ block: false });
          got.push([m.data, m.attempts]);
          await q.ack(m);
        }
        expect(got).toEqual(order === 'fifo' ? [[1, 2], [2, 2], [3, 1], [4, 1]] : [[4, 2], [3, 2], [2, 1], [1, 1]]);
        expect([await q.readyCount(), await q.unackCount(), await q.ackedCount()]).toEqual([0, 0, 4]);
        await q.close();
      }
    });

    it(`${cls.name}: an instance without visibilityTimeout gets a message whose lease, set by another instance, ran out`, async () => {
      const file = join(dir, 'q.db');
      const b = await cls.open(file); // opened first: its open saw no leases
      const a = await cls.open(file, { visibilityTimeout: 40 });
      await a.put('m');
      const m = await a.get();
      const leaseEnd = Date.now() + 40;
      expect((await caught(() => b.get({ block: false }))).code).toBe('ERR_QUEUE_EMPTY'); // held within its lease
      await until(leaseEnd + 5);
      expect(await b.get({ block: false })).toEqual({ id: m.id, data: 'm', attempts: 2 });
      expect(await a.ack(m)).toBe(false); // a late ack does nothing: b holds the message now
      expect(await b.ack(m.id)).toBe(true);
      expect(await a.ackedCount()).toBe(1);
      await a.close();
      await b.close();
    });

    it(`${cls.name}: a message the serializer cannot read is made ready again, its delivery not counted`, async () => {
      const { serializer, heal } = failingDecoder();
      const q = await cls.open(join(dir, 'q.db'), { serializer });
      await q.put('x');
      for (let i = 0; i < 3; i++) expect((await caught(() => q.get({ block: false }))).code).toBe('ERR_QUEUE_SERIALIZATION');
      expect([await q.readyCount(), await q.unackCount()]).toEqual([1, 0]);
      heal();
      expect(await q.get({ block: false })).toEqual({ id: 1, data: 'x', attempts: 1 });
      await q.close();
    });

    it(`${cls.name}: opening drops the indexes of earlier versions (a FIFO get changes no index); acked and failed rows are counted and cleared without them`, async () => {
      const file = join(dir, 'q.db');
      const raw = new Database(file);
      raw.exec('CREATE TABLE ack_queue_default (_id INTEGER PRIMARY KEY AUTOINCREMENT, data BLOB, timestamp FLOAT, status INTEGER)');
      raw.exec('CREATE INDEX pq_idx_ack_queue_default ON ack_queue_default (status, _id)');
      raw.exec('CREATE INDEX pq_ready_ack_queue_default ON ack_queue_default (_id) WHERE status < 2');
      const indexes = (): string[] =>
        (raw.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ack_queue_default' ORDER BY name").pluck().all() as string[]);
      const q = await cls.open(file);
      expect(indexes()).toEqual(['pq_leased_ack_queue_default', 'pq_orphan_ack_queue_default']);
      await q.putMany(['a', 'b', 'c', 'd']);
      await q.ack(await q.get());
      await q.ackFailed(await q.get());
      await q.ack(await q.get());
      expect([await q.readyCount(), await q.unackCount(), await q.ackedCount(), await q.ackFailedCount()]).toEqual([1, 0, 2, 1]);
      expect(await q.clearAcked({ includeFailed: true })).toBe(3);
      expect((await q.items()).map((i: { data: string; status: string }) => [i.data, i.status])).toEqual([['d', 'ready']]);
      raw.close();
      await q.close();
    });
  }
});

describe('sqlite ack queues: the scan bounds (pq_ack_state) never hide a ready message', () => {
  for (const cls of SQLITE_CLASSES.filter((c) => c.ack)) {
    const table = 'ack_queue_default';
    it(`${cls.name}: a message made ready again below a getter's cursor is found (nack, another instance, another connection)`, async () => {
      const file = join(dir, 'q.db');
      const a = await cls.open(file);
      const b = await cls.open(file);
      await a.putMany([1, 2, 3, 4, 5, 6]);
      const m1 = await a.get();
      const m2 = await b.get();
      const m3 = await a.get();
      expect([m1.data, m2.data, m3.data]).toEqual([1, 2, 3]);
      // b gives back 2, below a's cursor: a's next get takes it before 4
      expect(await b.nack(m2)).toBe(true);
      expect((await a.get()).data).toBe(2);
      // a plain connection (as a Python process would) makes 1 ready again: the trigger moves the bound
      const raw = new Database(file);
      const state = raw.prepare('SELECT seq, low, ulow FROM pq_ack_state WHERE tbl = ?');
      const before = state.get(table) as { seq: number };
      raw.prepare(`UPDATE ${table} SET status = 1 WHERE _id = ?`).run(m1.id);
      const after = state.get(table) as { seq: number; low: number; ulow: number };
      expect(after.seq).toBe(before.seq + 1);
      expect(after.low).toBeLessThanOrEqual(m1.id);
      expect(after.ulow).toBeLessThanOrEqual(after.low);
      expect(await b.readyCount()).toBe(4);
      expect((await b.get()).data).toBe(1);
      expect((await a.get()).data).toBe(4);
      raw.close();
      await a.close();
      await b.close();
    });

    it(`${cls.name}: the bounds rise as messages pass, and counts, peek and join stay right`, async () => {
      const file = join(dir, 'q.db');
      const q = await cls.open(file);
      const n = 1200; // more than one tightening (every 512 gets)
      await q.putMany(Array.from({ length: n }, (_, i) => i));
      const held = [];
      for (let i = 0; i < n - 2; i++) {
        const m = await q.get();
        if (i === 700) held.push(m);
        else await q.ack(m);
      }
      const raw = new Database(file, { readonly: true });
      const st = raw.prepare('SELECT low, ulow FROM pq_ack_state WHERE tbl = ?').get(table) as { low: number; ulow: number };
      expect(st.low).toBeGreaterThan(1000); // raised by the 1024th get
      expect(st.ulow).toBe(held[0].id); // the first unacked message then
      expect([await q.readyCount(), await q.unackCount(), await q.peek()]).toEqual([2, 1, n - 2]);
      // unackCount tightened: ulow stops at the held message, low at the first ready one
      expect(raw.prepare('SELECT low, ulow FROM pq_ack_state WHERE tbl = ?').get(table)).toEqual({ low: n - 1, ulow: held[0].id });
      expect(await q.join({ timeout: 0 })).toBe(false);
      for (const m of [held[0], await q.get(), await q.get()]) await q.ack(m);
      expect(await q.join({ timeout: 0 })).toBe(true);
      raw.close();
      await q.close();
    });

    it(`${cls.name}: a get and an ack of a 4 KiB message rewrite its row in place (no new overflow page, no freelist change)`, async () => {
      const file = join(dir, 'q.db');
      const q = await cls.open(file);
      const big = 'x'.repeat(4100); // past one page: the row has an overflow page
      await q.putMany(Array.from({ length: 60 }, () => big));
      const walFrames = (): number => (statSync(`${file}-wal`).size - 32) / (4096 + 24);
      const before = walFrames();
      const msgs = [];
      for (let i = 0; i < 50; i++) msgs.push(await q.get());
      const afterGets = walFrames();
      for (const m of msgs) await q.ack(m);
      const afterAcks = walFrames();
      // a get: the leaf (serial types) and the overflow page (the columns after data); an ack: the overflow page only.
      // A row that changed size would be written anew: a new overflow page, the old one freed, the freelist (4 per get).
      expect((afterGets - before) / 50).toBeLessThanOrEqual(2.1);
      expect((afterAcks - afterGets) / 50).toBeLessThanOrEqual(1.1);
      expect(msgs.map((m) => m.data === big)).not.toContain(false);
      await q.close();
    });

    it(`${cls.name}: a Python get of a row a closed Node holder once had makes it Python's (given back on the next open)`, async () => {
      const file = join(dir, 'q.db');
      const a = await cls.open(file);
      await a.put('m');
      const m = await a.get();
      const raw = new Database(file);
      raw.prepare(`UPDATE ${table} SET status = 1 WHERE _id = ?`).run(m.id); // Python's nack: pq_owner stays a's tag
      await a.close();
      raw.prepare(`UPDATE ${table} SET status = 2 WHERE _id = ?`).run(m.id); // Python's get
      expect(raw.prepare(`SELECT pq_owner FROM ${table} WHERE _id = ?`).pluck().get(m.id)).toBeNull();
      raw.close();
      const b = await cls.open(file);
      expect(await b.get({ block: false })).toEqual({ id: m.id, data: 'm', attempts: 2 });
      await b.close();
    });

    it(`${cls.name}: close gives back what the instance holds and leaves pq_holders; others go on`, async () => {
      const file = join(dir, 'q.db');
      const a = await cls.open(file);
      const b = await cls.open(file);
      await a.putMany(['x', 'y', 'z']);
      const x = await a.get();
      await a.get();
      await a.ack(x);
      const raw = new Database(file, { readonly: true });
      expect(raw.prepare('SELECT COUNT(*) FROM pq_holders').pluck().get()).toBe(2);
      await a.close();
      expect(raw.prepare('SELECT COUNT(*) FROM pq_holders').pluck().get()).toBe(1);
      expect([(await b.get()).data, (await b.get()).data, await b.unackCount()]).toEqual(['y', 'z', 2]);
      raw.close();
      await b.close();
    });
  }
});

describe('sqlite: a run of gets lets SQLite checkpoint its WAL', () => {
  for (const cls of SQLITE_CLASSES) {
    it(`${cls.name}: the WAL stays near SQLite's 1000-page checkpoint size through 3000 gets`, async () => {
      const file = join(dir, 'q.db');
      const q = await cls.open(file, { durability: 'normal' });
      for (let i = 0; i < 30; i++) await q.putMany(Array.from({ length: 100 }, (_, k) => ({ i: i * 100 + k })));
      let most = 0;
      for (let i = 0; i < 3000; i++) {
        const m = await q.get({ block: false });
        if (cls.ack) await q.ack(m);
        if (i % 50 === 0) most = Math.max(most, statSync(`${file}-wal`).size);
      }
      // 1000 pages of 4 KiB plus the frames of the commit that crossed it; without the checkpoint the WAL reached the
      // library's own 8 MiB truncation limit.
      expect(most).toBeLessThan(6 * 1024 * 1024);
      await q.close();
    });
  }
});
