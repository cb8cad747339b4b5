// Child process for the memory / open-time pass on one library class:
// put `n` items of 1 KiB one by one, close, time `opens` re-opens of the full queue
// (open only; each closed again), open once more and get all `n` back one by one.
// Reports the process's peak RSS (VmHWM from /proc/self/status, else resourceUsage
// maxRSS), fill and drain rates, and the open times.
// argv[2] = JSON { module, id, n, size, opens, root }
import fs from 'node:fs';
import { findSystem } from '../adapters/index.mjs';
import { makeItem } from '../lib/items.mjs';
import { now } from '../lib/timing.mjs';
import { freshDir, removeDir } from '../lib/tmp.mjs';

const a = JSON.parse(process.argv[2]);
const send = (m) => new Promise((r) => process.send(m, r));

function peakRss() {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {}
  return process.resourceUsage().maxRSS * 1024;
}

async function main() {
  const { mod, sys } = await findSystem(a.module, a.id);
  if (sys.skip) return send({ ok: false, skip: sys.skip });
  const dir = freshDir(a.root, `${sys.id}-mem`);
  try {
    const rssStart = peakRss();
    let q = await mod.openSystem(sys, dir);
    let t = now();
    for (let i = 0; i < a.n; i++) {
      const it = makeItem(a.size, i);
      if (q.sync) q.put(it);
      else await q.put(it);
    }
    const fillRate = a.n / ((now() - t) / 1000);
    await q.close();
    const rssAfterFill = peakRss();
    const openMs = [];
    for (let i = 0; i < a.opens; i++) {
      t = now();
      const q2 = await mod.openSystem(sys, dir);
      openMs.push(now() - t);
      await q2.close();
    }
    q = await mod.openSystem(sys, dir);
    t = now();
    for (let i = 0; i < a.n; i++) {
      const x = q.sync ? q.get() : await q.get();
      if (x == null) throw new Error(`queue ran dry after ${i} of ${a.n} items`);
    }
    const drainRate = a.n / ((now() - t) / 1000);
    await q.close();
    await send({ ok: true, peakRss: peakRss(), rssStart, rssAfterFill, fillRate, drainRate, openMs });
  } finally {
    removeDir(dir);
  }
}

main().then(
  () => process.exit(0),
  async (e) => {
    await send({ ok: false, error: String(e?.stack ?? e).split('\n').slice(0, 3).join(' | ') });
    process.exit(1);
  },
);
