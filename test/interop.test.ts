/**
 * Interop with Python persist-queue: copies of the fixtures it made (../shared/interop/persist-queue-py/sqlite-json)
 * must read exactly as its README says, for every queue kind and both flavours; rows this library writes must have
 * the types Python reads (BLOB data, REAL timestamps), and a Python process (emulated with persist-queue's own SQL
 * statements, test/interop/pq_sql.py, since the package cannot be installed here) can share the file.
 */
import Database from 'better-sqlite3';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as lib from '../dist/esm/index.js';
import { caught, tempDir } from './helpers/classes.js';

// shared/ sits beside the repository (in CI too); PQ_INTEROP_FIXTURES points elsewhere.
const FIXTURES = process.env.PQ_INTEROP_FIXTURES ?? fileURLToPath(new URL('../../shared/interop/persist-queue-py/sqlite-json/', import.meta.url));
const PQ_SQL = fileURLToPath(new URL('./interop/pq_sql.py', import.meta.url));
const hasPython = spawnSync('python3', ['-c', 'import sqlite3, json'], { stdio: 'ignore' }).status === 0;
const hasFixtures = existsSync(join(FIXTURES, 'data.db'));

const dict = (i: number): unknown => ({ i, payload: 'xxxxxxxxxx', u: 'é', f: 1, n: null, l: [1, 2] });

function py(file: string, table: string, op: string, arg?: unknown): unknown {
  const args = [PQ_SQL, file, table, op];
  if (arg !== undefined) args.push(JSON.stringify(arg));
  return JSON.parse(execFileSync('python3', args, { encoding: 'utf8' }));
}

type Flavour = 'sync' | 'async';
const plain = (f: Flavour) => (f === 'sync' ? lib.SqliteQueueSync : lib.SqliteQueue);
const acks = (f: Flavour) => (f === 'sync' ? lib.SqliteAckQueueSync : lib.SqliteAckQueue);

it('finds the Python fixtures (only a local checkout without shared/ may skip them)', () => {
  if (process.env.CI) {
    expect(existsSync(join(FIXTURES, 'data.db')), FIXTURES).toBe(true);
    expect(hasPython, 'python3 with sqlite3').toBe(true);
  }
});

describe.skipIf(!hasFixtures)('Python persist-queue fixtures', () => {
  let dir: string;
  let cleanup: () => void;
  let db: string;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir('pq-interop-'));
    db = join(dir, 'data.db');
    copyFileSync(join(FIXTURES, 'data.db'), db);
  });
  afterEach(() => cleanup());

  for (const flavour of ['sync', 'async'] as const) {
    describe(flavour, () => {
      it('queue_default: 8 items, next is i=1, then the plain values', async () => {
        const q: any = await plain(flavour).open(db);
        expect(await q.size()).toBe(8);
        const got = [];
        for (let k = 0; k < 8; k++) got.push(await q.get({ block: false }));
        expect(got).toEqual([dict(1), dict(2), dict(3), dict(4), 'plain string', 42, [1, 'a'], null]);
        await q.close();
      });

      it('queue_nocommit: the item Python took without task_done is still there', async () => {
        const q: any = await plain(flavour).open(db, { name: 'nocommit', autoCommit: false });
        expect(await q.getMany(10)).toEqual([{ nc: 2 }, { nc: 3 }, { nc: 4 }]);
        await q.close();
      });

      it('filo_queue_default returns {"filo": 2} first', async () => {
        const q: any = await plain(flavour).open(db, { order: 'filo' });
        expect([await q.get(), await q.get()]).toEqual([{ filo: 2 }, { filo: 1 }]);
        await q.close();
      });

      it('unique_queue_default: 2 items; equal puts (any key order, non-ASCII) are dropped', async () => {
        const q: any = await plain(flavour).open(db, { unique: true });
        expect(await q.size()).toBe(2);
        expect(await q.put({ b: 2, a: 1 })).toBeNull();
        expect(await q.put('é')).toBeNull();
        expect(await q.put({ a: 1, b: 3 })).toBeTypeOf('number');
        expect([await q.get(), await q.get(), await q.get()]).toEqual([{ a: 1, b: 2 }, 'é', { a: 1, b: 3 }]);
        await q.close();
      });

      it('priority_queue_default returns high, mid, low', async () => {
        const q: any = await plain(flavour).open(db, { order: 'priority' });
        expect([await q.get(), await q.get(), await q.get()]).toEqual(['high', 'mid', 'low']);
        await q.close();
      });

      it('ack_queue_default: statuses as Python left them; its unacked a2 is resumed, as Python does on open', async () => {
        const q: any = await acks(flavour).open(db);
        expect(await q.ackedCount()).toBe(1);
        expect(await q.ackFailedCount()).toBe(1);
        expect(await q.unackCount()).toBe(0);
        expect(await q.readyCount()).toBe(4);
        const items = (await q.items()).map((i: any) => [i.data, i.status]);
        expect(items).toEqual([['a1', 'acked'], ['a2', 'ready'], ['a3', 'failed'], ['a4', 'ready'], ['a5', 'ready'], ['a6', 'ready']]);
        const m = await q.get();
        expect(m).toMatchObject({ id: 2, data: 'a2', attempts: 1 });
        expect(await q.ack(m)).toBe(true);
        expect((await q.get()).data).toBe('a4');
        await q.close();
      });

      it('ack_filo_queue_default and ack_unique_queue_default', async () => {
        const f: any = await acks(flavour).open(db, { order: 'filo' });
        expect((await f.get()).data).toBe('fa');
        await f.close();
        const u: any = await acks(flavour).open(db, { unique: true });
        expect(await u.size()).toBe(1);
        expect(await u.put({ z: 1 })).toBeNull();
        expect((await u.get()).data).toEqual({ z: 1 });
        await u.close();
      });

      it('custom.db: queue "jobs"', async () => {
        const custom = join(dir, 'custom.db');
        copyFileSync(join(FIXTURES, 'custom.db'), custom);
        const q: any = await plain(flavour).open(custom, { name: 'jobs' });
        expect(await q.get({ block: false })).toEqual({ job: 1 });
        await q.close();
      });
    });
  }

  it('leaves tables it does not use alone, and adds only columns with defaults', async () => {
    const q = lib.SqliteAckQueueSync.open(db);
    q.close();
    const raw = new Database(db, { readonly: true });
    const cols = raw.prepare('PRAGMA table_info(ack_queue_default)').all() as { name: string; dflt_value: unknown; notnull: number }[];
    for (const c of cols.filter((c) => c.name.startsWith('pq_'))) expect(c.notnull === 0 || c.dflt_value !== null).toBe(true);
    expect(raw.prepare('SELECT COUNT(*) FROM dict_mydict').pluck().get()).toBe(1);
    expect(raw.prepare('SELECT sql FROM sqlite_master WHERE name = ?').pluck().get('queue_default')).toBe(
      'CREATE TABLE `queue_default` (_id INTEGER PRIMARY KEY AUTOINCREMENT, data BLOB, timestamp FLOAT)',
    );
    raw.close();
  });

  it('rejects a pickled (non-JSON) item with SerializationError and keeps it', async () => {
    const raw = new Database(db);
    raw.exec("CREATE TABLE `queue_pickled` (_id INTEGER PRIMARY KEY AUTOINCREMENT, data BLOB, timestamp FLOAT)");
    raw.prepare('INSERT INTO queue_pickled (data, timestamp) SELECT data, 0 FROM dict_mydict').run();
    raw.close();
    const q = lib.SqliteQueueSync.open(db, { name: 'pickled' });
    expect((await caught(() => q.get({ block: false }))).code).toBe('ERR_QUEUE_SERIALIZATION');
    expect(q.size()).toBe(1);
    q.close();
  });
});

describe.skipIf(!hasPython)('sharing a file with a Python process', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir('pq-interop-')));
  afterEach(() => cleanup());

  it('rows written by Node have BLOB data and REAL timestamps, and Python reads them', () => {
    const file = join(dir, 'shared.db');
    const q = lib.SqliteQueueSync.open(file, { durability: 'normal' });
    q.putMany([{ from: 'node', u: 'é' }, 7, 'text']);
    const rows = py(file, 'queue_default', 'rows') as [number, string, string, unknown][];
    expect(rows.map((r) => [r[1], r[2]])).toEqual([['blob', 'real'], ['blob', 'real'], ['blob', 'real']]);
    expect(py(file, 'queue_default', 'get')).toEqual({ from: 'node', u: 'é' });
    expect(q.get()).toBe(7);
    q.close();
  });

  it('Python puts while Node consumes, plain and ack, including after Node added its columns', async () => {
    const file = join(dir, 'shared.db');
    const q = await lib.SqliteQueue.open(file);
    const pending = q.get({ timeout: 10_000 });
    py(file, 'queue_default', 'put', { from: 'python', u: 'é' });
    expect(await pending).toEqual({ from: 'python', u: 'é' });
    await q.close();

    const a = lib.SqliteAckQueueSync.open(file);
    py(file, 'ack_queue_default', 'put_ack', 'py-ack');
    a.put('node-ack');
    const m = a.get();
    expect(m.data).toBe('py-ack');
    a.ack(m);
    expect(py(file, 'ack_queue_default', 'get_ack')).toEqual([2, 'node-ack']);
    expect(a.unackCount()).toBe(1);
    // held by the Python consumer: not handed to Node while this queue stays open
    expect((await caught(() => a.get({ block: false }))).code).toBe('ERR_QUEUE_EMPTY');
    a.close();
  });

  it("unique queues: Node's canonical JSON matches Python's sort_keys bytes", () => {
    const file = join(dir, 'shared.db');
    const q = lib.SqliteQueueSync.open(file, { unique: true });
    expect(py(file, 'unique_queue_default', 'put_unique', { b: [1, { d: 'ü', c: null }], a: 'é😀' })).toBeTypeOf('number');
    expect(q.put({ a: 'é😀', b: [1, { c: null, d: 'ü' }] })).toBeNull();
    q.put({ z: 1.5e-7, y: true });
    expect(py(file, 'unique_queue_default', 'put_unique', { y: true, z: 1.5e-7 })).toBeNull();
    expect(q.size()).toBe(2);
    q.close();
  });
});
