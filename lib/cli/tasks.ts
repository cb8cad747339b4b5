/**
 * `persist-queue tasks list|show|counts|schedules|retry|cancel|purge` on the task queues of a SQLite file or of a
 * PostgreSQL schema. Reading subcommands (list, show, counts, schedules) query the documented task tables (schema
 * version 1, docs/tasks.md; the same columns on both backends) through a {@link TaskSource}: a read-only SQLite
 * connection, or a read-only PostgreSQL session. Rows become `Job`s through the task layer's own decoding
 * (TaskCore.toJob, json serializer). Opening a task queue would write (it creates missing tables), so reading never
 * goes through it. Writing subcommands (retry, cancel, purge) use the public `TaskQueueSync` (SQLite) or `TaskQueue`
 * (PostgreSQL), after checking that the task queue exists (they never create one). Internal to the CLI.
 */
import type Database from 'better-sqlite3';
import { TaskCore, statusName } from '../tasks/core.js';
import { resolveTaskOptions } from '../tasks/options.js';
import { TaskQueue, TaskQueueSync } from '../tasks/queue.js';
import { jobRow, scheduleRow, UNSHIFTED } from '../postgres/tasks/rows.js';
import { scheduleInfo } from '../tasks/schedule.js';
import { taskTables, TASK_SCHEMA_VERSION } from '../tasks/sqlite/schema.js';
import type { JobRow, ScheduleRow } from '../tasks/store.js';
import type { Job, JobStatus } from '../tasks/types.js';
import { ago, out, paint, problem, short, table, usageError, when } from './output.js';
import { needPg, reading, type PgReader, type PgTarget } from './pg-target.js';
import * as S from './sqlite-target.js';

export const TASK_SUBCOMMANDS = ['list', 'show', 'counts', 'schedules', 'retry', 'cancel', 'purge'] as const;
const STATUSES: JobStatus[] = ['pending', 'scheduled', 'running', 'succeeded', 'failed', 'cancelled'];
const FINISHED = ['succeeded', 'failed', 'cancelled'] as const;

export interface TaskOpts {
  json: boolean;
  /** undefined: the only task queue of the file, else "default". */
  queue: string | undefined;
  status: string | undefined;
  task: string | undefined;
  n: number;
  after: number;
  olderThan: number;
}

type Counts = Record<JobStatus, number>;

/**
 * Reads the task tables of one target. `all` runs a query with `?` placeholders in which `{jobs}` and `{schedules}`
 * name the tables of task queue `name`.
 */
export interface TaskSource {
  queues(): Promise<{ name: string; version: number }[]>;
  all(name: string, sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  job(r: Record<string, unknown>): JobRow;
  schedule(r: Record<string, unknown>): ScheduleRow;
}

const QUEUES_SQL = 'SELECT name, version FROM pq_task_schema ORDER BY name';
const COUNTS_SQL = 'SELECT task, status, run_at > ? AS later, count(*) AS n FROM {jobs} GROUP BY task, status, later ORDER BY task';
const OLDEST_SQL = 'SELECT min(created_at) AS m FROM {jobs} WHERE status < 2';
const SCHEDULES_SQL = 'SELECT count(*) AS n FROM {schedules}';

/** A task source on a SQLite connection (read-only). */
export function sqliteSource(db: Database.Database): TaskSource {
  const sql = (name: string, text: string): string => {
    const t = taskTables(name);
    return text.replace('{jobs}', t.jobs).replace('{schedules}', t.schedules);
  };
  return {
    queues: async () => taskQueues(db),
    all: async (name, text, params = []) => db.prepare(sql(name, text)).all(...params) as Record<string, unknown>[],
    job: (r) => r as unknown as JobRow,
    schedule: (r) => r as unknown as ScheduleRow,
  };
}

/** A task source on a read-only PostgreSQL session (bigint columns come as strings: converted as the store does). */
export function pgSource(r: PgReader, t: PgTarget): TaskSource {
  const s = `"${t.schema}"`;
  return {
    queues: async () => {
      const has = await r.q<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [`${s}.pq_task_schema`]);
      return has[0]?.ok ? r.q<{ name: string; version: number }>(QUEUES_SQL.replace('pq_task_schema', `${s}.pq_task_schema`)) : [];
    },
    all: (name, text, params = []) => {
      let i = 0;
      const sql = text
        .replace('{jobs}', `${s}."pq_tasks_${name}"`)
        .replace('{schedules}', `${s}."pq_task_schedules_${name}"`)
        .replace(/\?/g, () => `$${++i}`);
      return r.q(sql, params);
    },
    job: (row) => jobRow(row, UNSHIFTED),
    schedule: (row) => scheduleRow(row, 0),
  };
}

/** Task queues of the file (name and schema version), from `pq_task_schema`. */
export function taskQueues(db: Database.Database): { name: string; version: number }[] {
  if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pq_task_schema'").get() === undefined) return [];
  return db.prepare(QUEUES_SQL).all() as { name: string; version: number }[];
}

/** Status counts of a task queue, per task and in total (as `TaskQueue.counts()` computes them). */
export type TaskCounts = { total: Counts; tasks: Record<string, Counts>; oldest: number | null; schedules: number };

function countsOf(rows: Record<string, unknown>[], oldest: unknown, schedules: unknown, now: number): TaskCounts {
  const zero = (): Counts => ({ pending: 0, scheduled: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 });
  const total = zero();
  const tasks: Record<string, Counts> = {};
  for (const r of rows) {
    const s = statusName(Number(r.status) as JobRow['status'], r.later ? now + 1 : now, now);
    const n = Number(r.n);
    total[s] += n;
    (tasks[r.task as string] ??= zero())[s] += n;
  }
  return { total, tasks, oldest: oldest === null || oldest === undefined ? null : Number(oldest), schedules: Number(schedules) };
}

/** Status counts of a SQLite task queue (synchronous: info and watch). */
export function taskCounts(db: Database.Database, name: string, now = Date.now()): TaskCounts {
  const t = taskTables(name);
  const sql = (text: string): string => text.replace('{jobs}', t.jobs).replace('{schedules}', t.schedules);
  const rows = db.prepare(sql(COUNTS_SQL)).all(now) as Record<string, unknown>[];
  return countsOf(rows, db.prepare(sql(OLDEST_SQL)).pluck().get(), db.prepare(sql(SCHEDULES_SQL)).pluck().get(), now);
}

/** Status counts of a task queue from any source. */
export async function sourceCounts(src: TaskSource, name: string, now = Date.now()): Promise<TaskCounts> {
  const rows = await src.all(name, COUNTS_SQL, [now]);
  const oldest = (await src.all(name, OLDEST_SQL))[0]?.m;
  const schedules = (await src.all(name, SCHEDULES_SQL))[0]?.n;
  return countsOf(rows, oldest, schedules, now);
}

async function pickQueue(src: TaskSource, wanted: string | undefined, where: string): Promise<string> {
  const qs = await src.queues();
  const name = wanted ?? (qs.length === 1 ? qs[0]!.name : 'default');
  const q = qs.find((x) => x.name === name);
  if (q === undefined) throw problem(`no task queue "${name}" in ${where}; it holds: ${qs.map((x) => x.name).join(', ') || 'no task queues'}`);
  if (q.version > TASK_SCHEMA_VERSION) throw problem(`task queue "${name}" has schema version ${q.version}; this persist-queue knows ${TASK_SCHEMA_VERSION}`);
  return name;
}

const core = new TaskCore(resolveTaskOptions({}, 'persist-queue tasks'));

/** A row as a Job; data that the json serializer cannot decode shows as a marker instead of failing the listing. */
function toJob(row: JobRow, now: number): Job {
  try {
    return core.toJob(row, now);
  } catch {
    const safe = { ...row, data: Buffer.from('null'), result: null, progress: null };
    return { ...core.toJob(safe, now), data: `<not JSON: ${row.data?.length ?? 0} bytes>` };
  }
}

function ids(args: string[]): number[] {
  if (args.length === 0) throw usageError('give one or more job ids');
  return args.map((a) => {
    if (!/^\d+$/.test(a) || Number(a) < 1) throw usageError(`job id must be a positive integer (got "${a}")`);
    return Number(a);
  });
}

function statusFilter(s: string | undefined): JobStatus | undefined {
  if (s === undefined) return undefined;
  if (!(STATUSES as string[]).includes(s)) throw usageError(`--status must be one of ${STATUSES.join(', ')} (got "${s}")`);
  return s as JobStatus;
}

const clip = (s: string, max: number): string => (s.length > max ? s.slice(0, max - 1) + '…' : s);
const attemptsOf = (j: Job): string => `${j.attempts}/${j.maxAttempts}`;
const colourStatus = (s: JobStatus): string =>
  paint(s === 'failed' ? 'red' : s === 'succeeded' ? 'green' : s === 'running' ? 'cyan' : s === 'cancelled' ? 'dim' : 'yellow', s);

/** Where the task queues are: a SQLite file or a PostgreSQL schema. */
export type TaskTarget = { type: 'sqlite'; path: string } | PgTarget;

/** Runs a `tasks` subcommand; resolves to the exit code. */
export async function tasksCmd(sub: string, target: TaskTarget, o: TaskOpts, args: string[]): Promise<number> {
  if (!(TASK_SUBCOMMANDS as readonly string[]).includes(sub)) throw usageError(`tasks: unknown subcommand "${sub}" (${TASK_SUBCOMMANDS.join(', ')})`);
  // purge takes only the finished statuses: say those (write() checks them), not every status
  const status = sub === 'purge' ? undefined : statusFilter(o.status);
  const now = Date.now();
  let name = '';
  const run = async (src: TaskSource, where: string): Promise<number | undefined> => {
    name = await pickQueue(src, o.queue, where);
    return readSub(sub, src, name, o, args, status, now);
  };
  let code: number | undefined;
  if (target.type === 'postgres') code = await reading(target, (r) => run(pgSource(r, target), `schema ${target.schema}`));
  else {
    const db = S.openReadOnly(target.path);
    try {
      code = await run(sqliteSource(db), 'this file');
    } finally {
      db.close();
    }
  }
  return code ?? write(sub, target, name, o, args);
}

/** A reading subcommand's output and exit code; undefined for a writing subcommand. */
async function readSub(sub: string, src: TaskSource, name: string, o: TaskOpts, args: string[], status: JobStatus | undefined, now: number): Promise<number | undefined> {
  switch (sub) {
    case 'list': {
      if (args.length > 0) throw usageError(`tasks list: unexpected argument "${args[0]}"`);
      const where = ['id > ?'];
      const params: unknown[] = [o.after];
      if (status !== undefined) {
        where.push('status = ?');
        params.push(status === 'pending' || status === 'scheduled' ? 0 : STATUSES.indexOf(status) - 1);
        if (status === 'pending' || status === 'scheduled') {
          where.push(status === 'pending' ? 'run_at <= ?' : 'run_at > ?');
          params.push(now);
        }
      }
      if (o.task !== undefined) {
        where.push('task = ?');
        params.push(o.task);
      }
      const rows = await src.all(name, `SELECT * FROM {jobs} WHERE ${where.join(' AND ')} ORDER BY id LIMIT ?`, [...params, o.n]);
      const jobs = rows.map((r) => toJob(src.job(r), now));
      if (o.json) return jobs.forEach((j) => out(JSON.stringify(j))), 0;
      if (jobs.length === 0) return out('(no jobs)'), 0;
      out(
        table(
          ['id', 'task', 'status', 'attempts', 'prio', 'run at', 'created', 'data / error'],
          jobs.map((j) => [String(j.id), j.task, colourStatus(j.status), attemptsOf(j), String(j.priority), when(j.runAt.getTime(), now), ago(j.createdAt.getTime(), now), j.error ? paint('red', clip(`${j.error.name}: ${j.error.message}`, 50)) : short(j.data, 50)]),
          [0, 3, 4],
        ),
      );
      return 0;
    }
    case 'show': {
      const [id] = ids(args);
      if (args.length > 1) throw usageError('tasks show: give one job id');
      const row = (await src.all(name, 'SELECT * FROM {jobs} WHERE id = ?', [id]))[0];
      if (row === undefined) throw problem(`no job ${id} in task queue "${name}"`);
      const j = toJob(src.job(row), now);
      if (o.json) return out(JSON.stringify(j)), 0;
      const lines: [string, string][] = [
        ['id', String(j.id)],
        ['task', j.task],
        ['status', colourStatus(j.status)],
        ['attempts', attemptsOf(j)],
        ['priority', String(j.priority)],
        ['created', `${j.createdAt.toISOString()} (${ago(j.createdAt.getTime(), now)})`],
        ['run at', `${j.runAt.toISOString()} (${when(j.runAt.getTime(), now)})`],
      ];
      if (j.startedAt) lines.push(['started', `${j.startedAt.toISOString()} (${ago(j.startedAt.getTime(), now)})`]);
      if (j.finishedAt) lines.push(['finished', `${j.finishedAt.toISOString()} (${ago(j.finishedAt.getTime(), now)})`]);
      if (j.key !== undefined) lines.push(['key', j.key]);
      lines.push(['data', JSON.stringify(j.data)]);
      if (j.progress !== undefined) lines.push(['progress', JSON.stringify(j.progress)]);
      if (j.result !== undefined) lines.push(['result', JSON.stringify(j.result)]);
      if (j.error) lines.push(['error', paint('red', `${j.error.name}${j.error.code ? ` [${j.error.code}]` : ''}: ${j.error.message}`)]);
      const w = Math.max(...lines.map((l) => l[0].length));
      for (const [k, v] of lines) out(`${k.padEnd(w)}  ${v}`);
      if (j.error?.stack) out(paint('dim', j.error.stack.split('\n').map((l) => '  ' + l).join('\n')));
      return 0;
    }
    case 'counts': {
      if (args.length > 0) throw usageError(`tasks counts: unexpected argument "${args[0]}"`);
      const c = await sourceCounts(src, name, now);
      const tasks = o.task === undefined ? c.tasks : { [o.task]: c.tasks[o.task] ?? { pending: 0, scheduled: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 } };
      const total = o.task === undefined ? c.total : tasks[o.task]!;
      if (o.json) return out(JSON.stringify({ queue: name, counts: total, tasks })), 0;
      const rows = Object.entries(tasks).map(([k, v]) => [k, ...STATUSES.map((s) => String(v[s]))]);
      if (o.task === undefined) rows.push([paint('bold', 'all'), ...STATUSES.map((s) => String(total[s]))]);
      out(table(['task', ...STATUSES], rows, [1, 2, 3, 4, 5, 6]));
      return 0;
    }
    case 'schedules': {
      if (args.length > 0) throw usageError(`tasks schedules: unexpected argument "${args[0]}"`);
      const rows = (await src.all(name, 'SELECT * FROM {schedules} ORDER BY id')).map((r) => scheduleInfo(src.schedule(r)));
      if (o.json) return out(JSON.stringify({ queue: name, schedules: rows })), 0;
      if (rows.length === 0) return out('(no schedules)'), 0;
      out(
        table(
          ['id', 'task', 'when', 'tz', 'next', 'last'],
          rows.map((s) => [s.id, s.task, s.cron ?? `every ${s.every} ms`, s.tz, when(s.nextRunAt.getTime(), now), s.lastRunAt ? ago(s.lastRunAt.getTime(), now) : '-']),
        ),
      );
      return 0;
    }
  }
  return undefined;
}

/** The task queue, opened with the library for a writing subcommand (the Promise class on PostgreSQL). */
type Writer = { retry(id: number): boolean | Promise<boolean>; cancel(id: number): boolean | Promise<boolean>; purge(o: { status: (typeof FINISHED)[number]; olderThan: number }): number | Promise<number>; close(): void | Promise<void> };

async function write(sub: string, target: TaskTarget, name: string, o: TaskOpts, args: string[]): Promise<number> {
  if (sub === 'purge') {
    if (args.length > 0) throw usageError(`tasks purge: unexpected argument "${args[0]}"`);
    if (o.status === undefined || !(FINISHED as readonly string[]).includes(o.status)) {
      throw usageError(`tasks purge: --status must be one of ${FINISHED.join(', ')}${o.status === undefined ? '' : ` (got "${o.status}")`}`);
    }
  }
  const list = sub === 'purge' ? [] : ids(args);
  const q: Writer = target.type === 'postgres' ? await needPg(() => TaskQueue.open(target.url, { name, schema: target.schema })) : TaskQueueSync.open(target.path, { name });
  try {
    if (sub === 'purge') {
      const n = await q.purge({ status: o.status as (typeof FINISHED)[number], olderThan: o.olderThan });
      if (o.json) out(JSON.stringify({ purged: n }));
      else out(`purged ${n} ${o.status} job(s)`);
      return 0;
    }
    const done: number[] = [];
    const refused: number[] = [];
    for (const id of list) ((await (sub === 'retry' ? q.retry(id) : q.cancel(id))) ? done : refused).push(id);
    const verb = sub === 'retry' ? 'retried' : 'cancelled';
    if (o.json) out(JSON.stringify({ [verb]: done, refused }));
    else {
      if (done.length > 0) out(`${verb} ${done.join(' ')}`);
      const why = sub === 'retry' ? 'not failed or cancelled (or its key is taken)' : 'already finished or not found';
      if (refused.length > 0) out(paint('yellow', `not ${verb}: ${refused.join(' ')} (${why})`));
    }
    return refused.length > 0 ? 1 : 0;
  } finally {
    await q.close();
  }
}
