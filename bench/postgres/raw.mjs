// The raw `pg` ceiling of the PostgreSQL rows: the statements PostgresQueue sends for a put, a putMany, a get and a
// getMany (autoCommit, FIFO, no maxSize, not unique), copied from lib/postgres/core-base.ts (insert) and
// lib/postgres/plain-core.ts (take) — keep them in step when those change — sent through a bare pg.Pool with the same
// durability setting, as named (prepared) statements like the library sends them, JSON encoded/decoded like the
// library's default serializer. Nothing else: no group commit, no
// shell, no listener, no holder heartbeat. The table and a holder row are made by opening the library once.
import pg from 'pg';
import { randomUUID } from 'node:crypto';
import { PostgresQueue } from '../../dist/esm/postgres.js';

export async function openRaw(job) {
  // the library creates the table (and schema) the statements run on
  const made = await PostgresQueue.open(job.url, { name: job.name, durability: job.durability });
  await made.close();
  const schema = 'persist_queue';
  const table = `queue_${job.name}`.toLowerCase();
  const t = `"${schema}"."${table}"`;
  const h = `"${schema}".pq_holders`;
  const channel = `pq_${schema}`;
  const owner = randomUUID();
  const pool = new pg.Pool({ connectionString: job.url, max: 10, options: job.durability === 'normal' ? '-c synchronous_commit=off' : undefined });
  await pool.query(`INSERT INTO ${h} (id, tbl, expires) VALUES ($1, $2, now() + interval '1 hour')`, [owner, table]);
  const insertSql =
    `WITH ins AS (INSERT INTO ${t} (data, priority, ukey) ` +
    `SELECT d, p, k FROM unnest($1::bytea[], $2::bigint[], $3::bytea[]) WITH ORDINALITY AS x(d, p, k, n) ORDER BY n ` +
    `RETURNING id, ukey) SELECT i.id, i.ukey, (SELECT pg_notify($4, $5)) AS n FROM ins i ORDER BY i.id`;
  const takeSql = (max) =>
    `WITH c AS (SELECT id FROM ${t} WHERE status = 1 ORDER BY priority, id LIMIT ${max} FOR UPDATE SKIP LOCKED), ` +
    `d AS (DELETE FROM ${t} t USING c WHERE t.id = c.id RETURNING t.id, t.data, t.priority::float8 AS prio, t.attempts, t.created), ` +
    `h AS (UPDATE ${h} SET taken = taken + (SELECT count(*) FROM d) WHERE id = $1) SELECT * FROM d`;
  const take1 = takeSql(1);
  const take100 = takeSql(100);
  // like the library (core-base.ts, ensureStats): once 1,000 rows went through, the table gets planner statistics
  let moved = 0;
  const stats = async (n) => {
    if (moved < 1000 && (moved += n) >= 1000) await pool.query(`ANALYZE ${t}`);
  };
  const put = async (items) => {
    const data = items.map((x) => Buffer.from(JSON.stringify(x)));
    const r = await pool.query({ name: 'raw_put', text: insertSql, values: [data, data.map(() => 0), data.map(() => null), channel, table] });
    await stats(r.rows.length);
    return r.rows.map((x) => Number(x.id));
  };
  const take = async (sql) => {
    const rows = (await pool.query({ name: sql === take1 ? 'raw_take1' : 'raw_take100', text: sql, values: [owner] })).rows;
    await stats(rows.length);
    return rows.map((r) => JSON.parse(r.data.toString()));
  };
  return {
    put: async (x) => (await put([x]))[0],
    putMany: (xs) => put(xs),
    /** Like a blocking get: polls (1 ms) while the table is empty. */
    async get() {
      for (;;) {
        const [x] = await take(take1);
        if (x !== undefined) return x;
        await new Promise((r) => setTimeout(r, 1));
      }
    },
    /** Polls (1 ms) for up to `ms`; undefined when nothing came. */
    async tryGet(ms) {
      const end = performance.now() + ms;
      for (;;) {
        const [x] = await take(take1);
        if (x !== undefined) return x;
        if (performance.now() >= end) return undefined;
        await new Promise((r) => setTimeout(r, 1));
      }
    },
    getMany: () => take(take100),
    async close() {
      await pool.query(`DELETE FROM ${h} WHERE id = $1`, [owner]);
      await pool.end();
    },
  };
}
