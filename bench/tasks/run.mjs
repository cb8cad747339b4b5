// The tasks part of `npm run bench`: no-op jobs end to end (enqueue N, then run them) through the library's
// TaskQueue + Worker, plainjob's and liteque's workers, and BullMQ on a private redis-server; enqueue-to-start
// latency of an idle worker; the raw better-sqlite3 ceiling of the claim/complete statements. Every measurement runs
// in fresh child processes (child.mjs) and a fresh temp dir. See bench/README.md ("Tasks").
import { fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { loadTaskModule, TASK_MODULES } from './adapters/index.mjs';
import { RAW_VARIANTS } from './raw.mjs';
import { startRedis } from './redis.mjs';
import { freshDir, removeDir } from '../lib/tmp.mjs';
import { median, percentile as pct, spreadPct, fmtRate } from '../lib/stats.mjs';

const CHILD = fileURLToPath(new URL('./child.mjs', import.meta.url));
const wall = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Defaults of the tasks part (a `--quick` run shrinks them). */
export function taskSettings(opts) {
  const q = opts.quick;
  return {
    n: opts.tasksN ?? (q ? 2000 : 20000),
    runs: opts.runs,
    durability: 'normal',
    batch: 1000,
    procs: [1, 4],
    concurrency: [1, 16],
    capMs: q ? 4000 : 6000,
    rawCapMs: q ? 3000 : 4000,
    pollMs: { throughput: 10, latency: 1000 },
    lat: { samples: opts.latSamples ?? (q ? 30 : 100), capMs: q ? 6000 : 12000, gapMs: [20, 80], warm: 3 },
    rawN: opts.tasksN ?? (q ? 2000 : 20000),
  };
}

// Children still running when the bench exits (Ctrl-C, a crash) are killed with it.
const live = new Set();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** Forks child.mjs; `wait(key)` resolves with the first message that has m[key]; rejects on {error} or exit. */
function startChild(arg) {
  const child = fork(CHILD, [JSON.stringify(arg)], { stdio: ['ignore', 'inherit', 'pipe', 'ipc'], execArgv: ['--no-warnings'] });
  live.add(child);
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  const listeners = new Set();
  let failure = null;
  const fail = (e) => {
    failure ??= e;
    for (const l of listeners) l.reject(failure);
  };
  child.on('message', (m) => {
    if (m.error) return fail(new Error(`${arg.role}: ${m.error}`));
    for (const l of [...listeners]) if (l.key in m) l.resolve(m);
  });
  child.on('exit', (code, sig) => {
    live.delete(child);
    const tail = stderr.trim().split('\n').slice(-2).join(' | ');
    fail(new Error(`${arg.role} exited (${sig ?? code})${tail ? `: ${tail}` : ''}`));
  });
  return {
    child,
    send: (m) => child.connected && child.send(m),
    listen(key, fn) {
      const l = { key, resolve: fn, reject() {} };
      listeners.add(l);
      return () => listeners.delete(l);
    },
    wait(key, timeoutMs = 120000) {
      return new Promise((resolve, reject) => {
        if (failure) return reject(failure);
        const t = setTimeout(() => done(reject, new Error(`${arg.role}: no '${key}' within ${timeoutMs / 1000} s`)), timeoutMs);
        const l = { key, resolve: (m) => done(resolve, m), reject: (e) => done(reject, e) };
        const done = (f, x) => {
          clearTimeout(t);
          listeners.delete(l);
          f(x);
        };
        listeners.add(l);
      });
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

async function oneShot(arg, key, timeoutMs) {
  const c = startChild(arg);
  try {
    return await c.wait(key, timeoutMs);
  } finally {
    c.kill();
  }
}

/**
 * The enqueue step of one run: N jobs through the system's own enqueue API in one process. For the SQLite systems
 * (`copyable`) it runs once per run index and the closed database is kept as a template that every row of that run
 * index copies (the enqueue does not depend on how many processes or slots then run the jobs); Redis is filled anew.
 */
async function enqueueStep(sys, s, ctx, dir) {
  const base = { module: sys.id, dir, durability: s.durability, redisPort: ctx.redisPort };
  const m = await oneShot({ ...base, role: 'enqueue', n: s.n, batch: s.batch }, 'done', 300000);
  return { dir, ms: m.ms };
}

function copyDir(from, to) {
  for (const f of fs.readdirSync(from)) fs.copyFileSync(path.join(from, f), path.join(to, f));
}

/** One end-to-end run: N jobs enqueued (or a template copied), then `procs` worker processes run them. */
async function throughputRun(sys, s, ctx, { procs, concurrency, template }) {
  const dir = freshDir(ctx.root, `tasks-${sys.id}`);
  const base = { module: sys.id, dir, durability: s.durability, redisPort: ctx.redisPort };
  const kids = [];
  try {
    let enq;
    if (template) {
      copyDir(template.dir, dir);
      enq = template;
    } else enq = await enqueueStep(sys, s, ctx, dir);
    const per = { module: sys.id, n: s.n, capMs: s.capMs, concurrency, pollMs: s.pollMs.throughput, untilIdle: sys.id === 'persist-queue' && procs === 1 };
    for (let p = 0; p < procs; p++) kids.push(startChild({ ...base, ...per, role: 'work' }));
    await Promise.all(kids.map((k) => k.wait('ready')));
    const counts = kids.map(() => 0);
    let reached;
    const all = new Promise((r) => (reached = r));
    kids.forEach((k, i) =>
      k.listen('progress', (m) => {
        counts[i] = m.count;
        if (counts.reduce((x, y) => x + y, 0) >= s.n) reached(true);
      }),
    );
    // A child that hits its own time cap sends 'final' without waiting for 'stop': listen before 'go'.
    const finals = kids.map((k) => k.wait('final', s.capMs + 180000));
    for (const f of finals) f.catch(() => {});
    const t0 = wall();
    for (const k of kids) k.send('go');
    const failed = Promise.race(kids.map((k) => k.wait('never', s.capMs + 600000)));
    const capped = await Promise.race([all.then(() => false), sleep(s.capMs).then(() => true), failed]);
    for (const k of kids) k.send('stop');
    const fin = await Promise.all(finals);
    const done = fin.reduce((x, f) => x + f.count, 0);
    const end = Math.max(...fin.map((f) => Math.max(f.lastAt || 0, f.idleAt || 0)));
    const runMs = end - t0;
    if (!capped && done < s.n) throw new Error(`completed ${done} of ${s.n}`);
    if (done > s.n) throw new Error(`${done} completions for ${s.n} jobs`);
    return { enqueueMs: enq.ms, runMs, n: done, capped: capped && done < s.n, enq: s.n / (enq.ms / 1000), run: done / (runMs / 1000), e2e: s.n / (enq.ms / 1000 + s.n / (done / (runMs / 1000))) };
  } finally {
    for (const k of kids) k.kill();
    removeDir(dir);
  }
}

/** Enqueue-to-start latency of an idle worker (concurrency 1), in the enqueuing process or another one. */
async function latencyRun(sys, s, ctx, mode) {
  const dir = freshDir(ctx.root, `lat-${sys.id}`);
  const base = { module: sys.id, dir, durability: s.durability, redisPort: ctx.redisPort, pollMs: s.pollMs.latency };
  const kids = [];
  // A polling worker that just finished a job sleeps a whole poll interval: a pause shorter than that would always
  // land at the same phase of its sleep. Its pause is spread over one whole interval instead.
  const gapMs = sys.polls ? [s.lat.gapMs[0], s.lat.gapMs[0] + s.pollMs.latency] : s.lat.gapMs;
  try {
    await oneShot({ ...base, role: 'enqueue', n: 0, batch: 1 }, 'done', 120000);
    if (mode === 'same') {
      const c = startChild({ ...base, role: 'lat-same', samples: s.lat.samples, capMs: s.lat.capMs, gapMs, warm: s.lat.warm });
      kids.push(c);
      await c.wait('ready');
      c.send('go');
      const fin = await c.wait('final', s.lat.capMs + 120000);
      return { lats: fin.lats };
    }
    const w = startChild({ ...base, role: 'lat-work' });
    const e = startChild({ ...base, role: 'lat-enqueue' });
    kids.push(w, e);
    await Promise.all([w.wait('ready'), e.wait('ready')]);
    const lats = [];
    const t0 = performance.now();
    for (let i = -s.lat.warm; i < s.lat.samples; i++) {
      if (i >= 0 && performance.now() - t0 > s.lat.capMs && lats.length >= 10) break;
      await sleep(gapMs[0] + Math.random() * (gapMs[1] - gapMs[0]));
      const started = w.wait('started', 30000);
      e.send({ enqueue: i });
      const m = await started;
      if (m.i !== i) throw new Error(`job ${m.i} started while waiting for ${i}`);
      if (i >= 0) lats.push(m.lat);
    }
    const stops = [w.wait('final', 30000), e.wait('final', 30000)];
    w.send('stop');
    e.send('stop');
    await Promise.all(stops);
    return { lats };
  } finally {
    for (const k of kids) k.kill();
    removeDir(dir);
  }
}

export async function runTasksBench({ opts, root, log }) {
  const s = taskSettings(opts);
  const pick = opts.taskSystems;
  const redis = !pick || pick.has('bullmq') ? await startRedis(root) : { error: 'not selected' };
  if (redis.error && (!pick || pick.has('bullmq'))) log(`tasks: BullMQ skipped: ${redis.error}`);
  const ctx = { root, redisPort: redis.port };
  const systems = [];
  for (const name of Object.keys(TASK_MODULES)) {
    if (pick && !pick.has(name)) continue;
    try {
      systems.push(await (await loadTaskModule(name)).describe({ pollMs: s.pollMs, redis }));
    } catch (e) {
      systems.push({ id: name, kind: 'peer', label: name, skip: `adapter failed to load: ${e.message}` });
    }
  }
  for (const x of systems.filter((y) => y.skip)) log(`tasks: skip ${x.id}: ${x.skip}`);
  const runnable = systems.filter((x) => !x.skip);
  const throughput = [];
  const latency = [];
  const raw = [];
  try {
    // ---- raw ceiling ----
    if (!pick || pick.has('raw')) {
      for (const v of RAW_VARIANTS) {
        const runs = [];
        const done = [];
        let note = '';
        for (let r = 0; r < s.runs; r++) {
          const dir = freshDir(root, `raw-${v.id}`);
          try {
            const m = await oneShot({ role: 'raw', dir, n: s.rawN, durability: s.durability, variant: v.id, capMs: s.rawCapMs }, 'final', 300000);
            runs.push(m.rate);
            done.push(m.n);
            note = m.how;
          } catch (e) {
            note = `error: ${String(e.message).slice(0, 300)}`;
            break;
          } finally {
            removeDir(dir);
          }
        }
        const nDone = median(done);
        if (done.some((x) => x < s.rawN)) note = `time cap: median ${Math.round(nDone)} of ${s.rawN} done; ${note}`;
        const row = { variant: v.id, what: v.what, runs, med: median(runs), spread: spreadPct(runs), note, ok: runs.length > 0 };
        raw.push(row);
        log(`tasks raw ${v.id.padEnd(7)} ${row.ok ? `${fmtRate(row.med)} jobs/s` : row.note}`);
      }
    }
    // ---- end to end ----
    const templates = new Map();
    for (const sys of runnable.filter((x) => x.copyable)) {
      const list = [];
      for (let r = 0; r < s.runs; r++) {
        try {
          list.push(await enqueueStep(sys, s, ctx, freshDir(root, `tpl-${sys.id}`)));
        } catch (e) {
          log(`tasks enqueue ${sys.id}: ${e.message}`);
          break;
        }
      }
      if (list.length === s.runs) templates.set(sys.id, list);
      log(`tasks enqueue ${sys.id.padEnd(14)} ${list.map((t) => `${fmtRate(s.n / (t.ms / 1000))}/s`).join(', ')} (templates for the runs)`);
    }
    for (const procs of s.procs) {
      for (const concurrency of s.concurrency) {
        for (const sys of runnable) {
          const row = { sysId: sys.id, procs, concurrency, runs: [], ok: true, note: '' };
          for (let r = 0; r < s.runs; r++) {
            try {
              row.runs.push(await throughputRun(sys, s, ctx, { procs, concurrency, template: templates.get(sys.id)?.[r] }));
            } catch (e) {
              row.ok = row.runs.length > 0;
              row.note = `error: ${String(e.message).slice(0, 300)}`;
              break;
            }
          }
          if (row.runs.length) {
            for (const k of ['enq', 'run', 'e2e']) row[k] = median(row.runs.map((x) => x[k]));
            row.spread = spreadPct(row.runs.map((x) => x.run));
            row.nDone = median(row.runs.map((x) => x.n));
            row.capped = row.runs.some((x) => x.capped);
          }
          throughput.push(row);
          const figs = row.runs.length ? `enqueue ${fmtRate(row.enq)}/s, run ${fmtRate(row.run)}/s, e2e ${fmtRate(row.e2e)}/s${row.capped ? ` (capped, n=${row.nDone})` : ''}` : row.note;
          log(`tasks e2e ${procs}p x c${String(concurrency).padEnd(2)} ${sys.id.padEnd(14)} ${figs}${row.ok && row.note ? ` [${row.note}]` : ''}`);
        }
      }
    }
    // ---- latency ----
    for (const mode of ['same', 'other']) {
      for (const sys of runnable) {
        const row = { sysId: sys.id, mode, ok: true, note: '' };
        try {
          const { lats } = await latencyRun(sys, s, ctx, mode);
          Object.assign(row, { n: lats.length, p50: pct(lats, 50), p99: pct(lats, 99), max: Math.max(...lats), min: Math.min(...lats) });
        } catch (e) {
          Object.assign(row, { ok: false, note: `error: ${String(e.message).slice(0, 300)}` });
        }
        latency.push(row);
        log(`tasks latency ${mode.padEnd(5)} ${sys.id.padEnd(14)} ${row.ok ? `p50 ${row.p50.toFixed(2)} ms, p99 ${row.p99.toFixed(2)} ms (n=${row.n})` : row.note}`);
      }
    }
    for (const list of templates.values()) for (const t of list) removeDir(t.dir);
  } finally {
    if (redis.stop) await redis.stop();
  }
  return { settings: s, systems, throughput, latency, raw, redis: { version: redis.version ?? null, error: redis.error ?? null } };
}
