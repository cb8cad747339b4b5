// Child process of the power-loss torture test (test/torture/powerloss.test.ts). argv[2] is a JSON job
// { role, cls, location, options, log, evDir, seed, prefix, count, batch, pauseMs, getTimeout }.
// Before it opens the queue it installs the recording fs layer (../powerloss-fs.mjs) on the store's `io` object.
// The parent SIGKILLs every child at one moment (the power loss). Each log line is one write(2) to a log outside the
// queue folder (not subject to the simulated power loss); a line cut short by the kill is ignored.
//
// Log lines (ts = process.hrtime.bigint(), the clock of the parent's crash time):
//   O <ts>              queue opened
//   I <key>             about to put                 P <key> <ts>   put returned (the oracle)
//   T <max>             about to get up to max       R <key> <ts>   received (payload checked)
//   X <json>            received a value that is not an intact payload
//   D <key> <ts>        taskDone() returned for it   E              batch finished
//   ERR <json>          an unexpected error (the parent fails the test)
import { closeSync, openSync, writeSync } from 'node:fs';
import * as lib from '../../../dist/esm/index.js';
import { io } from '../../../dist/esm/file-queue/io.js';
import { checkPayload, errInfo, isTypedError, makePayload, prng } from '../common.mjs';
import { install } from '../powerloss-fs.mjs';

const job = JSON.parse(process.argv[2]);
install(io, job.evDir, { asyncDelayMs: job.asyncDelayMs ?? 0 });
const Cls = lib[job.cls];
const isSync = job.cls.endsWith('Sync');
const rng = prng(job.seed ?? 1);
const fd = openSync(job.log, 'a');
const log = (line) => writeSync(fd, `${line}\n`);
const ts = () => process.hrtime.bigint().toString();

let seq = 0;
const nextKey = () => `${job.prefix}-${seq++}`;

async function produceStep(q) {
  const mode = rng.pick(['single', 'single', 'many', 'concurrent']);
  const k = mode === 'single' || (mode === 'concurrent' && isSync) ? 1 : rng.int(2, 8);
  const items = [];
  for (let i = 0; i < k; i++) items.push(makePayload(nextKey(), rng, job.maxLen ?? 200));
  for (const it of items) log(`I ${it.k}`);
  if (k === 1) {
    await q.put(items[0]);
    log(`P ${items[0].k} ${ts()}`);
  } else if (mode === 'many') {
    await q.putMany(items);
    const t = ts();
    for (const it of items) log(`P ${it.k} ${t}`);
  } else {
    // Promise class: concurrent puts share one write and one fdatasync (group commit).
    await Promise.all(items.map((it) => q.put(it).then(() => log(`P ${it.k} ${ts()}`))));
  }
  // Now and then a pause (a producer that does other work): the background flush must cover the last put.
  if (job.pauseMs && rng.chance(0.1)) await new Promise((r) => setTimeout(r, rng.int(0, job.pauseMs)));
}

async function consumeStep(q) {
  const max = job.batch;
  log(`T ${max}`);
  let got;
  try {
    got = max === 1 ? [await q.get({ timeout: job.getTimeout })] : await q.getMany(max, { timeout: job.getTimeout });
  } catch (err) {
    if (err instanceof lib.QueueEmptyError) {
      log('E');
      return;
    }
    throw err;
  }
  const t = ts();
  for (const v of got) {
    const k = checkPayload(v);
    log(k === undefined ? `X ${JSON.stringify(v)?.slice(0, 200)}` : `R ${k} ${t}`);
  }
  if (job.pauseMs) await new Promise((r) => setTimeout(r, rng.int(0, job.pauseMs)));
  for (const v of got) {
    await q.taskDone();
    const k = checkPayload(v);
    if (k !== undefined) log(`D ${k} ${ts()}`);
  }
  log('E');
}

async function main() {
  const q = await Cls.open(job.location, job.options);
  log(`O ${ts()}`);
  for (;;) {
    if (job.role === 'produce') {
      // A producer with a count goes idle after it (its process lives on, the event loop free).
      if (job.count !== undefined && seq >= job.count) await new Promise((r) => setTimeout(r, 1000));
      else await produceStep(q);
    }
    else await consumeStep(q);
  }
}

main().catch((err) => {
  log(`ERR ${JSON.stringify({ typed: isTypedError(lib, err), ...errInfo(err), stack: String(err?.stack).slice(0, 800) })}`);
  closeSync(fd);
  process.exitCode = 2;
});
