/** TaskQueue / TaskQueueSync: jobs, inspection, management and bad input, on real SQLite files. */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as tasks from '../../dist/esm/tasks.js';
import { caught, tempDir } from '../helpers/classes.js';
import { PG_TASKS, TASK_BACKENDS } from '../helpers/task-backends.js';

const { TaskQueue, TaskQueueSync } = tasks;
let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir('pq-tasks-')));
afterEach(() => cleanup());

type AnyQueue = tasks.TaskQueue | tasks.TaskQueueSync;
interface Flavour {
  name: string;
  pg?: boolean;
  open: (file: string, o?: tasks.TaskQueueOptions) => Promise<AnyQueue>;
  /** Rows in the task queue's table `pq_tasks` or `pq_task_schedules`. */
  rows: (file: string, table?: string) => Promise<number>;
}

async function sqliteRows(file: string, table = 'pq_tasks'): Promise<number> {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare(`SELECT COUNT(*) AS n FROM ${table}_default`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

const FLAVOURS: Flavour[] = [
  { name: 'TaskQueue', open: (f, o) => TaskQueue.open(f, o), rows: sqliteRows },
  { name: 'TaskQueueSync', open: async (f, o) => TaskQueueSync.open(f, o), rows: sqliteRows },
];
if (TASK_BACKENDS.includes(PG_TASKS)) {
  FLAVOURS.push({
    name: 'TaskQueue on PostgreSQL',
    pg: true,
    open: (f, o) => TaskQueue.open(PG_TASKS.target(f), PG_TASKS.options(o)),
    rows: async (f, table = 'pq_tasks') => {
      let n = -1;
      await PG_TASKS.exec(f, `SELECT 1`, []); // connection check
      const { default: pg } = await import('pg');
      const c = new pg.Client({ connectionString: PG_TASKS.target(f) });
      await c.connect();
      try {
        n = Number((await c.query(`SELECT count(*) AS n FROM persist_queue."${table}_${PG_TASKS.options().name}"`)).rows[0].n);
      } finally {
        await c.end();
      }
      return n;
    },
  });
}

for (const F of FLAVOURS) {
  describe(F.name, () => {
    beforeEach(() => PG_TASKS.fresh());
    it('enqueue/getJob: stores data, options and defaults; ids grow', async () => {
      const q = await F.open(join(dir, 't.db'));
      const before = Date.now();
      const a = await q.enqueue('email', { to: 'x@y.z' });
      const b = await q.enqueue('email', [1, 2], { priority: -5, delay: 60_000, maxAttempts: 7, timeout: 100, key: 'k1' });
      expect(b).toBeGreaterThan(a);
      const ja = (await q.getJob(a))!;
      expect(ja).toMatchObject({ id: a, task: 'email', data: { to: 'x@y.z' }, status: 'pending', priority: 0, attempts: 0, maxAttempts: 3 });
      expect(ja.createdAt).toBeInstanceOf(Date);
      expect(ja.runAt.getTime()).toBeGreaterThanOrEqual(before);
      const jb = (await q.getJob(b))!;
      expect(jb).toMatchObject({ status: 'scheduled', priority: -5, maxAttempts: 7, key: 'k1', data: [1, 2] });
      expect(jb.runAt.getTime()).toBeGreaterThanOrEqual(before + 60_000);
      expect(await q.getJob(9999)).toBeUndefined();
      await q.close();
    });

    it('key: while an unfinished job holds the key, enqueue returns its id; after it finished, a new job', async () => {
      const q = await F.open(join(dir, 't.db'));
      const a = await q.enqueue('sync', 1, { key: 'user-7' });
      expect(await q.enqueue('sync', 2, { key: 'user-7' })).toBe(a);
      expect(await q.cancel(a)).toBe(true);
      const c = await q.enqueue('sync', 3, { key: 'user-7' });
      expect(c).not.toBe(a);
      expect((await q.getJob(c))!.data).toBe(3);
      await q.close();
    });

    it('enqueueMany: one commit, ids in order; a bad item writes nothing', async () => {
      const file = join(dir, 't.db');
      const q = await F.open(file);
      const ids = await q.enqueueMany([{ task: 'a', data: 1 }, { task: 'b', data: 2, options: { priority: 1 } }, { task: 'a' }]);
      expect(ids).toHaveLength(3);
      expect((await q.getJob(ids[2]!))!.data).toBeNull();
      const bad = await caught(() => q.enqueueMany([{ task: 'a', data: 1 }, { task: 'a', data: { f: () => 1 } }]));
      expect(bad.code).toBe('ERR_QUEUE_SERIALIZATION');
      expect(bad.message).toContain('jobs[1]');
      const bad2 = await caught(() => q.enqueueMany([{ task: 'a' }, { task: 'a', options: { priorty: 1 } } as never]));
      expect(bad2).toBeInstanceOf(TypeError);
      expect(bad2.message).toContain('priorty');
      expect(bad2.message).toContain('priority');
      expect(await F.rows(file)).toBe(3);
      await q.close();
    });

    it('call order: enqueueMany() commits after the enqueue() calls made before it; reads see the enqueues called before them', async () => {
      const q = await F.open(join(dir, 't.db'));
      const calls: Promise<number | number[]>[] = [];
      for (let i = 0; i < 20; i++) calls.push(Promise.resolve(q.enqueue('t', i)));
      const counted = Promise.resolve(q.counts());
      calls.push(Promise.resolve(q.enqueueMany([{ task: 't', data: 20 }, { task: 't', data: 21 }])));
      calls.push(Promise.resolve(q.enqueue('t', 22)));
      const listed = Promise.resolve(q.list({ task: 't' }));
      const ids = (await Promise.all(calls)).flat();
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
      expect((await counted).pending).toBeGreaterThanOrEqual(20); // later calls may share the commit it waited for
      expect((await listed).map((j) => j.data)).toEqual(Array.from({ length: 23 }, (_, i) => i));
      await q.close();
    });

    it('bad input: typed errors naming the problem, nothing written', async () => {
      const file = join(dir, 't.db');
      const q = await F.open(file);
      const cases: [() => unknown, string, string][] = [
        [() => q.enqueue('', 1), 'ERR_INVALID_ARG_VALUE', 'task'],
        [() => q.enqueue(5 as never, 1), 'ERR_INVALID_ARG_TYPE', 'task'],
        [() => q.enqueue('t', 10n), 'ERR_QUEUE_SERIALIZATION', 'JSON'],
        [() => q.enqueue('t', 1, { delay: -1 }), 'ERR_OUT_OF_RANGE', 'delay'],
        [() => q.enqueue('t', 1, { delay: 1, runAt: 5 }), 'ERR_INVALID_ARG_VALUE', 'runAt'],
        [() => q.enqueue('t', 1, { runAt: new Date('nope') }), 'ERR_OUT_OF_RANGE', 'runAt'],
        [() => q.enqueue('t', 1, { runAt: 8.64e15 + 1 }), 'ERR_OUT_OF_RANGE', 'range of a Date'],
        [() => q.enqueue('t', 1, { runAt: Number.MAX_SAFE_INTEGER }), 'ERR_OUT_OF_RANGE', 'runAt'],
        [() => q.enqueue('t', 1, { delay: Number.MAX_SAFE_INTEGER }), 'ERR_OUT_OF_RANGE', 'largest Date'],
        // an option inside an option, or of an enqueueMany item, is named with its parents
        [() => q.enqueue('t', 1, { backoff: { type: 'fixed', delay: -1 } }), 'ERR_OUT_OF_RANGE', '"backoff.delay"'],
        [() => q.enqueueMany([{ task: 't' }, { task: 't', options: { priority: 1.5 } }]), 'ERR_OUT_OF_RANGE', '"jobs[1].options.priority"'],
        // a hole in the array is jobs[1], not an internal TypeError (Array#map skips holes)
        // eslint-disable-next-line no-sparse-arrays
        [() => q.enqueueMany([{ task: 't' }, , { task: 't' }] as never), 'ERR_INVALID_ARG_TYPE', 'jobs[1]'],
        [() => q.enqueue('t', 1, { maxAttempts: 0 }), 'ERR_OUT_OF_RANGE', 'maxAttempts'],
        [() => q.enqueue('t', 1, { priority: 1.5 }), 'ERR_OUT_OF_RANGE', 'priority'],
        [() => q.enqueue('t', 1, { backoff: { type: 'linear', delay: 1 } as never }), 'ERR_INVALID_ARG_VALUE', 'type'],
        [() => q.enqueue('t', 1, { backoff: { type: 'fixed' } as never }), 'ERR_INVALID_ARG_TYPE', 'delay'],
        [() => q.enqueue('t', 1, { timeot: 5 } as never), 'ERR_INVALID_ARG_VALUE', 'timeout'],
        [() => q.enqueue('t', 1, { onComplete: { data: 1 } } as never), 'ERR_INVALID_ARG_TYPE', 'onComplete.task'],
        [() => q.enqueue('t', 1, { key: '' }), 'ERR_INVALID_ARG_VALUE', 'key'],
        [() => q.getJob(0), 'ERR_OUT_OF_RANGE', 'id'],
        [() => q.result('1' as never), 'ERR_INVALID_ARG_TYPE', 'id'],
        [() => q.result(1, { timeout: -1 }), 'ERR_OUT_OF_RANGE', 'timeout'],
        [() => q.list({ limit: 0 }), 'ERR_OUT_OF_RANGE', 'limit'],
        [() => q.list({ status: 'done' as never }), 'ERR_INVALID_ARG_VALUE', 'status'],
        [() => q.purge({ status: 'pending' as never }), 'ERR_INVALID_ARG_VALUE', 'status'],
        [() => q.schedule('s', { task: 't', cron: '61 * * * *' }), 'ERR_INVALID_ARG_VALUE', 'cron'],
        [() => q.schedule('s', { task: 't', cron: '* * *' }), 'ERR_INVALID_ARG_VALUE', '5 or 6 fields'],
        [() => q.schedule('s', { task: 't', cron: '* * * * *', every: 5 }), 'ERR_INVALID_ARG_VALUE', 'exactly one'],
        [() => q.schedule('s', { task: 't', cron: '* * * * *', tz: 'Mars/Base' }), 'ERR_INVALID_ARG_VALUE', 'tz'],
        [() => q.schedule('s', { task: 't', every: 1000, misfire: 'never' as never }), 'ERR_INVALID_ARG_VALUE', 'misfire'],
        [() => q.schedule('s', { task: 't', every: 1000, options: { delay: 5 } as never }), 'ERR_INVALID_ARG_VALUE', 'delay'],
      ];
      for (const [call, code, word] of cases) {
        const err = await caught(call);
        expect(err.code, String(call)).toBe(code);
        expect(err.message, String(call)).toContain(word);
      }
      expect(await F.rows(file)).toBe(0);
      expect(await F.rows(file, 'pq_task_schedules')).toBe(0);
      const opened = await caught(() => F.open(join(dir, 'u.db'), { retenton: {} } as never));
      expect(opened.message).toContain('retention');
      await q.close();
      const closed = await caught(() => q.enqueue('t', 1));
      expect(closed.code).toBe('ERR_QUEUE_CLOSED');
    });

    it('list/counts: filter by status and task, page with after', async () => {
      const q = await F.open(join(dir, 't.db'));
      const ids = await q.enqueueMany([
        { task: 'a', data: 0 },
        { task: 'b', data: 1 },
        { task: 'a', data: 2, options: { delay: 60_000 } },
        { task: 'a', data: 3 },
      ]);
      await q.cancel(ids[3]!);
      expect(await q.counts()).toEqual({ pending: 2, scheduled: 1, running: 0, succeeded: 0, failed: 0, cancelled: 1 });
      expect(await q.counts({ task: 'a' })).toEqual({ pending: 1, scheduled: 1, running: 0, succeeded: 0, failed: 0, cancelled: 1 });
      expect((await q.list({ status: 'pending' })).map((j) => j.id)).toEqual([ids[0], ids[1]]);
      expect((await q.list({ status: 'scheduled' })).map((j) => j.id)).toEqual([ids[2]]);
      expect((await q.list({ task: 'a', limit: 2 })).map((j) => j.id)).toEqual([ids[0], ids[2]]);
      expect((await q.list({ task: 'a', after: ids[2] })).map((j) => j.id)).toEqual([ids[3]]);
      await q.close();
    });

    it('cancel/retry/remove/purge', async () => {
      const q = await F.open(join(dir, 't.db'));
      const a = await q.enqueue('a', 1);
      expect(await q.cancel(a)).toBe(true);
      expect(await q.cancel(a)).toBe(false);
      expect((await q.getJob(a))!.status).toBe('cancelled');
      expect((await q.getJob(a))!.finishedAt).toBeInstanceOf(Date);
      expect(await q.retry(a)).toBe(true);
      expect(await q.getJob(a)).toMatchObject({ status: 'pending', attempts: 0 });
      expect(await q.retry(a)).toBe(false); // only failed or cancelled jobs
      await q.cancel(a);
      expect(await q.purge({ status: 'cancelled', olderThan: 60_000 })).toBe(0);
      expect(await q.purge({ status: ['cancelled', 'failed'] })).toBe(1);
      expect(await q.getJob(a)).toBeUndefined();
      const b = await q.enqueue('a', 2);
      expect(await q.remove(b)).toBe(true);
      expect(await q.remove(b)).toBe(false);
      await q.close();
    });

    it('result(): TaskNotFoundError for an unknown id, TaskCancelledError, TaskTimeoutError when nothing runs it', async () => {
      const q = await F.open(join(dir, 't.db'));
      const nf = await caught(() => q.result(12345));
      expect(nf).toBeInstanceOf(tasks.TaskNotFoundError);
      expect(nf).toBeInstanceOf(tasks.QueueError);
      expect(nf.code).toBe('ERR_TASK_NOT_FOUND');
      const a = await q.enqueue('nobody-runs-this', 1);
      const t0 = performance.now();
      const to = await caught(() => q.result(a, { timeout: 60 }));
      expect(to.code).toBe('ERR_TASK_TIMEOUT');
      expect(performance.now() - t0).toBeGreaterThanOrEqual(55);
      await q.cancel(a);
      const c = await caught(() => q.result(a));
      expect(c).toBeInstanceOf(tasks.TaskCancelledError);
      expect(c.code).toBe('ERR_TASK_CANCELLED');
      const s = await caught(() => q.submit('nobody', 1, { timeout: 30 }));
      expect(s.code).toBe('ERR_TASK_TIMEOUT');
      await q.close();
    });

    it.skipIf(F.pg)('pause/resume are persisted in the file', async () => {
      const file = join(dir, 't.db');
      const q = await F.open(file);
      await q.pause('a');
      await q.pause();
      const db = new Database(file, { readonly: true });
      expect(db.prepare('SELECT task FROM pq_task_paused_default ORDER BY task').pluck().all()).toEqual(['*', 'a']);
      await q.resume();
      expect(db.prepare('SELECT COUNT(*) FROM pq_task_paused_default').pluck().get()).toBe(0);
      db.close();
      await q.close();
    });

    it.skipIf(F.pg)('several named task queues share one file with a plain queue, without colliding', async () => {
      const file = join(dir, 't.db');
      const { SqliteQueueSync } = await import('../../dist/esm/index.js');
      const plain = SqliteQueueSync.open(file);
      plain.put('x');
      const q1 = await F.open(file, { name: 'one' });
      const q2 = await F.open(file, { name: 'two' });
      await q1.enqueue('t', 1);
      expect(await q2.counts()).toMatchObject({ pending: 0 });
      expect(await q1.counts()).toMatchObject({ pending: 1 });
      expect(plain.get()).toBe('x');
      plain.close();
      await q1.close();
      await q2.close();
    });

    it('schedule/schedules/unschedule: replacing with an equal definition keeps the next tick', async () => {
      const q = await F.open(join(dir, 't.db'));
      await q.schedule('nightly', { task: 'report', cron: '0 3 * * *', tz: 'Europe/Berlin', data: { full: true } });
      await q.schedule('often', { task: 'ping', every: 60_000 });
      await q.schedule('daily', { task: 'ping', cron: '@daily' });
      expect(await q.unschedule('daily')).toBe(true);
      const [n1, o1] = await q.schedules();
      expect(n1).toMatchObject({ id: 'nightly', task: 'report', cron: '0 3 * * *', tz: 'Europe/Berlin' });
      expect([1, 2]).toContain(n1!.nextRunAt.getUTCHours()); // 03:00 in Berlin is 01:00 or 02:00 UTC
      expect(o1).toMatchObject({ id: 'often', every: 60_000, tz: 'UTC' });
      await new Promise((r) => setTimeout(r, 5));
      await q.schedule('often', { task: 'ping', every: 60_000 });
      expect((await q.schedules())[1]!.nextRunAt).toEqual(o1!.nextRunAt);
      await q.schedule('often', { task: 'ping', every: 30_000 });
      expect((await q.schedules())[1]!.every).toBe(30_000);
      expect(await q.unschedule('often')).toBe(true);
      expect(await q.unschedule('often')).toBe(false);
      expect((await q.schedules()).map((s) => s.id)).toEqual(['nightly']);
      await q.close();
    });
  });
}

describe('package entry points', () => {
  it('persist-queue/tasks and persist-queue export the task API', async () => {
    const viaIndex = await import('../../dist/esm/index.js');
    for (const name of ['TaskQueue', 'TaskQueueSync', 'Worker', 'TaskFailedError', 'TaskCancelledError', 'TaskTimeoutError', 'TaskNotFoundError']) {
      expect(typeof (tasks as Record<string, unknown>)[name], name).toBe('function');
      expect((viaIndex as Record<string, unknown>)[name], name).toBe((tasks as Record<string, unknown>)[name]);
    }
    const { createRequire } = await import('node:module');
    const cjs = createRequire(import.meta.url)('../../dist/cjs/tasks.js');
    expect(typeof cjs.TaskQueueSync.open).toBe('function');
  });

  it('a URL of another scheme (a typo of postgres://) is an ERR_INVALID_ARG_VALUE naming the scheme, not a file path', async () => {
    for (const t of ['postgress://localhost/db', 'http://x/y', `postgresq://${join(dir, 'x')}`]) {
      const a = await caught(() => TaskQueue.open(t));
      expect(a.code, t).toBe('ERR_INVALID_ARG_VALUE');
      expect(a.message).toContain(`'${t.slice(0, t.indexOf(':') + 1)}'`);
      expect(a.message).toContain('postgres://');
      expect((await caught(() => TaskQueueSync.open(t))).code).toBe('ERR_INVALID_ARG_VALUE');
    }
  });
});
