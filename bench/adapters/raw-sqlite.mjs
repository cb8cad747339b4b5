// Raw ceiling: better-sqlite3 alone (the copy the library itself depends on), WAL,
// synchronous FULL or NORMAL, one statement per transaction — the least work any
// SQLite queue with the same schema and pragmas can do per item.
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export function loadBetterSqlite3() {
  const Database = require('better-sqlite3');
  const version = require('better-sqlite3/package.json').version;
  return { Database, version };
}

function open(dir, durability) {
  const { Database } = loadBetterSqlite3();
  const db = new Database(path.join(dir, 'raw.db'));
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${durability === 'full' ? 'FULL' : durability === 'off' ? 'OFF' : 'NORMAL'}`);
  db.pragma('busy_timeout = 10000');
  db.exec('CREATE TABLE IF NOT EXISTS t (_id INTEGER PRIMARY KEY AUTOINCREMENT, data BLOB, timestamp FLOAT)');
  const ins = db.prepare('INSERT INTO t(data, timestamp) VALUES (?,?)');
  const del = db.prepare('DELETE FROM t WHERE _id = (SELECT _id FROM t ORDER BY _id LIMIT 1) RETURNING data');
  const delMany = db.prepare(
    'DELETE FROM t WHERE _id IN (SELECT _id FROM t ORDER BY _id LIMIT ?) RETURNING data',
  );
  const insMany = db.transaction((items) => {
    for (const it of items) ins.run(Buffer.from(JSON.stringify(it)), Date.now() / 1000);
  });
  const decode = (buf) => JSON.parse(buf.toString('utf8'));
  // all(), not get(): better-sqlite3's get() resets a DELETE ... RETURNING statement before SQLite
  // reports it done, and SQLite runs its automatic checkpoint only from a step that reports done, so
  // a run of get()s never checkpoints and the WAL grows by a frame per item without bound (measured
  // at N=100k: 484 MiB), skipping the checkpoint work every real queue does.
  const take = () => del.all()[0];
  return {
    sync: true,
    put(item) {
      ins.run(Buffer.from(JSON.stringify(item)), Date.now() / 1000);
    },
    get() {
      const row = take();
      return row ? decode(row.data) : undefined;
    },
    tryGet(waitMs) {
      const row = take();
      if (row) return decode(row.data);
      if (waitMs) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.min(waitMs, 1));
      return undefined;
    },
    putMany(items) {
      insMany(items);
    },
    getMany(max) {
      return delMany.all(max).map((r) => decode(r.data));
    },
    close() {
      db.close();
    },
  };
}

export async function listSystems() {
  let reason = null;
  let version = null;
  try {
    version = loadBetterSqlite3().version;
  } catch (e) {
    reason = `better-sqlite3 not loadable: ${e.message.split('\n')[0]}`;
  }
  return ['full', 'normal'].map((durability) => ({
    id: `raw-sqlite/${durability}`,
    module: 'raw-sqlite',
    label: `better-sqlite3 raw (WAL, synchronous=${durability.toUpperCase()})`,
    kind: 'raw',
    backend: 'sqlite',
    durability,
    durabilityNote: `WAL + synchronous=${durability.toUpperCase()}, one statement per transaction`,
    promise: false,
    multiProcess: true,
    skip: reason,
    version,
  }));
}

export async function openSystem(sys, dir) {
  return open(dir, sys.durability);
}
