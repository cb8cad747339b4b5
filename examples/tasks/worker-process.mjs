// A worker process for the task examples: runs the handlers below against the task queue in the file given as
// argv[2], until it gets SIGTERM (then it stops gracefully: running jobs finish or are given back).
import { TaskQueue, Worker } from '../../dist/esm/tasks.js';

const file = process.argv[2];
const q = await TaskQueue.open(file, { durability: 'normal' });
const worker = new Worker(
  q,
  {
    // A "slow" report: sleeps a little, honours cancellation, reports progress.
    report: async ({ user }, ctx) => {
      await ctx.progress({ step: 'collecting' });
      await new Promise((resolve, reject) => {
        const t = setTimeout(resolve, 100);
        ctx.signal.addEventListener('abort', () => (clearTimeout(t), reject(ctx.signal.reason)));
      });
      return { user, lines: user.length * 10, by: process.pid };
    },
    fib: (n) => {
      let [a, b] = [0, 1];
      for (let i = 0; i < n; i++) [a, b] = [b, a + b];
      return a;
    },
  },
  { concurrency: 4 },
);
worker.on('error', (err) => console.error('worker fault:', err));
worker.start();
process.send?.('ready');
process.on('SIGTERM', async () => {
  await worker.stop({ timeout: 5000 });
  await q.close();
  // Nothing is left to keep the process alive: it exits by itself.
});
