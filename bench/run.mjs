#!/usr/bin/env node
// persist-queue benchmark: this library's classes side by side with peer libraries and
// with the raw better-sqlite3 / fs ceilings, in one run on one machine. Writes
// docs/benchmarks.md. See bench/README.md. Usage: node bench/run.mjs [--quick] [--n 10000,100000] ...
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODULES, loadModule } from './adapters/index.mjs';
import { peerVersion } from './adapters/peers-common.mjs';
import { loadBetterSqlite3 } from './adapters/raw-sqlite.mjs';
import { parseArgs, wants, wantsQueueReport } from './lib/args.mjs';
import { runWorker } from './lib/child.mjs';
import { machineFacts } from './lib/machine.mjs';
import { runMultiProcess } from './lib/mp.mjs';
import { ensurePeers } from './lib/peers-install.mjs';
import { effectiveN, WORKLOADS } from './lib/plan.mjs';
import { renderReport } from './lib/report.mjs';
import { median, spreadPct, fmtRate } from './lib/stats.mjs';
import { makeRoot, removeDir } from './lib/tmp.mjs';
import { renderPostgresReport } from './postgres/report.mjs';
import { runPostgresBench } from './postgres/run.mjs';
import { renderTasksReport } from './tasks/report.mjs';
import { runTasksBench } from './tasks/run.mjs';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const t0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s]`, ...a);

const opts = parseArgs(process.argv.slice(2));
const root = makeRoot();
const cleanup = () => removeDir(root);
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

// ---- peers ----
let peerInstall = { ok: true, note: 'not needed (--only without peers)' };
if (wants(opts, 'peers') || wants(opts, 'tasks')) peerInstall = ensurePeers({ install: opts.install, log, tasks: wants(opts, 'tasks') });
if (!peerInstall.ok) log(`peers unavailable: ${peerInstall.note}`);

// ---- systems ----
const systems = [];
for (const name of Object.keys(MODULES)) {
  const part = name === 'persist-queue' ? 'lib' : name.startsWith('raw-') ? 'raw' : name === 'python-persistqueue' ? 'python' : 'peers';
  if (!wants(opts, part)) continue;
  try {
    const mod = await loadModule(name);
    for (const s of await mod.listSystems()) {
      if (opts.systems && !opts.systems.has(s.id) && !opts.systems.has(s.id.split('/')[0])) continue;
      if (part === 'peers' && !peerInstall.ok && !s.skip) s.skip = peerInstall.note;
      systems.push(s);
    }
  } catch (e) {
    systems.push({ id: `${name}/?`, module: name, label: name, kind: part === 'lib' ? 'lib' : part === 'raw' ? 'raw' : 'peer', skip: `adapter failed to load: ${e.message}` });
  }
}
const runnable = systems.filter((s) => !s.skip);
log(`${runnable.length} systems to run, ${systems.length - runnable.length} skipped`);
for (const s of systems.filter((x) => x.skip)) log(`  skip ${s.id}: ${s.skip}`);

// ---- measurements ----
const capMs = opts.phaseSeconds * 1000;
const results = [];
const summarize = (row) => {
  const ms = WORKLOADS[row.workload].metrics;
  row.med = {};
  row.spread = {};
  for (const m of ms) {
    row.med[m] = median(row.runs.map((r) => r[m]));
    row.spread[m] = spreadPct(row.runs.map((r) => r[m]));
  }
  // Ack queues in (a): their get and their ack are timed apart (getAck = both together, for the peers).
  // conc: the raw ceiling measured interleaved with the class in its own child, and the class's share of it.
  for (const m of ['ack', 'getAck', 'paired', 'share']) {
    if (row.runs.length && row.runs.every((r) => Number.isFinite(r[m]))) row.med[m] = median(row.runs.map((r) => r[m]));
  }
  row.nDone = median(row.runs.map((r) => r.n));
  row.capped = row.runs.some((r) => r.capped);
  return row;
};

function priorRow(sys, workload, size, nEff) {
  return results.find((r) => r.sysId === sys.id && r.workload === workload && r.size === size && r.status === 'ok' && (r.nEff === nEff || r.capped));
}

async function measure(sys, workload, size, n) {
  const nEff = effectiveN(sys, workload, n, opts);
  const row = { sysId: sys.id, workload, size, n, nEff, runs: [], status: 'ok', note: '' };
  const prev = priorRow(sys, workload, size, nEff);
  if (prev) {
    Object.assign(row, { runs: prev.runs, status: 'ok', reusedFrom: prev.n });
    row.note = prev.nEff === nEff ? `same run as N=${prev.n} (N capped to ${nEff})` : `time cap already hit at N=${prev.n}; not rerun`;
    results.push(summarize(row));
    return;
  }
  const label = `${workload === 'conc' ? 'conc' : WORKLOADS[workload].title.split(' ')[0]} ${size} N=${n}${nEff !== n ? `→${nEff}` : ''} ${sys.id}`;
  if (workload === 'd') {
    for (let r = 0; r < opts.runs; r++) {
      try {
        row.runs.push(await runMultiProcess(sys, { n: nEff, size, root, capMs, timeoutMs: capMs * 4 + 120000 }));
      } catch (e) {
        row.status = 'error';
        row.note = String(e.message).slice(0, 300);
        break;
      }
    }
  } else {
    const res = await runWorker('suite.mjs', { module: sys.module, id: sys.id, workload, size, n: nEff, capMs, runs: opts.runs, root }, { timeoutMs: capMs * 2 * (opts.runs + 1) * 3 + 120000 });
    if (res.ok) {
      row.runs = res.runs;
      if (res.runs.some((x) => x.getSingle)) row.note = 'no getMany: get phase takes items one by one';
    }
    else if (res.unsupported) Object.assign(row, { status: 'unsupported', note: res.unsupported });
    else if (res.skip) Object.assign(row, { status: 'skip', note: res.skip });
    else Object.assign(row, { status: 'error', note: String(res.error).slice(0, 300) });
  }
  if (row.status === 'ok' && row.runs.length) summarize(row);
  else if (row.status === 'ok') row.status = 'error';
  results.push(row);
  const figs = row.med ? Object.entries(row.med).map(([k, v]) => `${k}=${k === 'ratio' ? v.toFixed(1) : fmtRate(v)}`).join(' ') : `${row.status}: ${row.note}`;
  log(`${label.padEnd(58)} ${figs}${row.capped ? ` (n=${row.nDone}, time cap)` : ''}`);
}

const SIZES = ['120B', '4KiB'];
for (const workload of ['a', 'b', 'c', 'd']) {
  if (!wants(opts, workload)) continue;
  for (const size of SIZES) {
    for (const sys of runnable) {
      if (sys.module === 'python-persistqueue' && workload === 'd') continue;
      if (workload === 'd' && !sys.multiProcess) {
        results.push({ sysId: sys.id, workload, size, n: opts.n[0], status: 'unsupported', note: 'single-process only (adapter)' });
        continue;
      }
      for (const n of opts.n) await measure(sys, workload, size, n);
    }
  }
}
if (wants(opts, 'conc')) {
  for (const size of SIZES) {
    // The Promise classes, and the raw ceilings: better-sqlite3 (1 INSERT per transaction vs 64 in one) and fs (1 record
    // per write + fsync vs 64 in one write + fsync).
    const concSystems = runnable.filter((s) => s.durability === 'full' && ((s.kind === 'lib' && s.promise) || s.id === 'raw-sqlite/full' || s.id === 'raw-fs/full'));
    for (const sys of concSystems) {
      await measure(sys, 'conc', size, opts.fullN);
    }
  }
}

// ---- put wake-up latency (workers/wake.mjs) ----
const wake = [];
if (wants(opts, 'wake')) {
  for (const sys of runnable.filter((s) => s.kind === 'lib' && s.durability === 'normal')) {
    const res = await runWorker('wake.mjs', { module: sys.module, id: sys.id, samples: opts.wakeSamples, root }, { timeoutMs: 5 * 60 * 1000 });
    wake.push({ sysId: sys.id, ...(res.ok ? { status: 'ok', same: res.same, cross: res.cross } : { status: 'error', note: res.error ?? res.skip }) });
    const f = (x) => (x ? `p50 ${x.p50.toFixed(2)} / p99 ${x.p99.toFixed(2)} ms (n=${x.n})` : '–');
    log(`wake ${sys.id.padEnd(26)} ${res.ok ? `same process ${f(res.same)}; cross-process ${f(res.cross)}` : `error: ${res.error ?? res.skip}`}`);
  }
}

// ---- memory / open time ----
const memory = [];
if (wants(opts, 'mem')) {
  for (const id of ['SqliteQueueSync/normal', 'FileQueueSync/normal']) {
    const sys = systems.find((s) => s.id === id);
    if (!sys) continue;
    if (sys.skip) {
      memory.push({ sysId: id, status: 'skip', note: sys.skip });
      continue;
    }
    log(`memory pass: ${opts.memN} x 1 KiB through ${id} ...`);
    const res = await runWorker('memory.mjs', { module: sys.module, id, n: opts.memN, size: '1KiB', opens: Math.max(3, opts.runs), root }, { timeoutMs: 30 * 60 * 1000 });
    const row = { sysId: id, n: opts.memN, ...(res.ok ? { status: 'ok', ...res, openMedian: median(res.openMs) } : { status: 'error', note: res.error ?? res.skip }) };
    memory.push(row);
    log(res.ok ? `  peak RSS ${(res.peakRss / 2 ** 20).toFixed(0)} MB, open ${row.openMedian.toFixed(1)} ms, fill ${fmtRate(res.fillRate)}/s, drain ${fmtRate(res.drainRate)}/s` : `  error: ${row.note}`);
  }
}

const writeReport = (file, md) => {
  if (file === '-') return console.log(md);
  const out = path.resolve(REPO, file);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, md);
  log(`wrote ${path.relative(REPO, out)}`);
};
const queueWallSeconds = (Date.now() - t0) / 1000;

// ---- tasks part (its own report: docs/benchmarks-tasks.md) ----
let tasks = null;
if (wants(opts, 'tasks')) {
  const tt = Date.now();
  log('tasks part: no-op jobs end to end, raw claim/complete ceiling, enqueue-to-start latency');
  tasks = await runTasksBench({ opts, root, log });
  tasks.wallSeconds = (Date.now() - tt) / 1000;
}

// ---- PostgreSQL part (its own report: docs/benchmarks-postgres.md) ----
let postgres = null;
if (wants(opts, 'postgres')) {
  const tp = Date.now();
  log('PostgreSQL part: queues beside the raw pg ceiling, 4+4 processes, tasks beside pg-boss and graphile-worker');
  postgres = await runPostgresBench({ opts, log });
  postgres.wallSeconds = (Date.now() - tp) / 1000;
}

// ---- report ----
let bsv = null;
try {
  bsv = loadBetterSqlite3().version;
} catch {}
const facts = machineFacts({ tmpRoot: root, betterSqliteVersion: bsv, peerBetterSqliteVersion: peerVersion('better-sqlite3') });
if (wantsQueueReport(opts)) {
  writeReport(opts.out, renderReport({
    opts, facts, systems, results, memory, wake, peerInstall,
    argv: process.argv.slice(2), wallSeconds: queueWallSeconds, date: new Date(),
  }));
}
if (tasks) {
  writeReport(opts.tasksOut, renderTasksReport({ res: tasks, facts, argv: process.argv.slice(2), wallSeconds: tasks.wallSeconds, date: new Date(), quick: opts.quick }));
}
if (postgres) {
  writeReport(opts.postgresOut, renderPostgresReport({ res: postgres, facts, argv: process.argv.slice(2), wallSeconds: postgres.wallSeconds, date: new Date() }));
}
if (opts.json) fs.writeFileSync(path.resolve(opts.json), JSON.stringify({ opts: { ...opts, only: opts.only && [...opts.only], systems: opts.systems && [...opts.systems], taskSystems: opts.taskSystems && [...opts.taskSystems], pgSystems: opts.pgSystems && [...opts.pgSystems] }, facts, systems, results, memory, wake, tasks, postgres }, null, 1));
log(`done in ${((Date.now() - t0) / 60000).toFixed(1)} min`);
