// Child process for workload (d): one producer or consumer on a shared queue.
// argv[2] = JSON { module, id, role: 'producer'|'consumer', count, size, dir, seq0 }
// Protocol (IPC): child -> {ready}; parent -> 'go'; producer -> {done, at};
// consumer -> {progress, count} now and then, parent -> 'stop', consumer -> {final, count, lastAt}.
// Times are epoch ms (performance.timeOrigin + now()), comparable across processes.
import { performance } from 'node:perf_hooks';
import { findSystem } from '../adapters/index.mjs';
import { makeItem } from '../lib/items.mjs';

const a = JSON.parse(process.argv[2]);
const wall = () => performance.timeOrigin + performance.now();
const send = (m) => new Promise((r) => process.send(m, r));
const tick = () => new Promise((r) => setImmediate(r));

let stop = false;
let go;
const goP = new Promise((r) => (go = r));
process.on('message', (m) => {
  if (m === 'go') go();
  if (m === 'stop') stop = true;
});

async function main() {
  const { mod, sys } = await findSystem(a.module, a.id);
  const q = await mod.openSystem(sys, a.dir);
  await send({ ready: true });
  await goP;
  if (a.role === 'producer') {
    // Puts `count` items, or as many as fit in capMs (then says how many).
    const t0 = performance.now();
    let i = 0;
    for (; i < a.count; i++) {
      const it = makeItem(a.size, a.seq0 + i);
      if (q.sync) q.put(it);
      else await q.put(it);
      if (i % 16 === 0 && performance.now() - t0 > a.capMs) {
        i++;
        break;
      }
    }
    await send({ done: true, at: wall(), count: i });
    await q.close();
    return;
  }
  let count = 0;
  let reported = 0;
  let lastAt = 0;
  while (!stop) {
    const x = q.sync ? q.tryGet(20) : await q.tryGet(20);
    if (x === undefined || x === null) {
      if (count !== reported) {
        reported = count;
        await send({ progress: true, count });
      }
      await tick();
      continue;
    }
    count++;
    lastAt = wall();
    if (count % 256 === 0) {
      reported = count;
      await send({ progress: true, count });
      await tick();
    }
  }
  await q.close();
  await send({ final: true, count, lastAt });
}

main().then(
  () => process.exit(0),
  async (e) => {
    await send({ error: String(e?.stack ?? e).split('\n').slice(0, 3).join(' | ') });
    process.exit(1);
  },
);
