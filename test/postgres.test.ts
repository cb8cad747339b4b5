/**
 * PostgreSQL's own tests (the shared suites run on its classes through test/helpers/classes.ts): schema creation by
 * many hosts at once, leases taken over, the pool not held by a blocked get(), and connections killed on the server
 * (`pg_terminate_backend`) in the middle of a load: typed errors for calls in flight, reconnection, nothing lost or
 * invented.
 */
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as pq from '../dist/esm/postgres.js';
import { startPg } from '../scripts/pg-server.mjs';
import { pgName } from './helpers/classes.js';
import { kill9, startWorker } from './helpers/procs.js';

const PG_URL = process.env.PG_URL;
const root = fileURLToPath(new URL('..', import.meta.url));
let seq = 0;
const fresh = (): string => `pgt_${process.pid}_${Date.now() % 100000}_${++seq}`;

describe.skipIf(!PG_URL)('postgres backend', () => {
  let admin: pg.Client;
  beforeAll(async () => {
    admin = new pg.Client(PG_URL);
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
  });

  it('many hosts (processes with their own pools) create the schema at the same moment', async () => {
    const schema = fresh();
    const code = `const { PostgresQueue } = require('persist-queue/postgres');
      (async () => { const q = await PostgresQueue.open(process.env.PG_URL, { schema: '${schema}', name: 'shared' });
      await q.put(process.pid); await q.close(); console.log('ok'); })().catch((e) => { console.error(e); process.exitCode = 1; });`;
    const runs = Array.from({ length: 4 }, () =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const c = spawn(process.execPath, ['-e', code], { cwd: root, env: process.env });
        let out = '';
        c.stdout.on('data', (d) => (out += d));
        c.stderr.on('data', (d) => (out += d));
        c.on('exit', (code) => resolve({ code, out }));
      }),
    );
    for (const r of await Promise.all(runs)) expect(r, r.out).toEqual({ code: 0, out: 'ok\n' });
    const meta = await admin.query(`SELECT value FROM "${schema}".pq_meta WHERE key = 'schema_version'`);
    expect(meta.rows).toEqual([{ value: '1' }]);
    const q = await pq.PostgresQueue.open(PG_URL!, { schema, name: 'shared' });
    expect(await q.size()).toBe(4);
    await q.close();
  });

  it('npm run demo -- --postgres: producer and consumer processes hand every item over exactly once', async () => {
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const c = spawn(process.execPath, ['examples/demo.mjs', '--postgres', '--items', '2000'], { cwd: root, env: process.env });
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      c.stderr.on('data', (d) => (out += d));
      c.on('exit', (code) => resolve({ code, out }));
    });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('PostgreSQL');
    expect(r.out).toContain('0 missing, 0 delivered twice, 0 unknown');
    expect(r.out).toContain('OK: every item arrived exactly once');
  });

  it('a client SIGKILLed while holding ack messages: their visibility lease runs out on the server and they come back', async () => {
    const location = join(tmpdir(), `pq-lease-${process.pid}-${++seq}`, 'q');
    const options = { visibilityTimeout: 800 };
    const q = await pq.PostgresAckQueue.open(PG_URL!, { name: pgName(location), ...options });
    await q.put('a');
    const w = startWorker({ role: 'hold', cls: 'PostgresAckQueue', location, options });
    expect((await w.next<{ held?: string }>((m) => 'held' in m)).held).toBe('a');
    await kill9(w);
    const killedAt = Date.now();
    const again = await q.get({ timeout: 5000 });
    const took = Date.now() - killedAt;
    // back by the lease (0.8 s), long before the killed client's holder row expires (10 s)
    expect([again.data, again.attempts]).toEqual(['a', 2]);
    expect(took).toBeLessThan(5000);
    expect(await q.ack(again)).toBe(true);
    expect(await q.size()).toBe(0);
    await q.close();
  });

  it('join() waits for the rows of a SIGKILLed autoCommit:false client after its holder expired, until they are taken again', async () => {
    const location = join(tmpdir(), `pq-join-${process.pid}-${++seq}`, 'q');
    const name = pgName(location);
    const table = `queue_${name}`.toLowerCase();
    const options = { autoCommit: false };
    const q = await pq.PostgresQueue.open(PG_URL!, { name });
    await q.put('a');
    const w = startWorker({ role: 'hold', cls: 'PostgresQueue', location, options });
    expect((await w.next<{ held?: string }>((m) => 'held' in m)).held).toBe('a');
    await kill9(w);
    // The killed client's holder lease (10 s) runs out: moved to the past on the server instead of waited for. Until
    // some get sweeps, its row is still marked taken — and it is work that will come back, so join() must wait.
    const expired = await admin.query(
      `UPDATE persist_queue.pq_holders h SET expires = now() - interval '1 second' FROM persist_queue."${table}" t WHERE t.status = 2 AND h.id = t.owner RETURNING h.id`,
    );
    expect(expired.rowCount).toBe(1);
    expect(await q.join({ timeout: 0 })).toBe(false);
    expect(await q.get({ timeout: 5000 })).toBe('a'); // the next sweep gives it back
    expect(await q.join({ timeout: 0 })).toBe(false);
    await q.taskDone();
    expect(await q.join({ timeout: 0 })).toBe(true);
    await q.close();
  });

  it('a get that starts listening finds a put committed before its LISTEN was active (re-check, not the 500 ms backstop)', async () => {
    const name = fresh();
    const putter = await pq.PostgresQueue.open(PG_URL!, { name });
    const took: number[] = [];
    for (let round = 0; round < 3; round++) {
      // a pool config: a pool, a listener and a signal of its own, so only the server can tell it of the other's put
      const waiter = await pq.PostgresQueue.open({ connectionString: PG_URL }, { name });
      await expect(waiter.get({ block: false })).rejects.toMatchObject({ code: 'ERR_QUEUE_EMPTY' }); // starts listening
      await putter.put(round); // most likely before the waiter's LISTEN is active (its connection is being made)
      // let the LISTEN become active (no event tells): without the re-check the waiter would now trust that nothing
      // was notified and skip its query until the 500 ms backstop
      await new Promise((r) => setTimeout(r, 100));
      const t0 = performance.now();
      expect(await waiter.get({ timeout: 5000 })).toBe(round);
      took.push(performance.now() - t0);
      await waiter.close();
    }
    expect(took.filter((t) => t > 250).length, `took ${took.map(Math.round).join(', ')} ms`).toBe(0);
    await putter.close();
  });

  it('an outcome from a holder whose lease was taken over changes nothing', async () => {
    const name = fresh();
    const a = await pq.PostgresAckQueue.open(PG_URL!, { name, visibilityTimeout: 100 });
    const b = await pq.PostgresAckQueue.open(PG_URL!, { name, visibilityTimeout: 100 });
    await a.put('job');
    const first = await a.get();
    const second = await b.get({ timeout: 5000 }); // after a's lease ran out on the server's clock
    expect([second.id, second.attempts]).toEqual([first.id, 2]);
    expect(await a.ack(first)).toBe(false);
    expect(await a.ackFailed(first.id)).toBe(false);
    expect(await a.nack(first.id)).toBe(false);
    expect(await b.unackCount()).toBe(1);
    expect(await b.ack(second)).toBe(true);
    expect(await b.ackedCount()).toBe(1);
    await Promise.all([a.close(), b.close()]);
  });

  it('a new table gets planner statistics once rows went through it: a claim of 100 reads the _ready index, no sort of every ready row', async () => {
    const name = fresh();
    const table = `queue_${name}`.toLowerCase();
    const q = await pq.PostgresQueue.open(PG_URL!, { name });
    const batch = Array.from({ length: 100 }, (_, i) => ({ i }));
    for (let k = 0; k < 12; k++) await q.putMany(batch);
    await q.close(); // waits for the background ANALYZE
    const stats = await admin.query(`SELECT 1 FROM pg_stats WHERE schemaname = 'persist_queue' AND tablename = $1 AND attname = 'status'`, [table]);
    expect(stats.rowCount).toBe(1);
    const plan = await admin.query(`EXPLAIN SELECT id FROM persist_queue."${table}" WHERE status = 1 ORDER BY priority, id LIMIT 100 FOR UPDATE SKIP LOCKED`);
    const text = plan.rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n');
    expect(text).toMatch(new RegExp(`Index Scan using "?${table}_ready"? `));
    expect(text).not.toMatch(/Sort/);
  });

  it("a blocked get() holds no pooled connection; close() leaves the caller's pool open", async () => {
    const pool = new pg.Pool({ connectionString: PG_URL, max: 1 });
    const name = fresh();
    const q = await pq.PostgresQueue.open(pool, { name });
    const waiting = q.get({ timeout: 5000 });
    await new Promise((r) => setTimeout(r, 200));
    const t0 = performance.now();
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    expect(performance.now() - t0).toBeLessThan(1000);
    const other = await pq.PostgresQueue.open(PG_URL!, { name });
    await other.put('wake');
    expect(await waiting).toBe('wake');
    await Promise.all([q.close(), other.close()]);
    expect((await pool.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
    await pool.end();
  });

  it('pg_terminate_backend on the queue connections mid-load: typed errors, reconnection, nothing lost or invented', async () => {
    const name = fresh();
    const appName = `pq-kill-${name}`;
    const target = { connectionString: PG_URL, application_name: appName };
    const producer = await pq.PostgresAckQueue.open(target, { name });
    const consumer = await pq.PostgresAckQueue.open(target, { name });
    const confirmed = new Set<number>();
    const uncertain = new Set<number>();
    const errors: string[] = [];
    let stop = false;
    const produce = (async () => {
      for (let n = 0; n < 300; n++) {
        try {
          await producer.put(n);
          confirmed.add(n);
        } catch (err) {
          errors.push((err as { code?: string }).code ?? String(err));
          uncertain.add(n); // may or may not have committed
        }
      }
    })();
    const got: number[] = [];
    const consume = (async () => {
      while (!stop) {
        try {
          const m = await consumer.get({ timeout: 200 });
          got.push(m.data as number);
          // an ack that fails in flight leaves the message held by this live consumer: nack it back once possible
          for (;;) {
            try {
              await consumer.ack(m);
              break;
            } catch (err) {
              errors.push((err as { code?: string }).code ?? String(err));
              await new Promise((r) => setTimeout(r, 20));
            }
          }
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (code !== 'ERR_QUEUE_EMPTY') errors.push(code ?? String(err));
        }
      }
    })();
    let kills = 0;
    for (let round = 0; round < 5; round++) {
      await new Promise((r) => setTimeout(r, 60));
      const r = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [appName]);
      kills += r.rowCount ?? 0;
    }
    await produce;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const left = await producer.readyCount().catch(() => 1);
      if (left === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    stop = true;
    await consume;
    expect(kills).toBeGreaterThan(0);
    expect(confirmed.size).toBeGreaterThan(200);
    for (const e of errors) expect(e).toBe('ERR_QUEUE_CONNECTION');
    // nothing invented: every delivered item was put, at most once unless a lost ack made it come back
    for (const v of got) expect(confirmed.has(v) || uncertain.has(v)).toBe(true);
    // nothing lost: every confirmed put was delivered
    for (const n of confirmed) expect(got).toContain(n);
    const rows = await admin.query(`SELECT count(*)::int AS n FROM persist_queue."ack_queue_${name}" WHERE status IN (1, 2)`);
    expect(rows.rows[0].n).toBe(0);
    await Promise.all([producer.close(), consumer.close()]);
  });

  it('a server restart mid-load: calls in flight fail with ERR_QUEUE_CONNECTION, the queues reconnect, nothing lost or invented', async () => {
    const server = await startPg({ own: true }); // a server of its own, to restart
    try {
      const name = fresh();
      const producer = await pq.PostgresAckQueue.open(server.url, { name });
      const consumer = await pq.PostgresAckQueue.open(server.url, { name });
      const confirmed = new Set<number>();
      const uncertain = new Set<number>();
      const errors: string[] = [];
      const got: number[] = [];
      let stop = false;
      const consume = (async () => {
        while (!stop) {
          try {
            const m = await consumer.get({ timeout: 200 });
            got.push(m.data as number);
            while (!(await consumer.ack(m).then(() => true, (e) => (errors.push(e.code), false)))) await new Promise((r) => setTimeout(r, 50));
          } catch (err) {
            const code = (err as { code?: string }).code;
            if (code !== 'ERR_QUEUE_EMPTY') errors.push(code ?? String(err));
            if (code !== 'ERR_QUEUE_EMPTY') await new Promise((r) => setTimeout(r, 50));
          }
        }
      })();
      for (let n = 0; n < 200; n++) {
        if (n === 60) await server.restart!();
        try {
          await producer.put(n);
          confirmed.add(n);
        } catch (err) {
          errors.push((err as { code?: string }).code ?? String(err));
          uncertain.add(n);
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline && (await producer.readyCount().catch(() => 1)) > 0) await new Promise((r) => setTimeout(r, 50));
      stop = true;
      await consume;
      expect(errors.length).toBeGreaterThan(0); // the restart was felt
      for (const e of errors) expect(e).toBe('ERR_QUEUE_CONNECTION');
      for (const v of got) expect(confirmed.has(v) || uncertain.has(v)).toBe(true);
      for (const n of confirmed) expect(got).toContain(n);
      expect(confirmed.size).toBeGreaterThan(150);
      await Promise.all([producer.close(), consumer.close()]);
    } finally {
      await server.stop();
    }
  });
});
