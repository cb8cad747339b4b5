// Wake-up latency of one library class: how long after a put returns a consumer that is blocked in get() has the
// item. Two setups: "same process" (a Promise class's get() pending while another instance of the same process puts;
// a sync class cannot wait and put in one thread, so it has none) and "cross-process" (a child process of the same
// class blocked in get(), the put in this process). Every put carries the wall-clock time it was issued
// (performance.timeOrigin + now(), comparable across processes); latency = receive time - that time - the put's own
// duration is NOT subtracted (what a user sees: from calling put() to the other side holding the item).
// Puts are spaced by 5-25 ms (random), so the consumer is really asleep in get() when the item comes.
// argv[2] = JSON { module, id, samples, root }   (parent)  |  { child: true, module, id, dir } (consumer child)
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { findSystem } from '../adapters/index.mjs';
import { percentile as pct } from '../lib/stats.mjs';
import { freshDir, removeDir } from '../lib/tmp.mjs';

const a = JSON.parse(process.argv[2]);
const wall = () => performance.timeOrigin + performance.now();
const send = (m) => new Promise((r) => process.send(m, r));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function consumerChild() {
  const { mod, sys } = await findSystem(a.module, a.id);
  const q = await mod.openSystem(sys, a.dir);
  const lat = [];
  process.on('message', async (m) => {
    if (m === 'stop') {
      await send({ lat });
      await q.close();
      process.exit(0);
    }
  });
  await send({ ready: true });
  for (;;) {
    // A sync get blocks the thread: short waits, and a turn of the event loop after each, so 'stop' gets through.
    const it = q.sync ? q.tryGet(200) : await q.tryGet(200);
    if (it !== undefined && it !== null) {
      lat.push(wall() - it.t);
      if (lat.length % 10 === 0) await send({ count: lat.length });
    }
    if (q.sync) await new Promise((r) => setImmediate(r));
  }
}

async function crossProcess(mod, sys, samples) {
  const dir = freshDir(a.root, `${sys.id}-wake-x`);
  const q = await mod.openSystem(sys, dir);
  const child = fork(fileURLToPath(import.meta.url), [JSON.stringify({ child: true, module: a.module, id: a.id, dir })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let got = 0;
  let result;
  const ready = new Promise((r) => child.on('message', (m) => {
    if (m.ready) r();
    if (m.count) got = m.count;
    if (m.lat) result = m.lat;
  }));
  await ready;
  await sleep(200);
  for (let i = 0; i < samples; i++) {
    await sleep(5 + Math.random() * 20);
    const it = { t: wall(), i };
    if (q.sync) q.put(it);
    else await q.put(it);
  }
  const end = Date.now() + 10000;
  while (got < samples - (samples % 10) && Date.now() < end) await sleep(20);
  await sleep(100);
  child.send('stop');
  await new Promise((r) => child.on('exit', r));
  await q.close();
  removeDir(dir);
  return result ?? [];
}

async function sameProcess(mod, sys, samples) {
  const dir = freshDir(a.root, `${sys.id}-wake-s`);
  const prod = await mod.openSystem(sys, dir);
  const cons = await mod.openSystem(sys, dir);
  const lat = [];
  let done = false;
  const loop = (async () => {
    while (!done) {
      const it = await cons.tryGet(1000);
      if (it !== undefined && it !== null) lat.push(wall() - it.t);
    }
  })();
  await sleep(100);
  for (let i = 0; i < samples; i++) {
    await sleep(5 + Math.random() * 20);
    await prod.put({ t: wall(), i });
  }
  await sleep(100);
  done = true;
  await loop;
  await prod.close();
  await cons.close();
  removeDir(dir);
  return lat;
}

async function main() {
  if (a.child) return consumerChild();
  const { mod, sys } = await findSystem(a.module, a.id);
  if (sys.skip) return send({ ok: false, skip: sys.skip });
  const out = { ok: true };
  if (sys.promise) {
    const s = await sameProcess(mod, sys, a.samples);
    out.same = { n: s.length, p50: pct(s, 50), p99: pct(s, 99), max: Math.max(...s) };
  }
  const x = await crossProcess(mod, sys, a.samples);
  out.cross = { n: x.length, p50: pct(x, 50), p99: pct(x, 99), max: Math.max(...x) };
  await send(out);
}

main().then(
  () => process.exit(0),
  async (e) => {
    await send({ ok: false, error: String(e?.stack ?? e).split('\n').slice(0, 3).join(' | ') });
    process.exit(1);
  },
);
