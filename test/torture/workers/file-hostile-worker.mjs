// Child process of the hostile-bytes test for the file queues. argv[2]: JSON job.
//   role 'make': build a template queue folder with known content (keys `${prefix}-${i}`, i < count): puts (put and
//     putMany of self-checking payloads), gets, a close and reopen half-way (whose checkpoint is kept aside as
//     `${location}.stale-checkpoint`, a checkpoint of an earlier position of the log), and a put as the last record.
//     job.hold: autoCommit false, the last gets are never done and the process SIGKILLs itself (held items of a dead
//     owner). Prints nothing; the parent reads the folder.
//   role 'drain': for each of job.jobs ({ loc, cls, options }) open the queue and take everything it gives, checking
//     every value; print one JSON line per job as soon as it is done (so a crash or hang names its job). Every call is
//     recorded as ok or as an error (typed or not); the parent decides. After 3 errors in a row the drain stops.
import { copyFileSync } from 'node:fs';
import { checkPayload, makePayload, prng, recorder } from '../common.mjs';
import * as lib from '../../../dist/esm/index.js';

const job = JSON.parse(process.argv[2]);

if (job.role === 'make') {
  const rng = prng(job.seed);
  const options = { ...job.options, durability: 'off' };
  let q = lib.FileQueueSync.open(job.location, options);
  let i = 0;
  const items = [];
  const next = () => {
    const it = makePayload(`${job.prefix}-${i++}`, rng, rng.chance(0.2) ? 900 : 120);
    items.push(it);
    return it;
  };
  let taken = 0;
  for (let round = 0; i < job.count - 1; round++) {
    if (rng.chance(0.5)) q.put(next());
    else q.putMany(Array.from({ length: Math.min(rng.int(2, 6), job.count - 1 - i) }, next));
    if (job.options.unique && rng.chance(0.3) && taken < i) {
      // An item still waiting (FIFO: the first `taken` were taken): a duplicate, ignored.
      const again = { ...items[rng.int(taken, i - 1)] };
      if (q.put(again) !== null) throw new Error('a unique queue accepted a duplicate');
    }
    if (rng.chance(0.3) && taken < job.count / 3) {
      const got = q.getMany(rng.int(1, 3), { block: false });
      taken += got.length;
      for (let k = 0; k < got.length; k++) q.taskDone();
    }
    if (round === 4) {
      q.close();
      copyFileSync(`${job.location}/checkpoint`, `${job.location}.stale-checkpoint`);
      q = lib.FileQueueSync.open(job.location, options);
    }
  }
  if (job.hold) q.getMany(3, { block: false }); // held, never done
  q.put(next()); // the last record of the log is a PUT
  if (job.hold) process.kill(process.pid, 'SIGKILL');
  q.close();
} else if (job.role === 'drain') {
  for (const one of job.jobs) {
    const events = [];
    const values = { ok: 0, bad: [], keys: [] };
    const record = recorder(lib, events, true);
    const check = (v, keep) => {
      const k = checkPayload(v);
      const n = k === undefined || !k.startsWith(`${job.prefix}-`) ? NaN : Number(k.slice(job.prefix.length + 1));
      if (!(Number.isInteger(n) && n >= 0 && n < job.count)) values.bad.push(JSON.stringify(v)?.slice(0, 200) ?? String(v));
      else if (keep) {
        values.ok++;
        values.keys.push(k);
      }
    };
    const Cls = lib[one.cls];
    const t0 = performance.now();
    const rng = prng(one.seed ?? 1);
    let corruptSkipped;
    let sizeAfter;
    let drained = false;
    const opened = await record('open', () => Cls.open(one.loc, one.options));
    if (opened.r) {
      const q = opened.r;
      await record('size', () => q.size());
      const p = await record('peek', () => q.peek());
      if (p.r !== undefined) check(p.r, false);
      let errorsInARow = 0;
      for (let i = 0; i < 3 * job.count + 20 && errorsInARow < 3; i++) {
        const max = rng.int(1, 4);
        const got = await record('get', async () => (max === 1 ? [await q.get({ block: false })] : await q.getMany(max, { block: false })));
        if (got.err) {
          if (got.err instanceof lib.QueueEmptyError) {
            events.pop();
            drained = true;
            break;
          }
          errorsInARow++;
          continue;
        }
        errorsInARow = 0;
        for (const m of got.r) {
          check(m, true);
          if (one.options.autoCommit === false) await record('taskDone', () => q.taskDone());
        }
      }
      const s = await record('size', () => q.size());
      sizeAfter = s.r;
      corruptSkipped = q.corruptSkipped;
      await record('close', () => q.close());
    }
    process.stdout.write(JSON.stringify({ label: one.label, events, values, drained, sizeAfter, corruptSkipped, ms: Math.round(performance.now() - t0) }) + '\n');
  }
  if (job.rss) process.stdout.write(JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS }) + '\n');
}
