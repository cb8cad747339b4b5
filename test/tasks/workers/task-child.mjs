// A child process for the task tests. argv[2] is a JSON job { role, file, options, out, ... }. Events go to the
// parent over IPC when there is a channel, and to `job.out` as whole lines (one appendFileSync each, so a SIGKILL never
// leaves half a line).
import { appendFileSync } from 'node:fs';
import { TaskQueue, TaskQueueSync, Worker } from '../../../dist/esm/tasks.js';

const job = JSON.parse(process.argv[2]);
const log = (line) => job.out && appendFileSync(job.out, `${line}\n`);
const send = (m) => process.send?.(m);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const handlers = {
  echo: (d) => d,
  stamp: () => Date.now(),
  // The first attempt hangs (until aborted); later attempts finish and log.
  hold: async (d, ctx) => {
    send({ started: ctx.id, attempt: ctx.attempt });
    log(`start ${ctx.id} ${ctx.attempt} ${process.pid}`);
    if (ctx.attempt === 1) await new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
    log(`done ${ctx.id} ${ctx.attempt} ${process.pid}`);
    return `done by ${process.pid}`;
  },
  // Runs until its signal is aborted; reports when (ms since the epoch) and why.
  untilAborted: async (d, ctx) => {
    send({ started: ctx.id, attempt: ctx.attempt });
    await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
    send({ aborted: ctx.id, at: Date.now(), code: ctx.signal.reason?.code });
    throw ctx.signal.reason;
  },
  tick: (d, ctx) => {
    log(`tick ${ctx.id}`);
  },
  // Logs that it ran, for the exactly-once checks.
  record: (d, ctx) => {
    log(`ran ${ctx.id} ${d.p}:${d.n} ${process.pid}`);
    return null;
  },
  double: async (d) => {
    await sleep(5);
    return d * 2;
  },
};

async function main() {
  switch (job.role) {
    case 'worker': {
      const q = await TaskQueue.open(job.file, job.options ?? {});
      for (const [id, spec] of Object.entries(job.schedules ?? {})) await q.schedule(id, spec);
      const mine = job.rate ? { ...handlers, stamp: { handler: handlers.stamp, rateLimit: job.rate } } : handlers;
      const w = new Worker(q, mine, job.worker ?? {});
      w.on('idle', () => send({ idle: Date.now() }));
      w.start();
      send({ ready: process.pid });
      process.on('message', async (m) => {
        if (m === 'stop') {
          await w.stop();
          await q.close();
          send({ stopped: true });
          process.disconnect?.();
        }
      });
      break;
    }
    // Waits for a job's result and reports when it came.
    case 'result': {
      const q = await TaskQueue.open(job.file, job.options ?? {});
      send({ ready: true });
      try {
        const value = await q.result(job.id, { timeout: job.timeout ?? 10_000 });
        send({ value, at: Date.now() });
      } catch (err) {
        send({ error: err.code, at: Date.now() });
      }
      await q.close();
      process.disconnect?.();
      break;
    }
    // enqueueMany of `batch` jobs tagged with their batch number, for ever; logs each committed batch.
    case 'produce': {
      const q = await TaskQueue.open(job.file, job.options ?? {});
      send({ ready: true });
      for (let b = 0; ; b++) {
        await q.enqueueMany(Array.from({ length: job.batch }, (_, i) => ({ task: 'echo', data: { b, i, pad: 'x'.repeat(200) } })));
        log(`batch ${b}`);
      }
    }
    // `count` jobs of task `record`, enqueued one by one (each awaited), tagged { p: job.id, n }; then exits.
    case 'enqueue': {
      const q = await TaskQueue.open(job.file, job.options ?? {});
      const go = new Promise((resolve) => process.once('message', resolve)); // 'go'
      send({ ready: process.pid });
      await go;
      for (let n = 0; n < job.count; n++) await q.enqueue('record', { p: job.id, n });
      await q.close();
      send({ enqueued: job.count });
      process.disconnect?.();
      break;
    }
    // The blocking twin: submit and print the result (no IPC needed).
    case 'submitSync': {
      const q = TaskQueueSync.open(job.file, job.options ?? {});
      const value = q.submit(job.task, job.data, { timeout: 10_000 });
      q.close();
      process.stdout.write(JSON.stringify({ value }) + '\n');
      break;
    }
    // Runs one job with a worker, stops, closes: the process must then exit by itself.
    case 'oneShot': {
      const q = await TaskQueue.open(job.file, job.options ?? {});
      const w = new Worker(q, handlers, { concurrency: 2 }).start();
      const value = await q.submit('double', 21);
      await w.stop();
      await q.close();
      process.stdout.write(JSON.stringify({ value }) + '\n');
      break;
    }
    default:
      throw new Error(`unknown role ${job.role}`);
  }
}

main().catch((err) => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
});
