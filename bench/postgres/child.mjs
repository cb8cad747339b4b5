// Every measured process of the PostgreSQL part (bench/postgres/run.mjs). argv[2] is a JSON job { role, ... }; results
// go to the parent over IPC as { result } (or { error }). Roles:
//   queue      single put/get and batches of 100 through PostgresQueue ('lib') or the same statements on a bare pg.Pool
//              ('raw', see raw.mjs)
//   produce / consume   one side of the 4+4-process row (lib or raw), started together on 'go'
//   tasks      N no-op jobs enqueued one by one, then run by one worker (persist-queue, pg-boss, graphile-worker)
import { PostgresQueue } from '../../dist/esm/postgres.js';
import { openRaw } from './raw.mjs';
import { openTaskSystem } from './task-systems.mjs';

const job = JSON.parse(process.argv[2]);
const send = (m) => new Promise((r) => process.send(m, r));
const now = () => performance.timeOrigin + performance.now();
const item = (n) => ({ n, body: 'x'.repeat(100) }); // ~120 bytes of JSON
const rate = (n, ms) => (n / ms) * 1000;
const message = (type) => new Promise((resolve) => process.on('message', (m) => m === type && resolve()));

/** The queue under test: the library's class, or the raw statements (same interface for what is timed). */
async function openQueue() {
  if (job.system === 'lib') {
    const q = await PostgresQueue.open(job.url, { name: job.name, durability: job.durability });
    return { put: (x) => q.put(x), get: () => q.get(), tryGet: (ms) => q.get({ timeout: ms }).catch((e) => (e.code === 'ERR_QUEUE_EMPTY' ? undefined : Promise.reject(e))), putMany: (xs) => q.putMany(xs), getMany: (k) => q.getMany(k), close: () => q.close() };
  }
  return openRaw(job);
}

async function timed(fn) {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function queueRole() {
  const q = await openQueue();
  for (let i = 0; i < 20; i++) await q.put(item(i)); // warm-up: connections, plans
  for (let i = 0; i < 20; i++) await q.get();
  const n = job.n;
  const putMs = await timed(async () => {
    for (let i = 0; i < n; i++) await q.put(item(i));
  });
  const getMs = await timed(async () => {
    for (let i = 0; i < n; i++) await q.get();
  });
  const nb = job.batchN;
  const batch = Array.from({ length: 100 }, (_, i) => item(i));
  const putManyMs = await timed(async () => {
    for (let i = 0; i < nb; i += 100) await q.putMany(batch);
  });
  let got = 0;
  const getManyMs = await timed(async () => {
    while (got < nb) got += (await q.getMany(100)).length;
  });
  await q.close();
  return { put: rate(n, putMs), get: rate(n, getMs), putMany: rate(nb, putManyMs), getMany: rate(nb, getManyMs) };
}

async function produceRole() {
  const q = await openQueue();
  const go = message('go');
  await send({ ready: true });
  await go;
  const t0 = now();
  for (let i = 0; i < job.count; i++) await q.put({ p: job.id, n: i, body: 'x'.repeat(90) });
  const t1 = now();
  await q.close();
  return { count: job.count, ms: t1 - t0, endAt: t1 };
}

async function consumeRole() {
  const q = await openQueue();
  const go = message('go');
  let draining = false;
  void message('drain').then(() => (draining = true));
  await send({ ready: true });
  await go;
  let count = 0;
  let lastAt = 0;
  // Until drained: a get that finds nothing after the producers are done (600 ms: beyond the 500 ms backstop).
  for (;;) {
    const drainingNow = draining; // only a get that started after 'drain' may end the loop
    const m = await q.tryGet(drainingNow ? 600 : 200);
    if (m === undefined) {
      if (drainingNow) break;
      continue;
    }
    count++;
    lastAt = now();
  }
  await q.close();
  return { count, lastAt };
}

async function tasksRole() {
  const sys = await openTaskSystem(job);
  try {
    const enqMs = await timed(async () => {
      for (let i = 0; i < job.n; i++) await sys.enqueue({ i });
    });
    const r = await sys.run({ n: job.n, concurrency: job.concurrency, capMs: job.capMs });
    return { enq: rate(job.n, enqMs), run: rate(r.done, r.ms), done: r.done, capped: r.done < job.n, e2e: rate(job.n, enqMs + (r.ms * job.n) / Math.max(1, r.done)) };
  } finally {
    await sys.close();
  }
}

const roles = { queue: queueRole, produce: produceRole, consume: consumeRole, tasks: tasksRole };
try {
  const result = await roles[job.role]();
  await send({ result });
} catch (err) {
  await send({ error: String(err?.stack ?? err).slice(0, 2000) });
}
process.disconnect();
