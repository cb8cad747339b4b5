/**
 * The task layer on PostgreSQL across processes (the shared task suite runs on PostgreSQL in test/tasks/): a worker
 * SIGKILLed mid-job gives the job back when its lease runs out, and it completes once; two "hosts" (processes with
 * their own pools) create the task schema at the same moment; 4 producer and 4 worker processes run every job exactly
 * once; an idle worker wakes within 50 ms of another client's enqueue; a cancel from another host reaches a running
 * job's signal within the notification latency.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as pgLib from '../dist/esm/postgres.js';
import { PG_URL, tempDir } from './helpers/classes.js';
import { kill9, startWorker, type Worker as Child } from './helpers/procs.js';

const CHILD = fileURLToPath(new URL('./tasks/workers/task-child.mjs', import.meta.url));
let dir: string;
let cleanup: () => void;
const children: Child[] = [];
beforeEach(() => ({ dir, cleanup } = tempDir('pq-pgtasks-')));
afterEach(async () => {
  for (const c of children.splice(0)) if (c.child.exitCode === null && c.child.signalCode === null) await kill9(c);
  cleanup();
});
const child = (job: Record<string, unknown>): Child => {
  const c = startWorker(job, CHILD);
  children.push(c);
  return c;
};
const unique = (p: string): string => `${p}${process.pid}_${Math.floor(Math.random() * 1e9)}`;

describe.skipIf(!PG_URL)('tasks on PostgreSQL across processes', () => {
  it('a worker SIGKILLed mid-job: its lease runs out, another host runs the job, and it completes once', async () => {
    const options = { name: unique('kill') };
    const out = join(dir, 'log');
    const q = await pgLib.TaskQueue.open(PG_URL!, options);
    const a = child({ role: 'worker', file: PG_URL, out, options, worker: { lease: 1000 } });
    await a.next((m) => 'ready' in m);
    const id = await q.enqueue('hold', null);
    await a.next((m) => m.started === id);
    const b = child({ role: 'worker', file: PG_URL, out, options, worker: { lease: 1000 } });
    await b.next((m) => 'ready' in m);
    const killedAt = Date.now();
    await kill9(a);
    const value = await q.result<string>(id, { timeout: 15_000 });
    const took = Date.now() - killedAt;
    expect(value).toBe(`done by ${b.child.pid}`);
    expect(took).toBeGreaterThanOrEqual(900); // not before the lease ran out (no pid check across hosts)
    expect(took).toBeLessThan(5000); // lease + one sweep period, with room for a loaded machine
    const job = (await q.getJob(id))!;
    expect(job).toMatchObject({ status: 'succeeded', attempts: 2 }); // the killed attempt was started, so it counts
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(lines.filter((l) => l.startsWith('done'))).toEqual([`done ${id} 2 ${b.child.pid}`]);
    b.child.send('stop');
    await b.exit;
    await q.close();
  });

  it('two hosts (processes with their own pools) create the task schema at the same moment', async () => {
    const schema = unique('hosts');
    const options = { name: 'jobs', schema };
    const hosts = [0, 1].map(() => child({ role: 'worker', file: PG_URL, options }));
    await Promise.all(hosts.map((h) => h.next((m) => 'ready' in m)));
    const q = await pgLib.TaskQueue.open(PG_URL!, options);
    const ids = await q.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ task: 'double', data: i })));
    expect(await Promise.all(ids.map((id) => q.result(id, { timeout: 10_000 })))).toEqual(ids.map((_, i) => i * 2));
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      const rows = (await c.query(`SELECT name, version FROM "${schema}".pq_task_schema`)).rows;
      expect(rows).toEqual([{ name: 'jobs', version: 1 }]);
    } finally {
      await c.end();
    }
    for (const h of hosts) {
      h.child.send('stop');
      await h.exit;
    }
    await q.close();
  });

  it('4 producer and 4 worker processes: every job enqueued runs exactly once and succeeds', async () => {
    const options = { name: unique('eight') };
    const out = join(dir, 'ran');
    const workers = [0, 1, 2, 3].map(() => child({ role: 'worker', file: PG_URL, out, options, worker: { concurrency: 4 } }));
    const producers = [0, 1, 2, 3].map((id) => child({ role: 'enqueue', file: PG_URL, options, id, count: 100 }));
    await Promise.all([...workers, ...producers].map((c) => c.next((m) => 'ready' in m)));
    for (const p of producers) p.child.send('go');
    await Promise.all(producers.map((p) => p.next((m) => 'enqueued' in m)));
    const q = await pgLib.TaskQueue.open(PG_URL!, options);
    const deadline = Date.now() + 30_000;
    let counts = await q.counts();
    while (counts.succeeded < 400 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      counts = await q.counts();
    }
    expect(counts).toEqual({ pending: 0, scheduled: 0, running: 0, succeeded: 400, failed: 0, cancelled: 0 });
    const ran = readFileSync(out, 'utf8').trim().split('\n').map((l) => l.split(' '));
    const tags = ran.map((r) => r[2]);
    expect(new Set(tags).size).toBe(400);
    expect(tags.length).toBe(400);
    expect(new Set(ran.map((r) => r[1])).size).toBe(400);
    expect(new Set(ran.map((r) => r[3])).size).toBeGreaterThan(1); // the work was shared
    for (const w of workers) w.child.send('stop');
    await Promise.all(workers.map((w) => w.exit));
    await q.close();
  });

  it('an idle worker in another process wakes within 50 ms of an enqueue (LISTEN/NOTIFY)', async () => {
    const options = { name: unique('wake') };
    const q = await pgLib.TaskQueue.open(PG_URL!, options);
    const w = child({ role: 'worker', file: PG_URL, options });
    await w.next((m) => 'idle' in m);
    const lags: number[] = [];
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const t0 = Date.now();
      const id = await q.enqueue('stamp', null);
      lags.push((await q.result<number>(id, { timeout: 5000 })) - t0);
    }
    expect(Math.min(...lags), `lags ${lags.join(', ')} ms`).toBeLessThanOrEqual(50);
    expect(lags.filter((d) => d > 50).length, `lags ${lags.join(', ')} ms`).toBeLessThanOrEqual(1); // a loaded machine may miss once
    w.child.send('stop');
    await w.exit;
    await q.close();
  });

  it("cancel() from another host aborts a running job's ctx.signal within about 50 ms (not at lease renewal)", async () => {
    const options = { name: unique('cancel') };
    const q = await pgLib.TaskQueue.open(PG_URL!, options);
    // Default lease (30 s): renewal, the only way a cancel reached a worker without cancelRequested, comes every 500 ms.
    const w = child({ role: 'worker', file: PG_URL, options });
    await w.next((m) => 'idle' in m);
    const lags: number[] = [];
    for (let round = 0; round < 4; round++) {
      const id = await q.enqueue('untilAborted', round);
      await w.next((m) => m.started === id);
      await new Promise((r) => setTimeout(r, 30 + round * 60)); // a different phase of the renewal timer each round
      const t0 = Date.now();
      expect(await q.cancel(id)).toBe(true);
      const m = await w.next<{ at: number; code: string }>((x) => x.aborted === id);
      expect(m.code).toBe('ERR_TASK_CANCELLED');
      lags.push(m.at - t0);
      await expect(q.result(id, { timeout: 5000 })).rejects.toMatchObject({ code: 'ERR_TASK_CANCELLED' });
    }
    expect(lags.filter((x) => x > 100).length, `lags ${lags.join(', ')} ms`).toBeLessThanOrEqual(1);
    w.child.send('stop');
    await w.exit;
    await q.close();
  });

  it('TaskQueueSync refuses a PostgreSQL target with a typed error; PostgreSQL-only and SQLite-only options are checked', async () => {
    const { TaskQueueSync, TaskQueue } = await import('../dist/esm/tasks.js');
    expect(() => TaskQueueSync.open(PG_URL!)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('TaskQueue') }));
    await expect(TaskQueue.open(PG_URL!, { busyTimeout: 5 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', message: expect.stringContaining('busyTimeout') });
    await expect(TaskQueue.open(PG_URL!, { durability: 'off' })).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE', message: expect.stringContaining('durability') });
    await expect(TaskQueue.open(join(dir, 't.db'), { schema: 'x' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', message: expect.stringContaining('schema') });
    expect(pgLib.TaskQueue).toBe(TaskQueue);
  });
});
