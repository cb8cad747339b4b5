// The single-process workloads, run against one opened queue adapter.
//   a  put N, then get N                -> put/s, get/s
//   b  interleaved put, get (N pairs)   -> pairs/s
//   c  putMany / getMany, batches of 100 -> items/s for each
//   conc  Promise classes: 1 producer awaiting each put vs 64 puts in flight
// Sync adapters (q.sync === true) run in plain loops; async ones await each call.
import { now, Phase } from './timing.mjs';
import { makeItem } from './items.mjs';

const CHECK = 16; // look at the clock every CHECK operations
export const BATCH = 100;

function checkGot(x, where) {
  if (x === undefined || x === null) throw new Error(`${where}: queue returned ${x} while items were waiting`);
}

/** One producer, one put at a time (awaited), until n or the time cap. */
async function putOneByOne(q, n, size, capMs) {
  const p = new Phase(capMs);
  let done = 0;
  for (; done < n; done++) {
    if (q.sync) q.put(makeItem(size, done));
    else await q.put(makeItem(size, done));
    if (done % CHECK === 0 && p.over()) { done++; break; }
  }
  return p.end(done, n);
}

export async function putThenGet(q, { n, size, capMs }) {
  if (q.getOnly && q.ackOnly) return putThenGetAck(q, { n, size, capMs });
  let p = new Phase(capMs);
  let done = 0;
  if (q.sync) {
    for (; done < n; done++) {
      q.put(makeItem(size, done));
      if (done % CHECK === 0 && p.over()) { done++; break; }
    }
  } else {
    for (; done < n; done++) {
      await q.put(makeItem(size, done));
      if (done % CHECK === 0 && p.over()) { done++; break; }
    }
  }
  const put = p.end(done, n);
  const toGet = done;
  p = new Phase(capMs);
  let got = 0;
  if (q.sync) {
    for (; got < toGet; got++) {
      checkGot(q.get(), 'get');
      if (got % CHECK === 0 && p.over()) { got++; break; }
    }
  } else {
    for (; got < toGet; got++) {
      checkGot(await q.get(), 'get');
      if (got % CHECK === 0 && p.over()) { got++; break; }
    }
  }
  const get = p.end(got, n);
  return { put: put.rate, get: get.rate, n: Math.min(put.done, get.done), capped: put.capped || get.capped };
}

/**
 * (a) for ack queues: the get phase takes messages (one commit each: the message becomes unacked), then an ack phase
 * acks them (one commit each). `get` is the get alone (compared with the one-commit raw ceiling), `ack` the ack alone,
 * `getAck` both together per item (compared with the peers, whose get also marks the job done).
 */
async function putThenGetAck(q, { n, size, capMs }) {
  const put = await putOneByOne(q, n, size, capMs);
  const done = put.done;
  const msgs = [];
  let p = new Phase(capMs);
  if (q.sync) {
    for (let got = 0; got < done; got++) {
      const m = q.getOnly();
      checkGot(m?.data, 'get');
      msgs.push(m);
      if (got % CHECK === 0 && p.over()) break;
    }
  } else {
    for (let got = 0; got < done; got++) {
      const m = await q.getOnly();
      checkGot(m?.data, 'get');
      msgs.push(m);
      if (got % CHECK === 0 && p.over()) break;
    }
  }
  const get = p.end(msgs.length, n);
  const getMs = get.ms;
  p = new Phase(capMs * 4);
  let acked = 0;
  for (; acked < msgs.length; acked++) {
    if (q.sync) q.ackOnly(msgs[acked]);
    else await q.ackOnly(msgs[acked]);
  }
  const ack = p.end(acked, n);
  const getAck = msgs.length / ((getMs + ack.ms) / 1000);
  return { put: put.rate, get: get.rate, ack: ack.rate, getAck, n: Math.min(put.done, msgs.length), capped: put.capped || get.capped };
}

export async function interleaved(q, { n, size, capMs }) {
  const p = new Phase(capMs);
  let done = 0;
  if (q.sync) {
    for (; done < n; done++) {
      q.put(makeItem(size, done));
      checkGot(q.get(), 'get');
      if (done % CHECK === 0 && p.over()) { done++; break; }
    }
  } else {
    for (; done < n; done++) {
      await q.put(makeItem(size, done));
      checkGot(await q.get(), 'get');
      if (done % CHECK === 0 && p.over()) { done++; break; }
    }
  }
  const r = p.end(done, n);
  return { pair: r.rate, n: r.done, capped: r.capped };
}

export async function batched(q, { n, size, capMs }) {
  if (!q.putMany) return { unsupported: 'no batch put (putMany)' };
  // A system with a batch put but no batch get takes its items one by one (noted).
  const getMany = q.getMany ?? (q.sync
    ? (k) => { const out = []; for (let i = 0; i < k; i++) out.push(q.get()); return out; }
    : async (k) => { const out = []; for (let i = 0; i < k; i++) out.push(await q.get()); return out; });
  let p = new Phase(capMs);
  let done = 0;
  while (done < n) {
    const k = Math.min(BATCH, n - done);
    const items = new Array(k);
    for (let i = 0; i < k; i++) items[i] = makeItem(size, done + i);
    if (q.sync) q.putMany(items);
    else await q.putMany(items);
    done += k;
    if (p.over()) break;
  }
  const put = p.end(done, n);
  p = new Phase(capMs);
  let got = 0;
  while (got < done) {
    const k = Math.min(BATCH, done - got);
    const items = q.sync ? getMany(k) : await getMany(k);
    if (!items || items.length === 0) throw new Error('getMany returned nothing while items were waiting');
    got += items.length;
    if (p.over()) break;
  }
  const get = p.end(got, n);
  return { put: put.rate, get: get.rate, n: Math.min(put.done, get.done), capped: put.capped || get.capped, getSingle: !q.getMany };
}

/**
 * One producer awaiting each put, then 64 puts in flight at a time (Promise.all per window). A sync
 * adapter with a batch put (the raw SQLite ceiling) does one put per transaction, then putMany of 64:
 * the most group commit can gain on this machine.
 *
 * With `ceiling` (the raw adapter of the same backend, opened in its own folder in this process), the
 * 64-in-flight phase alternates blocks: the queue's windows, then the ceiling's putMany of 64, and so on, each
 * block at least CEIL_BLOCK_MS long and at least CEIL_MIN_WINDOWS windows; each side's time is summed apart.
 * The queue runs at least CEIL_MIN_BLOCKS blocks (more puts than `n` when its windows are quick), so that a
 * SQLite checkpoint or a slow fsync falls into one block of many.
 * `share` = the queue's puts/s ÷ the ceiling's from the same interleaved blocks: a change of disk speed
 * during the run hits both alike (separate child processes a minute apart measured the same raw ceiling at
 * 86k-175k puts/s). Blocks are long enough that the pause while the other side runs is rare: a file queue
 * gives its lock up after 3 ms without calls and takes it again on the next one (~0.3 ms); blocks of 4
 * windows paused it every 4 windows at 4 KiB (~6 ms each), which measured 85 % of the ceiling against 93 %
 * with blocks of 16 (bench/probes/group-commit-budget.mjs).
 */
export async function concurrency(q, { n, size, capMs, width = 64, ceiling }) {
  if (q.sync && !q.putMany) return { unsupported: 'sync class' };
  const one = await putOneByOne(q, n, size, capMs);
  const done = one.done;
  // The concurrent side does at least as many puts (it is the fast one), in whole windows.
  // At least 64 windows (4096 puts): SQLite checkpoints its WAL every 1000 pages, and a phase of a few
  // windows would include one checkpoint (two fsyncs, ~1000 pages copied) or none depending on where
  // the single-producer phase left the WAL.
  const n64 = Math.max(width * 64, Math.ceil(Math.max(n, done) / width) * width);
  const window = async (target, seq) => {
    if (target.sync) {
      const items = new Array(width);
      for (let i = 0; i < width; i++) items[i] = makeItem(size, seq + i);
      target.putMany(items);
    } else {
      const w = [];
      for (let i = 0; i < width; i++) w.push(target.put(makeItem(size, seq + i)));
      await Promise.all(w);
    }
  };
  const p = new Phase(capMs);
  let done64 = 0;
  let libMs = 0;
  let ceilMs = 0;
  let ceilDone = 0;
  // One block: windows of `target` until it has run CEIL_BLOCK_MS and CEIL_MIN_WINDOWS (the last block of the class
  // may take it past n64: more puts, measured the same way).
  const block = async (target, seq) => {
    const t0 = now();
    let k = 0;
    while (k < CEIL_MIN_WINDOWS || now() - t0 < CEIL_BLOCK_MS) {
      await window(target, seq + k * width);
      k++;
    }
    return { windows: k, ms: now() - t0 };
  };
  let blocks = 0;
  while (done64 < n64 || (ceiling && blocks < CEIL_MIN_BLOCKS)) {
    if (!ceiling) {
      await window(q, done + done64);
      done64 += width;
    } else {
      const mine = await block(q, done + done64);
      blocks++;
      done64 += mine.windows * width;
      libMs += mine.ms;
      const theirs = await block(ceiling, ceilDone);
      ceilDone += theirs.windows * width;
      ceilMs += theirs.ms;
    }
    if (p.over()) break;
  }
  const capped = one.capped || done64 < n64;
  if (!ceiling) {
    const many = p.end(done64, n64);
    return { one: one.rate, many: many.rate, ratio: many.rate / one.rate, n: one.done, n64: done64, capped: one.capped || many.capped };
  }
  const many = done64 / (libMs / 1000);
  const paired = ceilDone / (ceilMs / 1000);
  return { one: one.rate, many, ratio: many / one.rate, paired, share: many / paired, n: one.done, n64: done64, capped };
}

/** Least length of a block when the queue and its raw ceiling alternate (see {@link concurrency}). */
const CEIL_BLOCK_MS = 25;
/** Least windows of 64 per block (see {@link concurrency}). */
const CEIL_MIN_WINDOWS = 4;
/** Least blocks of the queue (and as many of the ceiling) per run (see {@link concurrency}). */
const CEIL_MIN_BLOCKS = 24;
