// A child process for the file-queue tests. argv[2] is a JSON job { role, cls, dir, options, out, ... }.
// Progress goes to `job.out` as one line per event, each written with a single appendFileSync (one write(2), so a
// SIGKILL never leaves half a line that parses); results of one-shot roles go to stdout as JSON.
import { appendFileSync } from 'node:fs';
import * as lib from '../../dist/esm/index.js';

const job = JSON.parse(process.argv[2]);
const Cls = lib[job.cls];
const isSync = job.cls.endsWith('Sync');
const log = (line) => appendFileSync(job.out, `${line}\n`);
const pad = 'x'.repeat(job.pad ?? 0);

async function main() {
  const q = await Cls.open(job.dir, job.options ?? {});
  switch (job.role) {
    // Put {p, n, pad} for n = 0.. (count or for ever), logging "n" after each put returned.
    case 'produce': {
      if (job.ready) log('ready');
      for (let n = 0; job.count === undefined || n < job.count; n++) {
        if (job.batch) {
          const items = [];
          for (let k = 0; k < job.batch; k++) items.push({ p: job.id, n: n + k, pad });
          await q.putMany(items);
          for (let k = 0; k < job.batch; k++) log(n + k);
          n += job.batch - 1;
        } else {
          await q.put({ p: job.id, n, pad });
          log(n);
        }
      }
      break;
    }
    // Take items for ever, logging "p:n" after each get returned, then taskDone().
    case 'consume': {
      for (;;) {
        const m = await q.get();
        log(`${m.p}:${m.n}`);
        await q.taskDone();
      }
    }
    // Put 1 KiB items until a put throws; print what happened.
    case 'fill-until-error': {
      let acked = 0;
      try {
        for (;;) {
          if (job.batch) await q.putMany(Array.from({ length: job.batch }, (_, k) => ({ n: acked + k, pad })));
          else await q.put({ n: acked, pad });
          acked += job.batch ?? 1;
        }
      } catch (err) {
        process.stdout.write(JSON.stringify({ acked, name: err.name, code: err.code, isQueueError: err instanceof lib.QueueError, message: err.message }));
      }
      break;
    }
    default:
      throw new Error(`unknown role ${job.role}`);
  }
  if (isSync) q.close();
  else await q.close();
}

main().catch((err) => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exitCode = 1;
});
