// Child process: runs one single-process workload for one system, `runs` times, each
// run in a fresh temp directory, and sends the per-run results to the parent.
// argv[2] = JSON { module, id, workload: 'a'|'b'|'c'|'conc', size, n, capMs, runs, root }
import { findSystem } from '../adapters/index.mjs';
import { rawIdFor } from '../lib/plan.mjs';
import { freshDir, removeDir } from '../lib/tmp.mjs';
import * as W from '../lib/workloads.mjs';

const task = JSON.parse(process.argv[2]);
const FN = { a: W.putThenGet, b: W.interleaved, c: W.batched, conc: W.concurrency };

function send(msg) {
  return new Promise((resolve) => (process.send ? process.send(msg, resolve) : (console.log(JSON.stringify(msg)), resolve())));
}

async function main() {
  const { mod, sys } = await findSystem(task.module, task.id);
  if (sys.skip) return send({ ok: false, skip: sys.skip });
  if (mod.runExternal) {
    const r = await mod.runExternal(sys, task);
    return send(r.unsupported ? { ok: false, unsupported: r.unsupported } : { ok: true, runs: r });
  }
  const fn = FN[task.workload];
  // conc: a library class alternates with the raw ceiling of its backend in this process (workloads.mjs).
  const paired = task.workload === 'conc' && sys.kind === 'lib' ? await findSystem(rawIdFor(sys).split('/')[0], rawIdFor(sys)) : undefined;
  const runs = [];
  // Run 0 is an untimed warm-up (JIT, page cache) on a few items; runs 1..runs count.
  for (let r = -1; r < task.runs; r++) {
    const warm = r < 0;
    const dir = freshDir(task.root, `${sys.id}-${task.workload}`);
    const ceilDir = paired ? freshDir(task.root, `${paired.sys.id}-paired`) : undefined;
    let q;
    let ceiling;
    try {
      q = await mod.openSystem(sys, dir);
      if (paired) ceiling = await paired.mod.openSystem(paired.sys, ceilDir);
      const n = warm ? Math.min(task.n, sys.durability === 'full' ? 32 : 500) : task.n;
      const res = await fn(q, { n, size: task.size, capMs: warm ? 1000 : task.capMs, ceiling });
      if (res.unsupported) return send({ ok: false, unsupported: res.unsupported });
      if (!warm) runs.push(res);
    } finally {
      try {
        if (q) await q.close();
        if (ceiling) await ceiling.close();
      } finally {
        removeDir(dir);
        if (ceilDir) removeDir(ceilDir);
      }
    }
  }
  return send({ ok: true, runs });
}

main().then(
  () => process.exit(0),
  async (e) => {
    await send({ ok: false, error: String(e?.stack ?? e).split('\n').slice(0, 4).join(' | ') });
    process.exit(1);
  },
);
