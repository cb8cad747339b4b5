/**
 * The command on a PostgreSQL target (the suite's server: test/setup/pg-global.ts sets PG_URL), run as a child
 * process: reading commands show every queue and task queue and change no row (the schema's tables compared before
 * and after); writing commands go through the library; verify/repair/watch are usage errors; without `pg` a
 * PostgreSQL target is a one-line error naming it, and the other targets never load it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresAckQueue, PostgresQueue, TaskQueue, Worker } from '../../dist/esm/postgres.js';
import { cli, lines, tmp } from './helpers.js';

const PG_URL = process.env.PG_URL;
const schema = `cli_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
const pgArgs = (...a: string[]): string[] => [...a, '--schema', schema];

/** Every row of every table of the schema, as text (bytea as hex): equal before and after = nothing changed. */
async function dump(c: pg.Client): Promise<string> {
  const tables = (await c.query("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1", [schema])).rows;
  const out: unknown[] = [];
  for (const { t } of tables) out.push(t, (await c.query(`SELECT * FROM "${schema}"."${t}" ORDER BY 1`)).rows);
  return JSON.stringify(out, (_, v) => (v && v.type === 'Buffer' ? Buffer.from(v.data).toString('hex') : v));
}

describe.skipIf(!PG_URL)('persist-queue on PostgreSQL', () => {
  let admin: pg.Client;
  beforeAll(async () => {
    admin = new pg.Client(PG_URL);
    await admin.connect();
    // a fifo queue, an ack queue (one acked, one failed, two ready), a priority queue, a task queue
    const jobs = await PostgresQueue.open(PG_URL!, { schema, name: 'jobs' });
    await jobs.putMany([{ n: 1 }, { n: 2 }, { n: 3 }]);
    await jobs.close();
    const mail = await PostgresAckQueue.open(PG_URL!, { schema, name: 'mail' });
    await mail.putMany(['a', 'b', 'c', 'd']);
    await mail.ack(await mail.get());
    await mail.ackFailed(await mail.get());
    await mail.close();
    const prio = await PostgresQueue.open(PG_URL!, { schema, name: 'prio', order: 'priority' });
    await prio.put('low', { priority: 5 });
    await prio.put('high', { priority: 1 });
    await prio.close();
    const tq = await TaskQueue.open(PG_URL!, { schema, name: 'work' });
    await tq.enqueue('add', { a: 1, b: 2 });
    await tq.enqueue('boom', { n: 1 }, { maxAttempts: 1 });
    const w = new Worker(tq, { add: (d: { a: number; b: number }) => d.a + d.b, boom: () => { throw new Error('kaput'); } });
    await w.runUntilIdle();
    await w.stop();
    await tq.enqueue('add', { a: 5, b: 5 }, { priority: 3 });
    await tq.enqueue('add', { a: 9, b: 9 }, { delay: 3_600_000 });
    await tq.schedule('nightly', { task: 'report', cron: '0 3 * * *' });
    await tq.close();
  });
  afterAll(async () => {
    await admin?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin?.end();
  });

  it('info, peek, export and tasks list/show/counts/schedules show every queue and change no row', async () => {
    const before = await dump(admin);
    let r = cli(['info', PG_URL!, '--schema', schema, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ backend: 'postgres', schema, schemaVersion: 1 });
    expect(doc.target).not.toContain(':postgres@'); // the password is not printed
    expect(doc.queues.map((q: any) => [q.name, q.kind, q.size, q.counts])).toEqual([
      ['mail', 'ack', 2, { ready: 2, unack: 0, acked: 1, failed: 1 }],
      ['prio', 'priority', 2, { waiting: 2, taken: 0 }],
      ['jobs', 'fifo', 3, { waiting: 3, taken: 0 }],
    ]);
    expect(doc.queues.every((q: any) => q.oldest > Date.now() - 600_000)).toBe(true);
    expect(doc.taskQueues).toEqual([
      expect.objectContaining({ name: 'work', schemaVersion: 1, counts: { pending: 1, scheduled: 1, running: 0, succeeded: 1, failed: 1, cancelled: 0 }, schedules: 1 }),
    ]);
    r = cli(pgArgs('info', PG_URL!));
    expect(r.stdout).toMatch(new RegExp(`^postgres://postgres:\\*\\*\\*@.*  PostgreSQL schema ${schema}, schema version 1, .* in its tables$`, 'm'));
    expect(r.stdout).toMatch(/^mail\s+ack\s+2\s+ready 2, acked 1, failed 1\s+(just now|\d+ s ago)$/m);
    expect(r.stdout).toMatch(/^work\s+tasks v1\s+2\s+pending 1, scheduled 1, succeeded 1, failed 1; 1 schedule\(s\)/m);
    r = cli(pgArgs('peek', PG_URL!, '--queue', 'mail', '--json'));
    expect(lines(r.stdout).map((x: any) => [x.data, x.status, x.attempts])).toEqual([['c', 'ready', 0], ['d', 'ready', 0]]);
    expect(lines(cli(pgArgs('peek', PG_URL!, '--queue', 'prio', '--json')).stdout).map((x: any) => [x.data, x.priority])).toEqual([['high', 1], ['low', 5]]);
    r = cli(pgArgs('export', PG_URL!, '--queue', 'mail'));
    expect(lines(r.stdout).map((x: any) => [x.data, x.status])).toEqual([['a', 'acked'], ['b', 'failed'], ['c', 'ready'], ['d', 'ready']]);
    r = cli(pgArgs('tasks', 'list', PG_URL!, '--json'));
    expect(r.code, r.stderr).toBe(0);
    const jobs = lines(r.stdout) as any[];
    expect(jobs.map((j) => [j.id, j.task, j.status])).toEqual([[1, 'add', 'succeeded'], [2, 'boom', 'failed'], [3, 'add', 'pending'], [4, 'add', 'scheduled']]);
    expect([jobs[0].result, jobs[1].error.message]).toEqual([3, 'kaput']);
    expect(cli(pgArgs('tasks', 'show', PG_URL!, '2')).stdout).toMatch(/^error\s+Error: kaput$/m);
    expect(JSON.parse(cli(pgArgs('tasks', 'counts', PG_URL!, '--json')).stdout).counts).toEqual({ pending: 1, scheduled: 1, running: 0, succeeded: 1, failed: 1, cancelled: 0 });
    r = cli(pgArgs('tasks', 'schedules', PG_URL!, '--json'));
    expect(JSON.parse(r.stdout).schedules).toEqual([expect.objectContaining({ id: 'nightly', task: 'report', cron: '0 3 * * *' })]);
    expect(await dump(admin)).toBe(before);
  }, 60_000);

  it('put, get and import write through the library; tasks retry/cancel/purge; verify, repair and watch do not apply', async () => {
    let r = cli(pgArgs('put', PG_URL!, '--queue', 'fresh', '{"a":1}', '[2]', '"three"', '--json'));
    expect([r.code, r.stderr, JSON.parse(r.stdout).ids.length]).toEqual([0, '', 3]);
    r = cli(pgArgs('get', PG_URL!, '--queue', 'fresh', '-n', '2'));
    expect([r.code, lines(r.stdout)]).toEqual([0, [{ a: 1 }, [2]]]);
    r = cli(pgArgs('get', PG_URL!, '--queue', 'mail', '--json'));
    expect(lines(r.stdout)).toEqual([{ id: 3, data: 'c', attempts: 1 }]);
    // the export of an ack queue comes back with its statuses, in one statement
    const exported = cli(pgArgs('export', PG_URL!, '--queue', 'mail')).stdout;
    r = cli(pgArgs('import', PG_URL!, '--queue', 'copy', '--kind', 'ack', '--json'), exported);
    expect([r.code, r.stderr, r.stdout]).toEqual([0, '', '{"imported":4}\n']);
    expect(lines(cli(pgArgs('export', PG_URL!, '--queue', 'copy')).stdout).map((x: any) => [x.data, x.status])).toEqual([['a', 'acked'], ['b', 'failed'], ['c', 'acked'], ['d', 'ready']]);
    // malformed input changes nothing
    const before = await dump(admin);
    r = cli(pgArgs('import', PG_URL!, '--queue', 'copy'), '{"data":1}\n{nope\n');
    expect([r.code, r.stderr.split('\n').length]).toEqual([2, 2]);
    expect(r.stderr).toMatch(/^persist-queue: stdin line 2: malformed JSON \(/);
    r = cli(pgArgs('get', PG_URL!, '--queue', 'nosuch'));
    expect([r.code, r.stderr]).toEqual([1, `persist-queue: no queue "nosuch" in schema ${schema}; it holds: copy (ack), mail (ack), prio (priority), fresh (fifo), jobs (fifo)\n`]);
    for (const cmd of [['verify'], ['repair', '--yes'], ['watch']]) {
      r = cli(pgArgs(cmd[0]!, PG_URL!, ...cmd.slice(1)));
      expect([r.code, r.stderr.split('\n').length], cmd[0]).toEqual([2, 2]);
      expect(r.stderr, cmd[0]).toMatch(/PostgreSQL/);
    }
    expect(await dump(admin)).toBe(before);
    r = cli(pgArgs('tasks', 'retry', PG_URL!, '2', '--json'));
    expect([r.code, JSON.parse(r.stdout)]).toEqual([0, { retried: [2], refused: [] }]);
    r = cli(pgArgs('tasks', 'cancel', PG_URL!, '4', '1', '--json'));
    expect([r.code, JSON.parse(r.stdout)]).toEqual([1, { cancelled: [4], refused: [1] }]);
    r = cli(pgArgs('tasks', 'purge', PG_URL!, '--status', 'succeeded', '--json'));
    expect([r.code, JSON.parse(r.stdout)]).toEqual([0, { purged: 1 }]);
    const rows = (await admin.query(`SELECT id, status FROM "${schema}".pq_tasks_work ORDER BY id`)).rows;
    expect(rows.map((x) => [Number(x.id), x.status])).toEqual([[2, 0], [3, 0], [4, 4]]);
  }, 60_000);
});

describe('persist-queue without pg', () => {
  it('a PostgreSQL target is a one-line error naming pg; SQLite and file targets never load it', () => {
    // a preload that makes pg impossible to require, as when it is not installed
    const block = join(tmp(), 'no-pg.cjs');
    writeFileSync(
      block,
      "const M = require('module'); const r = M._resolveFilename;\n" +
        "M._resolveFilename = function (req, ...a) { if (req === 'pg' || req.startsWith('pg/')) { const e = new Error(`Cannot find module '${req}'`); e.code = 'MODULE_NOT_FOUND'; throw e; } return r.call(this, req, ...a); };\n",
    );
    const env = { NODE_OPTIONS: `--require ${block}` };
    const base = tmp();
    const db = join(base, 'q.db');
    const fq = join(base, 'fq');
    for (const t of [db, fq]) {
      const r = cli(['put', t, '1', '2'], undefined, env);
      expect([r.code, r.stderr], t).toEqual([0, '']);
      expect(cli(['info', t], undefined, env).code, t).toBe(0);
    }
    for (const args of [['info', 'postgres://u:secret@127.0.0.1:1/db'], ['tasks', 'list', 'postgresql://127.0.0.1:1/db']]) {
      const r = cli(args, undefined, env);
      expect([r.code, r.stdout, r.stderr]).toEqual([1, '', "persist-queue: PostgreSQL targets need the 'pg' package (node-postgres), which is not installed: npm install pg\n"]);
    }
  });
});
