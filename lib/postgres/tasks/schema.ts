/**
 * The PostgreSQL schema of a task queue `<name>` (version {@link PG_TASK_SCHEMA_VERSION}), in the queue schema
 * (`persist_queue` by default). The same tables as on SQLite (lib/tasks/sqlite/schema.ts), with `bigint` epoch-ms
 * times on the server's clock:
 *
 * - `pq_tasks_<name>`: one row per job. `status` 0 ready (pending or scheduled by `run_at`), 1 running, 2 succeeded,
 *   3 failed, 4 cancelled. `owner` + `attempts` fence every outcome write; `lease_until` is the claim's deadline.
 * - `pq_task_schedules_<name>`: schedules; `next_run_at` is the compare-and-set point of a tick.
 * - `pq_task_paused_<name>`: paused task names (`'*'` = all).
 * - `pq_task_rate_<name>`: the current rate-limit window per task (locked `FOR UPDATE` by a claim).
 * - `pq_task_schema`: schema version per task queue name.
 *
 * Indexes: claims read `pq_taskready_<name>` (status 0 only, in claim order), the lease sweep `pq_taskrun_<name>`
 * (status 1, by lease), retention `pq_taskdone_<name>`, and `pq_taskkey_<name>` makes a key unique among unfinished
 * jobs. Created once under a transaction-level advisory lock, so many hosts may open at the same moment.
 *
 * @module
 * @internal
 */
import type { Db } from '../db.js';
import { ident } from '../schema.js';

/** Version of this layout; a database with a newer one is refused. */
export const PG_TASK_SCHEMA_VERSION = 1;

/** The server's clock in epoch ms (never the client's). */
export const NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

/** Qualified, quoted table names of a task queue. */
export interface PgTaskTables {
  jobs: string;
  schedules: string;
  paused: string;
  rate: string;
}

/** Table names for queue `name` in `schema` (both already checked: letters, digits, `_`). */
export function pgTaskTables(schema: string, name: string): PgTaskTables {
  const s = ident(schema);
  return {
    jobs: `${s}.${ident(`pq_tasks_${name}`)}`,
    schedules: `${s}.${ident(`pq_task_schedules_${name}`)}`,
    paused: `${s}.${ident(`pq_task_paused_${name}`)}`,
    rate: `${s}.${ident(`pq_task_rate_${name}`)}`,
  };
}

/** Creates the schema, tables and indexes once (advisory lock); refuses a newer schema version. */
export async function ensurePgTaskSchema(db: Db, schema: string, name: string): Promise<void> {
  const s = ident(schema);
  const t = pgTaskTables(schema, name);
  const probe = await db.run<{ ok: boolean; version: number | null }>(
    `SELECT to_regclass($1) IS NOT NULL AS ok, ` +
      `(SELECT version FROM ${s}.pq_task_schema WHERE name = $2) AS version`,
    [`${s}.pq_task_schema`, name],
    'open failed',
  ).catch(() => [{ ok: false, version: null }]);
  const found = probe[0];
  if (found?.ok && found.version !== null) return checkVersion(found.version, name);
  await db.tx(async (q) => {
    await q('SELECT pg_advisory_xact_lock(hashtext($1))', [`persist_queue:${schema}`]);
    await q(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await q(`CREATE TABLE IF NOT EXISTS ${s}.pq_task_schema (name text PRIMARY KEY, version integer NOT NULL)`);
    const row = (await q(`SELECT version FROM ${s}.pq_task_schema WHERE name = $1`, [name]))[0] as { version: number } | undefined;
    if (row) return checkVersion(row.version, name);
    await q(`CREATE TABLE IF NOT EXISTS ${t.jobs} (
      id bigserial PRIMARY KEY, task text NOT NULL, status smallint NOT NULL, priority bigint NOT NULL,
      run_at bigint NOT NULL, attempts integer NOT NULL DEFAULT 0, max_attempts integer, owner text,
      lease_until bigint, cancel_requested smallint NOT NULL DEFAULT 0, created_at bigint NOT NULL,
      started_at bigint, finished_at bigint, backoff text, timeout integer, key text, on_complete bytea,
      error text, progress bytea, result bytea, data bytea)`);
    const ix = (n: string): string => ident(`pq_task${n}_${name}`);
    await q(`CREATE INDEX IF NOT EXISTS ${ix('ready')} ON ${t.jobs} (priority, run_at, id) WHERE status = 0`);
    await q(`CREATE INDEX IF NOT EXISTS ${ix('run')} ON ${t.jobs} (lease_until) WHERE status = 1`);
    await q(`CREATE INDEX IF NOT EXISTS ${ix('done')} ON ${t.jobs} (status, finished_at) WHERE status >= 2`);
    await q(`CREATE UNIQUE INDEX IF NOT EXISTS ${ix('key')} ON ${t.jobs} (key) WHERE key IS NOT NULL AND status < 2`);
    await q(`CREATE TABLE IF NOT EXISTS ${t.schedules} (
      id text PRIMARY KEY, task text NOT NULL, cron text, every bigint, tz text NOT NULL, data bytea,
      options text NOT NULL, misfire text NOT NULL, def text NOT NULL, next_run_at bigint NOT NULL, last_run_at bigint)`);
    await q(`CREATE TABLE IF NOT EXISTS ${t.paused} (task text PRIMARY KEY)`);
    await q(`CREATE TABLE IF NOT EXISTS ${t.rate} (task text PRIMARY KEY, window_start bigint NOT NULL, count integer NOT NULL)`);
    await q(`INSERT INTO ${s}.pq_task_schema (name, version) VALUES ($1, $2)`, [name, PG_TASK_SCHEMA_VERSION]);
  }, 'open failed');
}

function checkVersion(version: number, name: string): void {
  if (version > PG_TASK_SCHEMA_VERSION) {
    throw new Error(`task queue ${name} has schema version ${version}; this library knows ${PG_TASK_SCHEMA_VERSION}`);
  }
}
