/** SQLite-specific behaviour beyond the contract suite: row checksums. */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as lib from '../dist/esm/index.js';
import { caught, SQLITE_CLASSES, tempDir } from './helpers/classes.js';

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
        expect((await q.items()).map((i: { data: unknown }) => i.data)).toEqual(['good-1', 'good-2']);
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
