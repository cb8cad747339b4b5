// Child process of the tasks benchmark. argv[2] = JSON { role, module, dir, durability, redisPort, ... }.
// Times are wall-clock ms: performance.timeOrigin + performance.now() (sub-ms resolution; comparable across
// processes to within the skew of their timeOrigins, which Node takes from the system clock at process start).
//
// Roles and IPC:
//   enqueue      { n, batch }          -> { done, ms }                      (opens with setup: makes tables / flushes Redis)
//   work         { n, concurrency, pollMs, untilIdle }
//                -> { ready }; parent 'go'; -> { progress, count, lastAt } (every 500 completions, and every 25 ms
//                   while the count changed); parent 'stop' -> { final, count, lastAt, idleAt? }
//   lat-work     { pollMs }             -> { ready }; per job -> { started, i, lat }; parent 'stop' -> { final }
//   lat-enqueue  {}                     -> { ready }; parent { enqueue: i } -> enqueues { i, t0 }, -> { enqueued, i }
//   lat-same     { samples, capMs, gapMs, warm, pollMs } -> { ready }; 'go' -> { final, lats }
//   raw          { n, variant }         -> { final, rate, n, how }
import { performance } from 'node:perf_hooks';
import { loadTaskModule } from './adapters/index.mjs';
import { runRaw } from './raw.mjs';

const a = JSON.parse(process.argv[2]);
const wall = () => performance.timeOrigin + performance.now();
const send = (m) => new Promise((r) => process.send(m, r));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const waiters = new Map();
const on = (key) => new Promise((r) => waiters.set(key, r));
process.on('message', (m) => {
  const key = typeof m === 'string' ? m : Object.keys(m)[0];
  const w = waiters.get(key);
  if (w) {
    waiters.delete(key);
    w(m);
  } else if (key === 'enqueue') enqueueQueue.push(m);
});
const enqueueQueue = [];
let failed = null;
const onError = (e) => {
  failed ??= e;
};

async function openSys(setup) {
  const mod = await loadTaskModule(a.module);
  return mod.open({ dir: a.dir, durability: a.durability, redisPort: a.redisPort, setup });
}

async function enqueueRole() {
  const sys = await openSys(true);
  const t0 = performance.now();
  for (let i = 0; i < a.n; i += a.batch) {
    const datas = [];
    for (let k = i; k < Math.min(a.n, i + a.batch); k++) datas.push({ i: k });
    await sys.enqueueMany(datas);
  }
  const ms = performance.now() - t0;
  await sys.close();
  await send({ done: true, ms });
}

async function workRole() {
  const sys = await openSys(false);
  let count = 0;
  let lastAt = 0;
  let sent = 0;
  let t0 = Infinity;
  let w = null;
  let capped = false;
  let finishing = null;
  // Stops the worker once (the parent's 'stop', or this process's own time cap: a library whose loop only ever
  // awaits settled promises starves the event loop, so the parent's message would not be read before the queue is
  // empty; the cap is checked in the completion callback instead).
  const finish = () => (finishing ??= Promise.resolve().then(() => w?.stop()));
  let capHit;
  const capP = new Promise((r) => (capHit = r));
  const report = () => {
    if (count !== sent) {
      sent = count;
      process.send({ progress: true, count, lastAt });
    }
  };
  const args = {
    concurrency: a.concurrency,
    pollMs: a.pollMs,
    handler: () => null,
    onCompleted() {
      count++;
      lastAt = wall();
      if (count % 500 === 0) report();
      if (count % 64 === 0 && !capped && lastAt - t0 > a.capMs) {
        capped = true;
        capHit();
      }
    },
    onError,
  };
  if (sys.prepareWorker) await sys.prepareWorker(args);
  const stopP = on('stop');
  await send({ ready: true });
  await on('go');
  t0 = wall();
  const timer = setInterval(report, 25);
  let idleAt;
  let idle = new Promise(() => {});
  if (a.untilIdle && sys.runUntilIdle) {
    w = sys.runUntilIdle(args);
    idle = w.idle.then(() => {
      idleAt = wall();
      report();
      if (count < a.n && !capped && !finishing && !failed) failed = new Error(`runUntilIdle() returned after ${count} of ${a.n} jobs completed`);
    });
  } else w = sys.work(args);
  await Promise.race([stopP, capP]);
  await finish();
  if (a.untilIdle && sys.runUntilIdle) await idle;
  clearInterval(timer);
  await sys.close();
  if (failed) throw failed;
  await send({ final: true, count, lastAt, idleAt, capped });
}

async function latWorkRole() {
  const sys = await openSys(false);
  const args = {
    concurrency: 1,
    pollMs: a.pollMs,
    handler(data) {
      const t = wall(); // the handler's first line
      const d = typeof data === 'string' ? JSON.parse(data) : data;
      process.send({ started: true, i: d.i, lat: t - d.t0 });
      return null;
    },
    onCompleted() {},
    onError,
  };
  if (sys.prepareWorker) await sys.prepareWorker(args);
  const stopP = on('stop');
  const w = sys.work(args);
  await send({ ready: true });
  await stopP;
  await w.stop();
  await sys.close();
  if (failed) throw failed;
  await send({ final: true });
}

async function latEnqueueRole() {
  const sys = await openSys(false);
  await send({ ready: true });
  const stopP = on('stop');
  let stopped = false;
  stopP.then(() => (stopped = true));
  while (!stopped) {
    const m = enqueueQueue.shift();
    if (!m) {
      await Promise.race([sleep(1), stopP]);
      continue;
    }
    const t0 = wall(); // just before enqueue() is called
    await sys.enqueueOne({ i: m.enqueue, t0 });
    process.send({ enqueued: true, i: m.enqueue });
  }
  await sys.close();
  await send({ final: true });
}

async function latSameRole() {
  const sys = await openSys(false);
  let wake = null;
  const lats = [];
  const args = {
    concurrency: 1,
    pollMs: a.pollMs,
    handler(data) {
      const t = wall(); // the handler's first line
      const d = typeof data === 'string' ? JSON.parse(data) : data;
      if (d.i >= 0) lats.push(t - d.t0);
      wake?.();
      return null;
    },
    onCompleted() {},
    onError,
  };
  if (sys.prepareWorker) await sys.prepareWorker(args);
  const w = sys.work(args);
  await send({ ready: true });
  await on('go');
  const t0 = performance.now();
  for (let i = -a.warm; i < a.samples; i++) {
    if (i >= 0 && performance.now() - t0 > a.capMs && lats.length >= 10) break;
    await sleep(a.gapMs[0] + Math.random() * (a.gapMs[1] - a.gapMs[0]));
    const started = new Promise((r) => (wake = r));
    const t = wall(); // just before enqueue() is called
    await sys.enqueueOne({ i, t0: t });
    let timer;
    const late = new Promise((_, rej) => (timer = setTimeout(() => rej(new Error(`job ${i} did not start within 30 s`)), 30000)));
    try {
      await Promise.race([started, late]);
    } finally {
      clearTimeout(timer);
    }
    if (failed) throw failed;
  }
  await w.stop();
  await sys.close();
  await send({ final: true, lats });
}

async function rawRole() {
  const r = await runRaw({ dir: a.dir, n: a.n, durability: a.durability, variant: a.variant, capMs: a.capMs });
  await send({ final: true, ...r });
}

const ROLES = { enqueue: enqueueRole, work: workRole, 'lat-work': latWorkRole, 'lat-enqueue': latEnqueueRole, 'lat-same': latSameRole, raw: rawRole };

ROLES[a.role]().then(
  () => process.exit(0),
  async (e) => {
    await send({ error: String(e?.stack ?? e).split('\n').slice(0, 4).join(' | ') });
    process.exit(1);
  },
);
