// The task systems of the PostgreSQL rows, each in a schema of its own on the same server (dropped afterwards):
// persist-queue (TaskQueue + Worker), pg-boss (send + work) and graphile-worker (addJob + run). All unbatched: one job
// per enqueue call (each awaited), one job per claim (pg-boss batchSize 1; graphile-worker's default one-at-a-time
// get_job, no local queue). `durability: 'normal'` = synchronous_commit off on every connection of the system.
// A run ends when the system has recorded all N jobs as done (or at the time cap): persist-queue's 'completed' event
// (after the outcome is written), graphile-worker's 'job:complete' event; pg-boss has no per-job event, so its
// handler counts and the run ends when its job table says N completed (polled every 10 ms once N handlers ran).
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { TaskQueue, Worker } from '../../dist/esm/postgres.js';
import { load } from './peers/load.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const withDurability = (url, durability) => (durability === 'normal' ? `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent('-c synchronous_commit=off')}` : url);

/** Waits until `count()` reaches n or the cap; { done, ms } from `t0`. */
async function until(n, capMs, t0, count, lastAt) {
  while (count() < n && performance.now() - t0 < capMs) await sleep(5);
  return { done: Math.min(count(), n), ms: (lastAt() || performance.now()) - t0 };
}

async function dropSchema(url, schema) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end();
  }
}

const systems = {
  async 'persist-queue'(job) {
    const q = await TaskQueue.open(job.url, { name: 'bench', schema: job.schema, durability: job.durability });
    let w;
    return {
      enqueue: (d) => q.enqueue('noop', d),
      async run({ n, concurrency, capMs }) {
        let done = 0;
        let lastAt = 0;
        w = new Worker(q, { noop: () => null }, { concurrency });
        w.on('completed', () => {
          done++;
          lastAt = performance.now();
        });
        const t0 = performance.now();
        w.start();
        return until(n, capMs, t0, () => done, () => lastAt);
      },
      async close() {
        await w?.stop();
        await q.close();
        await dropSchema(job.url, job.schema);
      },
    };
  },

  async 'pg-boss'(job) {
    const mod = await load('pg-boss');
    const PgBoss = mod.PgBoss ?? mod.default;
    const url = withDurability(job.url, job.durability);
    const boss = new PgBoss({ connectionString: url, schema: job.schema, supervise: false, schedule: false });
    boss.on('error', () => undefined);
    await boss.start();
    await boss.createQueue('noop');
    const admin = new pg.Pool({ connectionString: job.url, max: 1 });
    return {
      enqueue: (d) => boss.send('noop', d),
      async run({ n, concurrency, capMs }) {
        let started = 0;
        const handler = async () => {
          started++;
        };
        const t0 = performance.now();
        // localConcurrency slots, each fetching one job at a time; 0.5 s is the shortest poll interval pg-boss allows
        // (it fetches again at once while jobs come back)
        await boss.work('noop', { batchSize: 1, localConcurrency: concurrency, pollingIntervalSeconds: 0.5 }, handler);
        let completed = 0;
        let lastAt = 0;
        while (completed < n && performance.now() - t0 < capMs) {
          await sleep(started >= n ? 10 : 50);
          const r = await admin.query(`SELECT count(*)::int AS n FROM "${job.schema}".job WHERE name = 'noop' AND state = 'completed'`);
          if (r.rows[0].n > completed) lastAt = performance.now();
          completed = r.rows[0].n;
        }
        return { done: Math.min(completed, n), ms: (lastAt || performance.now()) - t0 };
      },
      async close() {
        await boss.stop({ graceful: false, wait: true }).catch(() => undefined);
        await admin.end();
        await dropSchema(job.url, job.schema);
      },
    };
  },

  async 'graphile-worker'(job) {
    const gw = await load('graphile-worker');
    const url = withDurability(job.url, job.durability);
    const logger = new gw.Logger(() => () => undefined);
    const utils = await gw.makeWorkerUtils({ connectionString: url, schema: job.schema, logger });
    await utils.migrate();
    let runner;
    return {
      enqueue: (d) => utils.addJob('noop', d),
      async run({ n, concurrency, capMs }) {
        let done = 0;
        let lastAt = 0;
        const events = new EventEmitter();
        events.on('job:complete', () => {
          done++;
          lastAt = performance.now();
        });
        const t0 = performance.now();
        runner = await gw.run({ connectionString: url, schema: job.schema, concurrency, noHandleSignals: true, logger, events, taskList: { noop: async () => undefined } });
        return until(n, capMs, t0, () => done, () => lastAt);
      },
      async close() {
        await runner?.stop();
        await utils.release();
        await dropSchema(job.url, job.schema);
      },
    };
  },
};

/** Opens `job.system` on `job.url` in schema `job.schema`. */
export function openTaskSystem(job) {
  const open = systems[job.system];
  if (!open) throw new Error(`unknown task system ${job.system}`);
  return open(job);
}

/** Versions of the peers (for the report), or null when not installed. */
export function peerVersions() {
  const out = {};
  for (const name of ['pg-boss', 'graphile-worker']) {
    try {
      out[name] = JSON.parse(readFileSync(new URL(`./peers/node_modules/${name}/package.json`, import.meta.url), 'utf8')).version;
    } catch {
      out[name] = null;
    }
  }
  return out;
}
