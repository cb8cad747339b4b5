// The raw better-sqlite3 ceiling of the task layer's claim/complete: the statements the library's SQLite task store
// runs for a no-op job (copied from lib/tasks/sqlite/claims.ts, see CLAIM/SUCCEED below), on the table the library
// creates, at the same pragmas (WAL, synchronous from durability, busy_timeout), with better-sqlite3 alone: no
// worker loop, no events, no timers. Jobs are enqueued through the library's own TaskQueue when the build has it
// (so the table is exactly the library's), else through a copy of its DDL and INSERT (schema version 1).
//
// Variants (each until the claim finds nothing or the time cap passes; N jobs):
//   sep/1   per job: BEGIN IMMEDIATE; paused check; claim 1; COMMIT — then BEGIN IMMEDIATE; succeed; COMMIT  (2 commits/job)
//   sep/16  per 16 jobs: one transaction claims 16, one transaction completes the 16                    (2 commits/16 jobs)
//   cyc/1   one transaction completes the previous job and claims the next (the library's worker "cycle") (1 commit/job)
//   cyc/16  one transaction completes the previous 16 and claims the next 16                             (1 commit/16 jobs)
import path from 'node:path';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { loadTasks } from './adapters/persist-queue.mjs';

const require = createRequire(import.meta.url);
const NAME = 'default';
const J = `"pq_tasks_${NAME}"`;
const SYNC = { full: 'FULL', normal: 'NORMAL', off: 'OFF' };

// ---- copied from the tasks branch (lib/tasks/sqlite/schema.ts, schema version 1) ----
const DDL = [
  'CREATE TABLE IF NOT EXISTS pq_task_schema (name TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID',
  `CREATE TABLE IF NOT EXISTS ${J} (id INTEGER PRIMARY KEY AUTOINCREMENT, task TEXT NOT NULL, status INTEGER NOT NULL,
    priority INTEGER NOT NULL, run_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER,
    owner TEXT, lease_until INTEGER, cancel_requested INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL,
    started_at INTEGER, finished_at INTEGER, backoff TEXT, timeout INTEGER, key TEXT, on_complete BLOB, error TEXT,
    progress BLOB, result BLOB, data BLOB)`,
  `CREATE INDEX IF NOT EXISTS "pq_taskready_${NAME}" ON ${J} (priority, run_at, id) WHERE status = 0`,
  `CREATE INDEX IF NOT EXISTS "pq_taskrun_${NAME}" ON ${J} (owner) WHERE status = 1`,
  `CREATE INDEX IF NOT EXISTS "pq_taskdone_${NAME}" ON ${J} (status, finished_at) WHERE status >= 2`,
  `CREATE UNIQUE INDEX IF NOT EXISTS "pq_taskkey_${NAME}" ON ${J} (key) WHERE key IS NOT NULL AND status < 2`,
  `CREATE TABLE IF NOT EXISTS "pq_task_paused_${NAME}" (task TEXT PRIMARY KEY) WITHOUT ROWID`,
];
const INSERT =
  `INSERT INTO ${J} (task, status, priority, run_at, max_attempts, created_at, backoff, timeout, key, on_complete, data) ` +
  'VALUES (?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
// ---- copied from the tasks branch (lib/tasks/sqlite/claims.ts: pausedStmt, claimStmt for one task, succeed) ----
const PAUSED = `SELECT task FROM "pq_task_paused_${NAME}"`;
const CLAIM_COLS =
  'id, task, data, status, priority, run_at, attempts, max_attempts, backoff, timeout, key, on_complete, created_at, ' +
  'started_at, finished_at, result, error, progress, owner, cancel_requested';
const CLAIM =
  `UPDATE ${J} SET status = 1, owner = ?, lease_until = ?, attempts = attempts + 1, started_at = ?, ` +
  `max_attempts = COALESCE(max_attempts, 3) WHERE id IN (SELECT id FROM ${J} ` +
  'WHERE status = 0 AND run_at <= ? AND task IN (?) ORDER BY priority, run_at, id LIMIT ?) ' +
  `RETURNING ${CLAIM_COLS}`;
const SUCCEED =
  `UPDATE ${J} SET status = 2, finished_at = ?, result = ?, owner = NULL, lease_until = NULL ` +
  'WHERE id = ? AND status = 1 AND attempts = ? AND owner = ? RETURNING id, task, status, on_complete';
// -------------------------------------------------------------------------------------------------------------

export const RAW_VARIANTS = [
  { id: 'sep/1', batch: 1, cycle: false, what: 'claim 1 in one transaction, complete it in another (2 commits per job)' },
  { id: 'sep/16', batch: 16, cycle: false, what: 'claim 16 in one transaction, complete the 16 in another (2 commits per 16 jobs)' },
  { id: 'cyc/1', batch: 1, cycle: true, what: 'one transaction completes the previous job and claims the next (1 commit per job)' },
  { id: 'cyc/16', batch: 16, cycle: true, what: 'one transaction completes the previous 16 and claims the next 16 (1 commit per 16 jobs)' },
];

function openDb(file, durability) {
  const Database = require('better-sqlite3');
  const db = new Database(file, { timeout: 10000 });
  db.pragma('busy_timeout = 10000');
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${SYNC[durability]}`);
  db.pragma('journal_size_limit = 67108864');
  return db;
}

/** Fills `file` with n no-op jobs; says how the table was made. */
async function fill(file, n, durability) {
  let lib = null;
  try {
    lib = await loadTasks();
  } catch {}
  if (lib) {
    const q = await lib.TaskQueue.open(file, { durability });
    for (let i = 0; i < n; i += 1000) {
      const batch = [];
      for (let k = i; k < Math.min(n, i + 1000); k++) batch.push({ task: 'noop', data: { i: k } });
      await q.enqueueMany(batch);
    }
    await q.close();
    return 'table made and filled by TaskQueue.enqueueMany';
  }
  const db = openDb(file, durability);
  for (const s of DDL) db.exec(s);
  const ins = db.prepare(INSERT);
  const now = Date.now();
  db.transaction(() => {
    for (let i = 0; i < n; i++) ins.run('noop', 0, now, null, now, null, null, null, null, Buffer.from(JSON.stringify({ i })));
  })();
  db.close();
  return 'table made by the bench\'s copy of the schema (the build has no task layer)';
}

/** One raw run: returns { rate, n, how }. */
export async function runRaw({ dir, n, durability, variant, capMs = Infinity }) {
  const v = RAW_VARIANTS.find((x) => x.id === variant);
  if (!v) throw new Error(`unknown raw variant ${variant}`);
  const file = path.join(dir, 'tasks.db');
  const how = await fill(file, n, durability);
  const db = openDb(file, durability);
  const names = new Set(db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).pluck().all());
  if (!names.has(`pq_tasks_${NAME}`)) throw new Error(`the library made no table pq_tasks_${NAME} (tables: ${[...names].join(', ')})`);
  const paused = db.prepare(PAUSED).pluck();
  const claim = db.prepare(CLAIM);
  const succeed = db.prepare(SUCCEED);
  const begin = db.prepare('BEGIN IMMEDIATE');
  const commit = db.prepare('COMMIT');
  const owner = `${process.pid}.0.0.rawceiling`;
  const result = Buffer.from('null');
  const LEASE = 30000;
  const claimTx = (now) => {
    if (paused.all().includes('*')) return [];
    const rows = claim.all(owner, now + LEASE, now, now, 'noop', v.batch);
    if (rows.length > 1) rows.sort((a, b) => a.priority - b.priority || a.run_at - b.run_at || a.id - b.id);
    for (const r of rows) JSON.parse(r.data.toString('utf8')); // the worker decodes what it hands the handler
    return rows;
  };
  const settle = (rows, now) => {
    for (const r of rows) {
      if (!succeed.get(now, result, r.id, r.attempts, owner)) throw new Error(`raw: lost claim on job ${r.id}`);
    }
  };
  let done = 0;
  let capped = false;
  const t0 = performance.now();
  const over = () => done % 256 < v.batch && performance.now() - t0 > capMs && (capped = true);
  if (!v.cycle) {
    for (;;) {
      if (over()) break;
      begin.run();
      const rows = claimTx(Date.now());
      commit.run();
      if (rows.length === 0) break;
      begin.run();
      settle(rows, Date.now());
      commit.run();
      done += rows.length;
    }
  } else {
    let held = [];
    for (;;) {
      begin.run();
      const now = Date.now();
      settle(held, now);
      done += held.length;
      held = over() ? [] : claimTx(now);
      commit.run();
      if (held.length === 0) break;
    }
  }
  const secs = (performance.now() - t0) / 1000;
  const left = db.prepare(`SELECT count(*) FROM ${J} WHERE status <> 2`).pluck().get();
  db.close();
  if (!capped && (done !== n || left !== 0)) throw new Error(`raw ${variant}: completed ${done} of ${n}, ${left} rows not succeeded`);
  if (capped && left !== n - done) throw new Error(`raw ${variant}: ${done} completed, but ${left} of ${n} rows not succeeded`);
  return { rate: done / secs, n: done, capped, how };
}
