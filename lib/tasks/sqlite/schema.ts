/**
 * The SQLite schema of a task queue `<name>` (version {@link TASK_SCHEMA_VERSION}). All names start with `pq_task`,
 * so they cannot collide with the queue tables (`queue_*`, `ack_queue_*`, `pq_*` side tables) in the same file.
 *
 * - `pq_tasks_<name>`: one row per job. `status` 0 ready (pending or scheduled by `run_at`), 1 running, 2 succeeded,
 *   3 failed, 4 cancelled. Times are epoch ms. `owner` is the claiming worker's owner token (lib/common/owner.ts),
 *   `attempts` the attempt number: together they fence every outcome write.
 * - `pq_task_schedules_<name>`: schedules; `next_run_at` is the compare-and-set point of a tick.
 * - `pq_task_paused_<name>`: paused task names (`'*'` = all).
 * - `pq_task_rate_<name>`: the current rate-limit window per task.
 * - `pq_task_schema`: schema version per queue name.
 *
 * Indexes: the claim reads `pq_taskready_<name>` (status 0 only, in claim order), the sweep `pq_taskrun_<name>`
 * (status 1), retention `pq_taskdone_<name>`, and `pq_taskkey_<name>` makes a key unique among unfinished jobs.
 *
 * @module
 * @internal
 */
import type Database from 'better-sqlite3';

/** Version of this schema; a file with a newer one is refused. */
export const TASK_SCHEMA_VERSION = 1;

/** Table names of a task queue. */
export interface TaskTables {
  jobs: string;
  schedules: string;
  paused: string;
  rate: string;
}

/** The quoted table names for queue `name` (already checked: letters, digits, `_`). */
export function taskTables(name: string): TaskTables {
  return {
    jobs: `"pq_tasks_${name}"`,
    schedules: `"pq_task_schedules_${name}"`,
    paused: `"pq_task_paused_${name}"`,
    rate: `"pq_task_rate_${name}"`,
  };
}

/** Creates the tables and indexes if missing. Call inside a write transaction. */
export function ensureTaskSchema(db: Database.Database, name: string): void {
  const t = taskTables(name);
  db.exec('CREATE TABLE IF NOT EXISTS pq_task_schema (name TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID');
  const row = db.prepare('SELECT version FROM pq_task_schema WHERE name = ?').get(name) as { version: number } | undefined;
  if (row && row.version > TASK_SCHEMA_VERSION) {
    throw new Error(`task queue ${name} has schema version ${row.version}; this library knows ${TASK_SCHEMA_VERSION}`);
  }
  db.exec(`CREATE TABLE IF NOT EXISTS ${t.jobs} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task TEXT NOT NULL,
    status INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    run_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER,
    owner TEXT,
    lease_until INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    backoff TEXT,
    timeout INTEGER,
    key TEXT,
    on_complete BLOB,
    error TEXT,
    progress BLOB,
    result BLOB,
    data BLOB)`);
  const ix = (n: string): string => `"pq_task${n}_${name}"`;
  db.exec(`CREATE INDEX IF NOT EXISTS ${ix('ready')} ON ${t.jobs} (priority, run_at, id) WHERE status = 0`);
  db.exec(`CREATE INDEX IF NOT EXISTS ${ix('run')} ON ${t.jobs} (owner) WHERE status = 1`);
  db.exec(`CREATE INDEX IF NOT EXISTS ${ix('done')} ON ${t.jobs} (status, finished_at) WHERE status >= 2`);
  db.exec(`CREATE UNIQUE INDEX IF NOT EXISTS ${ix('key')} ON ${t.jobs} (key) WHERE key IS NOT NULL AND status < 2`);
  db.exec(`CREATE TABLE IF NOT EXISTS ${t.schedules} (
    id TEXT PRIMARY KEY, task TEXT NOT NULL, cron TEXT, every INTEGER, tz TEXT NOT NULL, data BLOB,
    options TEXT NOT NULL, misfire TEXT NOT NULL, def TEXT NOT NULL, next_run_at INTEGER NOT NULL,
    last_run_at INTEGER) WITHOUT ROWID`);
  db.exec(`CREATE TABLE IF NOT EXISTS ${t.paused} (task TEXT PRIMARY KEY) WITHOUT ROWID`);
  db.exec(`CREATE TABLE IF NOT EXISTS ${t.rate} (task TEXT PRIMARY KEY, window_start INTEGER NOT NULL, count INTEGER NOT NULL) WITHOUT ROWID`);
  if (!row) db.prepare('INSERT INTO pq_task_schema (name, version) VALUES (?, ?)').run(name, TASK_SCHEMA_VERSION);
}
