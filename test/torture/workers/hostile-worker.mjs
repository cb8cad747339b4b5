// Child process for the hostile-bytes test. argv[2]: JSON job.
//   role 'make': put job.count self-checking payloads (keys `${prefix}-${i}`), take job.take of them, and then, if
//     job.die, SIGKILL itself so that the WAL is left behind un-checkpointed (else close normally).
//   role 'drain': open a damaged queue and take everything it gives, checking every value; print one JSON line.
//     Every call is recorded as ok or as an error (typed or not); the parent decides. After 3 errors in a row the
//     drain stops (a damaged row stays stored, so get() keeps reporting it).
import { checkPayload, makePayload, prng, recorder } from '../common.mjs';
import * as lib from '../../../dist/esm/index.js';

const job = JSON.parse(process.argv[2]);
const Cls = lib[job.cls];
const isAck = /Ack/.test(job.cls);

if (job.role === 'make') {
  const rng = prng(job.seed);
  const q = await Cls.open(job.location, { durability: 'normal' });
  const items = Array.from({ length: job.count }, (_, i) => makePayload(`${job.prefix}-${i}`, rng, rng.chance(0.2) ? 6000 : 300));
  for (let i = 0; i < items.length; i += 10) await q.putMany(items.slice(i, i + 10));
  for (let i = 0; i < job.take; i++) {
    const m = await q.get();
    if (isAck) await q.ack(m);
  }
  if (job.die) process.kill(process.pid, 'SIGKILL');
  await q.close();
} else if (job.role === 'drain') {
  const rng = prng(job.seed);
  const events = [];
  const values = { ok: 0, bad: [], keys: [] };
  const record = recorder(lib, events);
  const check = (v) => {
    const k = checkPayload(v);
    if (k === undefined || !k.startsWith(`${job.prefix}-`)) values.bad.push(JSON.stringify(v)?.slice(0, 200) ?? String(v));
    else {
      values.ok++;
      values.keys.push(k);
    }
  };
  const opened = await record('open', () => Cls.open(job.location, job.options ?? {}));
  if (opened.r) {
    const q = opened.r;
    await record('size', () => q.size());
    const p = await record('peek', () => q.peek());
    if (p.r !== undefined) check(p.r);
    let errorsInARow = 0;
    for (let i = 0; i < job.count + 20 && errorsInARow < 3; i++) {
      const max = rng.int(1, 4);
      const got = await record('get', async () => (max === 1 ? [await q.get({ block: false })] : await q.getMany(max, { block: false })));
      if (got.err) {
        if (got.err instanceof lib.QueueEmptyError) break;
        errorsInARow++;
        continue;
      }
      errorsInARow = 0;
      for (const m of got.r) {
        check(isAck ? m.data : m);
        if (isAck) await record('ack', () => q.ack(m));
        else await record('taskDone', () => q.taskDone());
      }
    }
    if (isAck) await record('items', () => q.items());
    await record('close', () => q.close());
  }
  process.stdout.write(JSON.stringify({ events, values }) + '\n');
}
