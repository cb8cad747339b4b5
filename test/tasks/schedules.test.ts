/** Schedules: ticks, misfire policies, and exactly one job per tick across processes and SIGKILLs. */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as tasks from '../../dist/esm/tasks.js';
import { tempDir } from '../helpers/classes.js';
import { TASK_BACKENDS } from '../helpers/task-backends.js';
import { kill9, startWorker, type Worker as Child } from '../helpers/procs.js';

const CHILD = fileURLToPath(new URL('./workers/task-child.mjs', import.meta.url));
const { TaskQueue, TaskQueueSync, Worker } = tasks;
let dir: string;
let cleanup: () => void;
const children: Child[] = [];
beforeEach(() => ({ dir, cleanup } = tempDir('pq-tasks-s-')));
afterEach(async () => {
  for (const c of children.splice(0)) if (c.child.exitCode === null && c.child.signalCode === null) await kill9(c);
  cleanup();
});
const OPTS = { durability: 'normal' } as const;

/** Moves a schedule's next tick `ms` into the past (as if no worker ran for that long). */
function rewind(file: string, id: string, ms: number): void {
  const db = new Database(file);
  db.prepare('UPDATE pq_task_schedules_default SET next_run_at = next_run_at - ? WHERE id = ?').run(ms, id);
  db.close();
}

describe('schedules', () => {
  it('misfire: all = one job per missed tick, once = one job, skip = none for a long-missed tick', () => {
    const file = join(dir, 't.db');
    const q = TaskQueueSync.open(file, OPTS);
    q.schedule('all', { task: 'a', every: 60_000, misfire: 'all', data: { x: 1 }, options: { priority: 3 } });
    q.schedule('once', { task: 'o', every: 60_000 });
    q.schedule('skip', { task: 's', every: 60_000, misfire: 'skip' });
    const before = q.schedules();
    for (const id of ['all', 'once', 'skip']) rewind(file, id, 60_000 * 3 + 30_000); // due ticks at -2.5, -1.5, -0.5 min
    expect(q.fireSchedules()).toBe(3 + 1 + 0);
    const all = q.list({ task: 'a' });
    expect(all).toHaveLength(3);
    expect(all[0]).toMatchObject({ data: { x: 1 }, priority: 3, status: 'pending' });
    expect(new Set(all.map((j) => j.runAt.getTime())).size).toBe(3);
    expect(q.list({ task: 'o' })).toHaveLength(1);
    expect(q.list({ task: 's' })).toHaveLength(0);
    const after = q.schedules();
    for (let i = 0; i < 3; i++) {
      expect(after[i]!.nextRunAt.getTime()).toBe(before[i]!.nextRunAt.getTime() - 30_000);
      expect(after[i]!.lastRunAt).toBeInstanceOf(Date);
    }
    expect(q.fireSchedules()).toBe(0); // nothing due any more
    q.close();
  });

});

for (const B of TASK_BACKENDS) {
describe(`schedules across workers (${B.name})`, () => {
  beforeEach(() => B.fresh());

  it('a worker fires a 6-field cron schedule each second and an interval schedule on time', async () => {
    const file = B.target(dir);
    const q = await TaskQueue.open(file, B.options(OPTS));
    const runs: string[] = [];
    await q.schedule('sec', { task: 'cronjob', cron: '* * * * * *' });
    await q.schedule('fast', { task: 'interval', every: 150 });
    const w = new Worker(q, { cronjob: () => void runs.push('cron'), interval: () => void runs.push('every') }).start();
    await new Promise((r) => setTimeout(r, 2300));
    await w.stop();
    const cron = runs.filter((r) => r === 'cron').length;
    const every = runs.filter((r) => r === 'every').length;
    expect(cron).toBeGreaterThanOrEqual(1);
    expect(cron).toBeLessThanOrEqual(3);
    expect(every).toBeGreaterThanOrEqual(8);
    expect(every).toBeLessThanOrEqual(16);
    await q.close();
  });

  it('4 processes registering and running the same schedules make exactly one job per tick, across a kill -9', async () => {
    const file = B.target(dir);
    const q = await TaskQueue.open(file, B.options(OPTS));
    const schedules = {
      fast: { task: 'tick', every: 100, misfire: 'all', data: 'fast' },
      cron: { task: 'tick', cron: '* * * * * *', misfire: 'all', data: 'cron' },
    };
    for (const [id, spec] of Object.entries(schedules)) await q.schedule(id, spec as tasks.ScheduleSpec);
    const start = new Map((await q.schedules()).map((s) => [s.id, s]));
    const spawn = (): Child => {
      const c = startWorker({ role: 'worker', file, options: B.options(OPTS), schedules, worker: { concurrency: 2 } }, CHILD);
      children.push(c);
      return c;
    };
    const procs = [spawn(), spawn(), spawn(), spawn()];
    await Promise.all(procs.map((p) => p.next((m) => 'ready' in m)));
    await new Promise((r) => setTimeout(r, 1200));
    await kill9(procs[1]!);
    await kill9(procs[2]!);
    procs.push(spawn());
    await procs[4]!.next((m) => 'ready' in m);
    await new Promise((r) => setTimeout(r, 1200));
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.send('stop');
    await Promise.all(procs.map((p) => p.exit));
    const end = new Map((await q.schedules()).map((s) => [s.id, s]));
    const rows = await q.list({ task: 'tick', limit: 10_000 });
    for (const [id, period] of [['fast', 100], ['cron', 1000]] as const) {
      const mine = rows.filter((r) => r.data === id).map((r) => r.runAt.getTime());
      const ticks = (end.get(id)!.nextRunAt.getTime() - start.get(id)!.nextRunAt.getTime()) / period;
      expect(ticks, id).toBeGreaterThan(id === 'fast' ? 10 : 1);
      expect(mine.length, id).toBe(ticks); // one job per tick: none lost, none doubled
      expect(new Set(mine).size, id).toBe(mine.length);
    }
    await q.close();
  });
});
}
