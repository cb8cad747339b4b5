import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TaskQueueSync, Worker } from '../../dist/esm/tasks.js';
import { cli, lines, snapshot, tmp } from './helpers.js';

/** A task file: job 1 succeeded, job 2 failed for good, job 3 pending, job 4 scheduled, one schedule. */
async function taskFile(): Promise<string> {
  const db = join(tmp(), 'tasks.db');
  const q = TaskQueueSync.open(db);
  q.enqueue('add', { a: 1, b: 2 });
  q.enqueue('boom', { n: 1 }, { maxAttempts: 1 });
  const w = new Worker(db, { add: (d: { a: number; b: number }) => d.a + d.b, boom: () => { throw new Error('kaput'); } });
  await w.runUntilIdle();
  await w.stop();
  q.enqueue('add', { a: 5, b: 5 }, { priority: 3 });
  q.enqueue('add', { a: 9, b: 9 }, { delay: 3_600_000 });
  q.schedule('nightly', { task: 'report', cron: '0 3 * * *' });
  q.close();
  return db;
}

describe('persist-queue tasks', () => {
  it('list, show, counts, schedules and info read the task tables without changing a byte', async () => {
    const db = await taskFile();
    const before = snapshot(db);
    let r = cli(['tasks', 'list', db, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const jobs = lines(r.stdout) as any[];
    expect(jobs.map((j) => [j.id, j.task, j.status])).toEqual([[1, 'add', 'succeeded'], [2, 'boom', 'failed'], [3, 'add', 'pending'], [4, 'add', 'scheduled']]);
    expect(jobs[0].result).toBe(3);
    expect(jobs[1].error).toMatchObject({ name: 'Error', message: 'kaput' });
    r = cli(['tasks', 'list', db, '--status', 'failed']);
    expect(r.stdout).toMatch(/^id\s+task\s+status\s+attempts\s+prio\s+run at\s+created\s+data \/ error\n\s*2\s+boom\s+failed\s+1\/1\s+0\s+.*Error: kaput\n$/);
    expect(lines(cli(['tasks', 'list', db, '--json', '-n', '1', '--after', '2']).stdout).map((j: any) => j.id)).toEqual([3]);
    r = cli(['tasks', 'show', db, '2']);
    expect(r.stdout).toMatch(/^status\s+failed$/m);
    expect(r.stdout).toMatch(/^error\s+Error: kaput$/m);
    expect(JSON.parse(cli(['tasks', 'show', db, '1', '--json']).stdout)).toMatchObject({ id: 1, status: 'succeeded', result: 3, data: { a: 1, b: 2 } });
    r = cli(['tasks', 'counts', db, '--json']);
    expect(JSON.parse(r.stdout)).toEqual({
      queue: 'default',
      counts: { pending: 1, scheduled: 1, running: 0, succeeded: 1, failed: 1, cancelled: 0 },
      tasks: {
        add: { pending: 1, scheduled: 1, running: 0, succeeded: 1, failed: 0, cancelled: 0 },
        boom: { pending: 0, scheduled: 0, running: 0, succeeded: 0, failed: 1, cancelled: 0 },
      },
    });
    expect(cli(['tasks', 'counts', db]).stdout).toMatch(/^all\s+1\s+1\s+0\s+1\s+1\s+0$/m);
    r = cli(['tasks', 'schedules', db, '--json']);
    expect(JSON.parse(r.stdout).schedules).toEqual([expect.objectContaining({ id: 'nightly', task: 'report', cron: '0 3 * * *', tz: 'UTC' })]);
    expect(cli(['tasks', 'schedules', db]).stdout).toMatch(/nightly\s+report\s+0 3 \* \* \*\s+UTC\s+in \d+ (h|min)\s+-/);
    r = cli(['info', db, '--json']);
    expect(JSON.parse(r.stdout).taskQueues).toEqual([
      { name: 'default', schemaVersion: 1, counts: { pending: 1, scheduled: 1, running: 0, succeeded: 1, failed: 1, cancelled: 0 }, schedules: 1, oldest: expect.any(Number) },
    ]);
    expect(cli(['info', db]).stdout).toMatch(/default\s+tasks v1\s+2\s+pending 1, scheduled 1, succeeded 1, failed 1; 1 schedule\(s\)/);
    expect(snapshot(db)).toBe(before);
  }, 30_000);

  it('retry, cancel, purge change what they name; bad input is one line, exit 2 or 1, nothing written', async () => {
    const db = await taskFile();
    const before = snapshot(db);
    const bad: [string[], number, RegExp][] = [
      [['tasks', 'frob', db], 2, /unknown subcommand "frob"/],
      [['tasks', 'show', db], 2, /give one or more job ids/],
      [['tasks', 'show', db, 'x1'], 2, /job id must be a positive integer/],
      [['tasks', 'show', db, '99'], 1, /no job 99 in task queue "default"/],
      [['tasks', 'list', db, '--status', 'lost'], 2, /--status must be one of/],
      [['tasks', 'list', db, '--queue', 'other'], 1, /no task queue "other" in this file; it holds: default/],
      [['tasks', 'retry', db, '1', '--queue', 'other'], 1, /no task queue "other"/],
      [['tasks', 'purge', db], 2, /--status must be one of succeeded, failed, cancelled/],
      [['tasks', 'purge', db, '--status', 'pending'], 2, /--status must be one of succeeded, failed, cancelled \(got "pending"\)/],
      [['tasks', 'purge', db, '--status', 'bogus'], 2, /tasks purge: --status must be one of succeeded, failed, cancelled \(got "bogus"\)/],
      [['tasks', 'list', db, '--bogus'], 2, /Unknown option '--bogus'/],
      [['tasks', 'list', tmp()], 2, /task queues live in SQLite files/],
    ];
    for (const [args, code, msg] of bad) {
      const r = cli(args);
      expect([r.code, r.stdout], args.join(' ')).toEqual([code, '']);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr, args.join(' ')).toMatch(msg);
    }
    expect(snapshot(db)).toBe(before);
    let r = cli(['tasks', 'retry', db, '2', '1']);
    expect([r.code, r.stdout]).toEqual([1, 'retried 2\nnot retried: 1 (not failed or cancelled (or its key is taken))\n']);
    r = cli(['tasks', 'cancel', db, '3', '4', '--json']);
    expect([r.code, JSON.parse(r.stdout)]).toEqual([0, { cancelled: [3, 4], refused: [] }]);
    expect(JSON.parse(cli(['tasks', 'purge', db, '--status', 'cancelled', '--json']).stdout)).toEqual({ purged: 2 });
    const q = TaskQueueSync.open(db);
    expect(q.list().map((j) => [j.id, j.status, j.attempts])).toEqual([[1, 'succeeded', 1], [2, 'pending', 0]]);
    q.close();
  }, 30_000);
});
