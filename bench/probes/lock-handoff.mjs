// Probe: what the file queue's locking protocol can do at durability 'full' with several processes, without the
// queue. Each of P processes repeats: take the lock file (O_CREAT|O_EXCL; on EEXIST sleep `poll` ms and try again),
// create its token, list tokens/, read what the others appended, append one 150-byte record, fdatasync, remove its
// token and the lock file. Variant "after": the fdatasync runs after the lock was given back (other processes' work
// and fsyncs overlap it). Baseline: one process appending + fdatasync with no lock.
//
//   node bench/probes/lock-handoff.mjs [--procs 8] [--ops 500] [--poll 2] [--runs 3]
//
// It prints ops/s (every op is one fsynced append, as a put or a get of workload (d) at 'full') and the fdatasync
// latency. See bench/README.md ("Probes") for what the figures were used for.
import { fork } from 'node:child_process';
import { closeSync, fdatasyncSync, fstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { percentile } from '../lib/stats.mjs';

const RECORD = Buffer.alloc(150, 120);

function child(dir, ops, poll, after) {
  const me = String(process.pid);
  const ia = new Int32Array(new SharedArrayBuffer(4));
  const fd = openSync(join(dir, 'seg'), 'a');
  const rfd = openSync(join(dir, 'seg'), 'r');
  let pos = 0;
  const lat = [];
  for (let i = 0; i < ops; i++) {
    for (;;) {
      try {
        closeSync(openSync(join(dir, 'lock'), 'wx'));
        break;
      } catch {
        Atomics.wait(ia, 0, 0, poll);
      }
    }
    closeSync(openSync(join(dir, 'tokens', me), 'a'));
    readdirSync(join(dir, 'tokens'));
    const end = fstatSync(rfd).size;
    if (end > pos) {
      const b = Buffer.allocUnsafe(end - pos);
      readSync(rfd, b, 0, end - pos, pos);
      pos = end;
    }
    writeSync(fd, RECORD);
    let t = 0;
    if (!after) {
      t = performance.now();
      fdatasyncSync(fd);
      lat.push(performance.now() - t);
    }
    unlinkSync(join(dir, 'tokens', me));
    unlinkSync(join(dir, 'lock'));
    if (after) {
      t = performance.now();
      fdatasyncSync(fd);
      lat.push(performance.now() - t);
    }
  }
  return lat;
}

function single(dir, ops) {
  const fd = openSync(join(dir, 'seg'), 'a');
  const lat = [];
  for (let i = 0; i < ops; i++) {
    writeSync(fd, RECORD);
    const t = performance.now();
    fdatasyncSync(fd);
    lat.push(performance.now() - t);
  }
  closeSync(fd);
  return lat;
}

async function run(variant, procs, ops, poll) {
  const dir = mkdtempSync(join(tmpdir(), 'pq-probe-'));
  mkdirSync(join(dir, 'tokens'));
  closeSync(openSync(join(dir, 'seg'), 'a'));
  try {
    if (variant === 'single') {
      const t0 = performance.now();
      const lat = single(dir, ops * procs);
      return { ops: lat.length, ms: performance.now() - t0, lat };
    }
    const kids = Array.from({ length: procs }, () => fork(new URL(import.meta.url).pathname, ['--child', dir, String(ops), String(poll), variant]));
    await Promise.all(kids.map((k) => new Promise((r) => k.once('message', r))));
    const t0 = performance.now();
    for (const k of kids) k.send('go');
    const lats = await Promise.all(kids.map((k) => new Promise((r) => k.once('message', r))));
    const ms = performance.now() - t0;
    const lat = lats.flat();
    return { ops: lat.length, ms, lat };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  const [, , dir, ops, poll, variant] = process.argv.slice(1);
  process.send('ready');
  process.once('message', () => {
    const lat = child(dir, Number(ops), Number(poll), variant === 'after');
    process.send(lat, () => process.exit(0));
  });
} else {
  const { values } = parseArgs({ options: { procs: { type: 'string', default: '8' }, ops: { type: 'string', default: '500' }, poll: { type: 'string', default: '2' }, runs: { type: 'string', default: '3' } } });
  const [procs, ops, poll, runs] = [values.procs, values.ops, values.poll, values.runs].map(Number);
  console.log(`| variant | ops/s (median of ${runs}) | fdatasync p50 / p99 (µs) |`);
  console.log('| --- | --- | --- |');
  for (const variant of ['single', 'inside', 'after']) {
    const got = [];
    for (let r = 0; r < runs; r++) got.push(await run(variant, procs, ops, poll));
    got.sort((a, b) => a.ops / a.ms - b.ops / b.ms);
    const m = got[Math.floor(got.length / 2)];
    const label = variant === 'single' ? '1 process, no lock' : `${procs} processes, lock per op, fdatasync ${variant === 'inside' ? 'holding the lock' : 'after giving it back'} (poll ${poll} ms)`;
    console.log(`| ${label} | ${Math.round((m.ops / m.ms) * 1000)} | ${Math.round(percentile(m.lat, 50) * 1000)} / ${Math.round(percentile(m.lat, 99) * 1000)} |`);
  }
}
