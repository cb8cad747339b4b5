// PostgreSQL quick benchmark (not yet part of bench/run.mjs): PostgresQueue beside the raw `pg` ceiling of the same
// statements on the same server, in one run. Single put / get (each awaited), batches of 100 (putMany / getMany), at
// durability full and normal. PG_URL, or a throwaway server (scripts/pg-server.mjs).
//
//   npm run build && node bench/postgres.mjs [--n 2000]
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startPg } from '../scripts/pg-server.mjs';
import { PostgresQueue, TaskQueue, Worker } from '../dist/esm/postgres.js';

const { values: args } = parseArgs({ options: { n: { type: 'string', default: '2000' } } });
const N = Number(args.n);
const server = await startPg();
const rate = (n, ms) => Math.round((n / ms) * 1000);
const time = async (fn) => {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
};
const rows = [];
try {
  for (const durability of ['full', 'normal']) {
    const q = await PostgresQueue.open(server.url, { name: `bench_${durability}_${process.pid}`, durability });
    const t = `persist_queue."queue_bench_${durability}_${process.pid}"`;
    const item = { n: 0, body: 'x'.repeat(64) };
    const putMs = await time(async () => {
      for (let i = 0; i < N; i++) await q.put(item);
    });
    const getMs = await time(async () => {
      for (let i = 0; i < N; i++) await q.get();
    });
    const batch = Array.from({ length: 100 }, () => item);
    const putManyMs = await time(async () => {
      for (let i = 0; i < N; i += 100) await q.putMany(batch);
    });
    const getManyMs = await time(async () => {
      for (let i = 0; i < N; i += 100) await q.getMany(100);
    });
    await q.close();
    // the raw ceiling: the same statements through a plain pg.Pool, nothing else
    const pool = new pg.Pool({ connectionString: server.url, max: 10, options: durability === 'normal' ? '-c synchronous_commit=off' : undefined });
    const data = Buffer.from(JSON.stringify(item));
    const rawPutMs = await time(async () => {
      for (let i = 0; i < N; i++) await pool.query(`INSERT INTO ${t} (data, priority, ukey) SELECT d, p, k FROM unnest($1::bytea[], $2::bigint[], $3::bytea[]) AS x(d, p, k) RETURNING id`, [[data], [0], [null]]);
    });
    // the same put statement with its pg_notify (what PostgresQueue sends): the price of waking other hosts
    const rawPutNotifyMs = await time(async () => {
      for (let i = 0; i < N; i++)
        await pool.query(`WITH ins AS (INSERT INTO ${t} (data, priority, ukey) SELECT d, p, k FROM unnest($1::bytea[], $2::bigint[], $3::bytea[]) AS x(d, p, k) RETURNING id) SELECT id, (SELECT pg_notify($4, $5)) FROM ins`, [[data], [0], [null], 'pq_bench', 'x']);
    });
    const rawGetMs = await time(async () => {
      for (let i = 0; i < N; i++)
        await pool.query(`WITH c AS (SELECT id FROM ${t} WHERE status = 1 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) DELETE FROM ${t} x USING c WHERE x.id = c.id RETURNING x.id, x.data`);
    });
    await pool.query(`DROP TABLE ${t}`);
    await pool.end();
    // tasks end to end: N no-op jobs enqueued one by one (each awaited), then one Worker runs them (concurrency 1 and 8)
    const taskRates = [];
    for (const concurrency of [1, 8]) {
      const name = `bench_t${concurrency}_${durability}_${process.pid}`;
      const tq = await TaskQueue.open(server.url, { name, durability, retention: { succeeded: Infinity } });
      const enqMs = await time(async () => {
        for (let i = 0; i < N; i++) await tq.enqueue('noop', i);
      });
      const w = new Worker(tq, { noop: () => null }, { concurrency });
      const runMs = await time(() => w.runUntilIdle());
      await w.stop();
      await tq.close();
      const raw = new pg.Pool({ connectionString: server.url, max: 2 });
      await raw.query(`DROP TABLE persist_queue."pq_tasks_${name}", persist_queue."pq_task_schedules_${name}", persist_queue."pq_task_paused_${name}", persist_queue."pq_task_rate_${name}"`);
      await raw.query('DELETE FROM persist_queue.pq_task_schema WHERE name = $1', [name]);
      await raw.end();
      taskRates.push([`tasks: enqueue (single, awaited)`, concurrency, rate(N, enqMs)], [`tasks: run no-op jobs (Worker)`, concurrency, rate(N, runMs)]);
    }
    rows.push(
      ...taskRates.map(([op, c, r]) => [`${op}, concurrency ${c}`, durability, r, '']),
      [`put (single, awaited)`, durability, rate(N, putMs), rate(N, rawPutMs)],
      [`put (single, awaited) vs raw put + pg_notify`, durability, rate(N, putMs), rate(N, rawPutNotifyMs)],
      [`get (single, awaited)`, durability, rate(N, getMs), rate(N, rawGetMs)],
      [`putMany(100)`, durability, rate(N, putManyMs), ''],
      [`getMany(100)`, durability, rate(N, getManyMs), ''],
    );
  }
} finally {
  await server.stop();
}
console.log(`PostgresQueue / TaskQueue, N=${N}, items/s (raw pg = the same statement through a bare pg.Pool)\n`);
console.log('| operation | durability | PostgresQueue | raw pg | ratio |');
console.log('|---|---|---:|---:|---:|');
for (const [op, d, lib, raw] of rows) console.log(`| ${op} | ${d} | ${lib} | ${raw} | ${raw ? `${Math.round((lib / raw) * 100)} %` : ''} |`);
