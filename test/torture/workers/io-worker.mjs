// Child process for the disk-full and read-only tests. argv[2]: JSON job.
//   role 'fill': put self-checking payloads (I before, P after, in job.log) until a put fails; then try a few more
//     calls; print one JSON line { error, after } and exit 0. Run under `ulimit -f` so writes fail with EFBIG (Node
//     ignores SIGXFSZ, so the write returns short / fails instead of killing us).
//   role 'calls': optionally drop to job.uid/gid, then run job.calls (['open', 'put', 'get', 'size', 'close', ...])
//     and print one JSON line with each call's outcome.
import { closeSync, openSync, writeSync } from 'node:fs';
import { checkPayload, errInfo, isTypedError, makePayload, prng } from '../common.mjs';

const job = JSON.parse(process.argv[2]);
if (job.gid !== undefined) process.setgid(job.gid);
if (job.uid !== undefined) process.setuid(job.uid);
const lib = await import('../../../dist/esm/index.js');
const Cls = lib[job.cls];
const isAck = /Ack/.test(job.cls);
const outcome = (err) => ({ typed: isTypedError(lib, err), ...errInfo(err) });

if (job.role === 'fill') {
  const rng = prng(job.seed ?? 1);
  const fd = openSync(job.log, 'a');
  const log = (l) => writeSync(fd, `${l}\n`);
  const q = await Cls.open(job.location, job.options ?? {});
  let n = 0;
  let error;
  while (n < 1_000_000) {
    const k = job.batch ? rng.int(1, job.batch) : 1;
    const items = Array.from({ length: k }, () => makePayload(`${job.prefix}-${n++}`, rng, job.maxLen ?? 3000));
    for (const it of items) log(`I ${it.k}`);
    try {
      if (k === 1) await q.put(items[0]);
      else await q.putMany(items);
    } catch (err) {
      error = outcome(err);
      for (const it of items) log(`F ${it.k}`);
      break;
    }
    for (const it of items) log(`P ${it.k}`);
  }
  const after = {};
  for (const [name, call] of [
    ['put', () => q.put(makePayload(`${job.prefix}-again`, rng, 3000))],
    ['size', () => q.size()],
    ['peek', async () => checkPayload(await q.peek()) ?? 'not a payload'],
    ['close', () => q.close()],
  ]) {
    try {
      after[name] = { ok: true, value: (await call()) ?? null };
      if (name === 'put') log(`P ${job.prefix}-again`);
    } catch (err) {
      after[name] = outcome(err);
    }
  }
  closeSync(fd);
  process.stdout.write(JSON.stringify({ error, after, puts: n }) + '\n');
} else if (job.role === 'fsync') {
  // Run with LD_PRELOAD of the fsync shim (diskfull.test.ts): while the file job.flag exists, fsync/fdatasync fail
  // with EIO. durability 'full' syncs before put/putMany/get return.
  const { writeFileSync, unlinkSync } = await import('node:fs');
  const rng = prng(job.seed ?? 1);
  const q = await Cls.open(job.location, { durability: 'full' });
  const returned = [];
  const maybe = [];
  for (let i = 0; i < 20; i++) {
    const p = makePayload(`ok-${i}`, rng, 300);
    await q.put(p);
    returned.push(p.k);
  }
  writeFileSync(job.flag, '');
  const failed = {};
  for (const [name, call] of [
    ['put', () => { const p = makePayload('bad-put', rng, 300); maybe.push(p.k); return q.put(p); }],
    ['putMany', () => { const ps = [0, 1, 2].map((k) => makePayload(`bad-many-${k}`, rng, 300)); maybe.push(...ps.map((p) => p.k)); return q.putMany(ps); }],
    ['get', () => q.get({ block: false })],
  ]) {
    try {
      const r = await call();
      failed[name] = { ok: true, value: name === 'get' ? checkPayload(isAck ? r.data : r) ?? 'not a payload' : null };
    } catch (err) {
      failed[name] = outcome(err);
    }
  }
  unlinkSync(job.flag);
  const after = {};
  for (const [name, call] of [
    ['put', async () => { const p = makePayload('after', rng, 300); await q.put(p); returned.push(p.k); }],
    ['close', () => q.close()],
  ]) {
    try {
      after[name] = { ok: true, value: (await call()) ?? null };
    } catch (err) {
      after[name] = outcome(err);
    }
  }
  process.stdout.write(JSON.stringify({ failed, after, returned, maybe }) + '\n');
} else if (job.role === 'calls') {
  const out = {};
  let q;
  for (const name of job.calls) {
    try {
      let value;
      if (name === 'open') q = await Cls.open(job.location, job.options ?? {});
      else if (name === 'put') value = await q.put(job.item ?? 'x');
      else if (name === 'get') {
        const g = await q.get({ block: false });
        value = isAck ? g.data : g;
      } else value = await q[name]();
      out[name] = { ok: true, value: value ?? null };
    } catch (err) {
      out[name] = outcome(err);
      if (name === 'open') break;
    }
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}
