// Probe: how SQLite's own lock wait shares one database among several writing processes at synchronous=FULL, without
// the queue. Each of P processes runs, for `--seconds`, one-row write transactions (BEGIN IMMEDIATE, INSERT of a
// `--bytes` blob, COMMIT: one WAL fsync each, as a put of workload (d) at 'full'). Two ways to wait for the write lock:
//   sqlite  busy_timeout = 10000: SQLite's busy handler sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms between
//           attempts (what plainjob and this library's sync SQLite classes use).
//   short   busy_timeout = 0, and the caller retries after a sleep that starts at 0.1 ms and doubles up to 1 ms.
//   lib     this library's SqliteQueueSync (durability 'full', default busyTimeout 10 s), one put() per transaction
//           (needs `npm run build`): it waits inside SQLite, as `sqlite` does.
//   libAsync SqliteQueue, the same with `await put()`: SQLite waits at most 5 ms, then the shell retries on timers.
//
//   node bench/probes/sqlite-contention.mjs [--procs 8] [--seconds 3] [--bytes 120] [--runs 3]
//
// It prints transactions/s over all processes, the commits of the slowest and fastest process, the time one
// transaction took from its first attempt (p50 / p99 / max), and how many gave up on the lock (SQLITE_BUSY or
// ERR_QUEUE_LOCKED after waiting the whole busy timeout). See bench/README.md ("Probes").
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { percentile } from '../lib/stats.mjs';

const Database = createRequire(import.meta.url)('better-sqlite3');

function open(file, busyMs) {
  const db = new Database(file, { timeout: busyMs });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma(`busy_timeout = ${busyMs}`);
  return db;
}

async function writer(file, variant, bytes) {
  if (variant === 'lib' || variant === 'libAsync') {
    const { SqliteQueue, SqliteQueueSync } = await import('../../dist/esm/index.js');
    const q = variant === 'lib' ? SqliteQueueSync.open(file, { durability: 'full' }) : await SqliteQueue.open(file, { durability: 'full' });
    const item = 'x'.repeat(bytes);
    return { once: () => q.put(item), close: () => q.close() };
  }
  const db = open(file, variant === 'sqlite' ? 10000 : 0);
  const insert = db.prepare('INSERT INTO q (data) VALUES (?)');
  const tx = db.transaction((b) => insert.run(b));
  const blob = Buffer.alloc(bytes, 120);
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const once = () => {
    let pause = 0.1;
    for (;;) {
      try {
        return tx.immediate(blob);
      } catch (err) {
        if (variant === 'sqlite' || err.code !== 'SQLITE_BUSY') throw err;
        Atomics.wait(cell, 0, 0, pause);
        pause = Math.min(pause * 2, 1);
      }
    }
  };
  return { once, close: () => db.close() };
}

async function child(w, ms) {
  const lat = [];
  let gaveUp = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const t0 = performance.now();
    try {
      await w.once();
      lat.push(performance.now() - t0);
    } catch (err) {
      if (err.code !== 'SQLITE_BUSY' && err.code !== 'ERR_QUEUE_LOCKED') throw err;
      gaveUp++;
    }
  }
  await w.close();
  return { lat, gaveUp };
}

async function run(variant, procs, ms, bytes) {
  const dir = mkdtempSync(join(tmpdir(), 'pq-probe-'));
  const file = join(dir, 'probe.db');
  if (!variant.startsWith('lib')) {
    const db = open(file, 10000);
    db.exec('CREATE TABLE q (_id INTEGER PRIMARY KEY AUTOINCREMENT, data BLOB)');
    db.close();
  }
  try {
    const kids = Array.from({ length: procs }, () => fork(new URL(import.meta.url).pathname, ['--child', file, variant, String(ms), String(bytes)]));
    await Promise.all(kids.map((k) => new Promise((r) => k.once('message', r))));
    for (const k of kids) k.send('go');
    const res = await Promise.all(kids.map((k) => new Promise((r) => k.once('message', r))));
    const counts = res.map((x) => x.lat.length).sort((a, b) => a - b);
    const gaveUp = res.reduce((a, x) => a + x.gaveUp, 0);
    return { rate: (counts.reduce((a, b) => a + b, 0) / ms) * 1000, min: counts[0], max: counts[counts.length - 1], lat: res.flatMap((x) => x.lat), gaveUp };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  const [, , file, variant, ms, bytes] = process.argv.slice(1);
  const w = await writer(file, variant, Number(bytes));
  process.send('ready');
  process.once('message', async () => {
    const res = await child(w, Number(ms));
    process.send(res, () => process.exit(0));
  });
} else {
  const opts = { procs: '8', seconds: '3', bytes: '120', runs: '3' };
  const { values } = parseArgs({ options: Object.fromEntries(Object.entries(opts).map(([k, d]) => [k, { type: 'string', default: d }])) });
  const [procs, seconds, bytes, runs] = [values.procs, values.seconds, values.bytes, values.runs].map(Number);
  console.log(`${procs} processes writing for ${seconds} s, ${bytes}-byte items, synchronous=FULL\n`);
  console.log(`| lock wait | transactions/s (median of ${runs}) | commits of the slowest / fastest process | one transaction p50 / p99 / max (ms) | gave up |`);
  console.log('| --- | --- | --- | --- | --- |');
  for (const variant of ['sqlite', 'short', 'lib', 'libAsync']) {
    const got = [];
    for (let r = 0; r < runs; r++) got.push(await run(variant, procs, seconds * 1000, bytes));
    got.sort((a, b) => a.rate - b.rate);
    const m = got[Math.floor(got.length / 2)];
    const label = { sqlite: "SQLite's busy handler (busy_timeout 10 s)", short: 'busy_timeout 0, retry after 0.1-1 ms', lib: 'SqliteQueueSync put()', libAsync: 'SqliteQueue await put()' }[variant];
    const f = (x) => (x < 10 ? x.toFixed(2) : Math.round(x));
    console.log(`| ${label} | ${Math.round(m.rate)} | ${m.min} / ${m.max} | ${f(percentile(m.lat, 50))} / ${f(percentile(m.lat, 99))} / ${f(m.lat.reduce((a, b) => Math.max(a, b), 0))} | ${m.gaveUp} |`);
  }
}
