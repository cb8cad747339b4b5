/**
 * The task suite's backends: every test of test/tasks/worker.test.ts and queue.test.ts runs on a SQLite file and, when
 * a server is available (`PG_URL`, set by test/setup/pg-global.ts), on PostgreSQL. On PostgreSQL each test gets
 * its own task queue name (its own tables), so tests never see each other's jobs.
 */
import { join } from 'node:path';
import pg from 'pg';
import * as tasks from '../../dist/esm/tasks.js';
import { PG_URL } from './classes.js';

export interface TaskBackend {
  name: 'sqlite' | 'postgres';
  /** The target of this test (a file in `dir`, or the server URL). */
  target(dir: string): string;
  /** Options with this test's queue name filled in (PostgreSQL), unless `o.name` is given. */
  options(o?: tasks.TaskQueueOptions): tasks.TaskQueueOptions;
  /** Runs one statement on the jobs table of queue `name` (`$table` in `sql`), for tests that tamper with rows. */
  exec(dir: string, sql: string, params: unknown[], name?: string): Promise<void>;
  /** Starts a fresh test (a new PostgreSQL queue name). */
  fresh(): void;
}

let seq = 0;
let current = 'default';

export const SQLITE_TASKS: TaskBackend = {
  name: 'sqlite',
  target: (dir) => join(dir, 't.db'),
  options: (o) => ({ ...o }),
  async exec(dir, sql, params, name = 'default') {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(join(dir, 't.db'));
    try {
      db.prepare(sql.replace('$table', `pq_tasks_${name}`).replace(/\$\d+/g, '?')).run(...params);
    } finally {
      db.close();
    }
  },
  fresh: () => undefined,
};

export const PG_TASKS: TaskBackend = {
  name: 'postgres',
  target: () => PG_URL!,
  options: (o) => ({ name: current, ...o }),
  async exec(_dir, sql, params, name = current) {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      await c.query(sql.replace('$table', `persist_queue."pq_tasks_${name}"`), params);
    } finally {
      await c.end();
    }
  },
  fresh: () => {
    current = `t${process.pid}_${++seq}_${Math.floor(Math.random() * 1e6)}`;
  },
};

/** The backends the task suite runs on here. */
export const TASK_BACKENDS: TaskBackend[] = PG_URL ? [SQLITE_TASKS, PG_TASKS] : [SQLITE_TASKS];
