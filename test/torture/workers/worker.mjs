// Child process of the torture suite. argv[2] is a JSON job { role, cls, location, options, log, seed, ... }.
// Every line this process appends to its log is one write() call, so a SIGKILL leaves at most a cut-short last line
// (which the parent ignores). The parent kills us with SIGKILL at random moments; nothing here cleans up on purpose.
//
// Log lines:
//   producers:  I <key>   (about to put)         P <key>   (put returned: the oracle)
//   consumers:  T <max>   (about to get up to max) R <key> (received, payload checked)
//               X <json>  (received a value that is not an intact payload)
//               D <key>   (taskDone()/ack() returned for it)   E (batch finished)
//   all:        ERR <json> (an error the role did not expect; the parent fails the test)
//   stall:      S held   (job.stall, file queues: about to block the thread while this process holds the lock)
//               C        (the thread runs again)
// job.stopFile: the role ends (and closes the queue) once this file exists.
// job.stall = { afterSteps, ms }: after that many steps, once a step has ended with this process holding the file
// queue's lock (its fencing token is in tokens/), block the thread (Atomics.wait: an event loop stalled, timers and
// all) for ms, then go on.
import { closeSync, existsSync, openSync, readdirSync, writeSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { checkPayload, errInfo, isTypedError, makePayload, prng } from '../common.mjs';

const job = JSON.parse(process.argv[2]);
// PostgreSQL classes: persist-queue/postgres, the location named as test/helpers/classes.ts names it, on PG_URL
const isPg = job.cls.startsWith('Postgres');
const lib = isPg ? await import('../../../dist/esm/postgres.js') : await import('../../../dist/esm/index.js');
const Cls = lib[job.cls];
const pgName = (l) => `t_${basename(dirname(l))}_${basename(l)}`.replace(/[^A-Za-z0-9_]/g, '_').slice(-40);
const openQueue = () => (isPg ? Cls.open(process.env.PG_URL, { ...(job.options ?? {}), name: pgName(job.location) }) : Cls.open(job.location, job.options ?? {}));
const isSync = job.cls.endsWith('Sync');
const isAck = /Ack/.test(job.cls);
const rng = prng(job.seed ?? 1);
const fd = job.log ? openSync(job.log, 'a') : undefined;
const log = (line) => {
  if (fd !== undefined) writeSync(fd, `${line}\n`);
};
const deadline = job.durationMs ? Date.now() + job.durationMs : Infinity;

let seq = 0;
const nextKey = () => `${job.prefix}-${seq++}`;

/** One put, putMany or burst of concurrent puts of 1..16 self-checking items, logged before and after. */
async function produceStep(q) {
  const mode = job.mode === 'mixed' || job.role === 'mixed' ? rng.pick(['single', 'many', 'concurrent']) : job.mode;
  const k = mode === 'single' || (mode === 'concurrent' && isSync) ? 1 : rng.int(1, 16);
  const items = [];
  for (let i = 0; i < k; i++) items.push(makePayload(nextKey(), rng, job.maxLen ?? 200));
  for (const it of items) log(`I ${it.k}`);
  if (k === 1) {
    await q.put(items[0]);
    log(`P ${items[0].k}`);
  } else if (mode === 'many') {
    log(`M ${items.map((it) => it.k).join(',')}`);
    await q.putMany(items);
    for (const it of items) log(`P ${it.k}`);
  } else {
    // Promise class: concurrent puts share one commit (group commit); each is logged as soon as it returned.
    await Promise.all(items.map((it) => q.put(it).then(() => log(`P ${it.k}`))));
  }
}

/**
 * One get or getMany, logged: T before, R per item after the payload check, D per item after taskDone()/ack().
 * Returns false when the queue stayed empty for the wait.
 */
async function consumeStep(q) {
  const max = job.batch ?? (job.role === 'mixed' ? rng.pick([1, 4, 16]) : 1);
  const timeout = job.getTimeout ?? 100;
  log(`T ${max}`);
  let got;
  try {
    got = max === 1 ? [await q.get({ timeout })] : await q.getMany(max, { timeout });
  } catch (err) {
    if (err instanceof lib.QueueEmptyError) {
      log('E');
      return false;
    }
    throw err;
  }
  for (const m of got) {
    const v = isAck ? m.data : m;
    const k = checkPayload(v);
    log(k === undefined ? `X ${JSON.stringify(v)?.slice(0, 200)}` : `R ${k}`);
  }
  // A pause between receiving and finishing makes a kill land there more often (the at-least-once window).
  if (job.pauseMs) await new Promise((r) => setTimeout(r, rng.int(0, job.pauseMs)));
  for (const m of got) {
    if (isAck) await q.ack(m);
    else await q.taskDone();
    const k = checkPayload(isAck ? m.data : m);
    if (k !== undefined) log(`D ${k}`);
  }
  log('E');
  return true;
}

const stopped = () => job.stopFile !== undefined && existsSync(job.stopFile);
const more = () => Date.now() < deadline && (job.count === undefined || seq < job.count) && !stopped();

let steps = 0;
/** job.stall: blocks the thread once, right after a step that left this process holding the lock. */
function maybeStall() {
  if (!job.stall || ++steps < job.stall.afterSteps || job.stall.done) return;
  let mine = false;
  try {
    mine = readdirSync(`${job.location}/tokens`).some((t) => t.startsWith(`${process.pid}.`));
  } catch {
    mine = false;
  }
  if (!mine) return;
  job.stall.done = true;
  log('S held');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, job.stall.ms);
  log('C');
}

async function main() {
  const q = await openQueue();
  if (job.role === 'produce') {
    while (more()) await produceStep(q);
  } else if (job.role === 'consume') {
    while (Date.now() < deadline) if (!(await consumeStep(q)) && job.stopWhenEmpty) break;
  } else if (job.role === 'mixed') {
    // Load: put and get at random for job.durationMs.
    while (Date.now() < deadline && !stopped()) {
      if (rng.chance(0.5)) await produceStep(q);
      else await consumeStep(q);
      maybeStall();
    }
  } else throw new Error(`unknown role ${job.role}`);
  await q.close();
}

main().then(
  () => {
    if (fd !== undefined) closeSync(fd);
  },
  (err) => {
    log(`ERR ${JSON.stringify({ typed: isTypedError(lib, err), ...errInfo(err), stack: String(err?.stack).slice(0, 800) })}`);
    process.exitCode = 2;
  },
);
