// Schedules, retries and the dead letter: a nightly-style cron schedule (03:00 in Berlin) and an interval schedule
// whose task fails now and then. Failed attempts are retried with backoff; jobs whose attempts are used up end
// 'failed' (the dead letter), where we look at them and send one back with retry().
//
//   node examples/tasks/schedules.mjs
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TaskQueue, Worker } from '../../dist/esm/tasks.js';

const dir = mkdtempSync(join(tmpdir(), 'pq-sched-'));
const q = await TaskQueue.open(join(dir, 'tasks.db'), { durability: 'normal' });

// Registering at every start-up is safe: an equal definition changes nothing, and each tick makes exactly one job
// however many processes run workers.
await q.schedule('nightly-report', { task: 'report', cron: '0 3 * * *', tz: 'Europe/Berlin', misfire: 'once' });
await q.schedule('poll-feed', {
  task: 'poll',
  every: 200,
  options: { maxAttempts: 2, backoff: { type: 'fixed', delay: 50 } },
});
for (const s of await q.schedules()) console.log(`schedule ${s.id}: next run ${s.nextRunAt.toISOString()}`);

let polls = 0;
const worker = new Worker(q, {
  report: () => 'report written',
  // Every third poll fails for good (both attempts), the others succeed on the first or second try.
  poll: (_data, ctx) => {
    polls++;
    if (ctx.id % 3 === 0) throw new Error(`feed unreachable (job ${ctx.id})`);
    if (ctx.attempt === 1 && ctx.id % 2 === 0) throw new Error('timeout, will retry');
    return { items: ctx.id };
  },
});
worker.on('retrying', (job, err, delay) => console.log(`job ${job.id} attempt ${job.attempts} failed (${err.message}); retry in ${delay} ms`));
worker.on('failed', (job) => console.log(`job ${job.id} failed for good: ${job.error.message}`));
worker.start();
await new Promise((r) => setTimeout(r, 1500));
await q.unschedule('poll-feed');
await worker.stop();

const dead = await q.list({ status: 'failed' });
console.log(`${polls} poll attempts; counts:`, await q.counts());
console.log('dead letter:', dead.map((j) => `#${j.id} ${j.error.message}`));
if (dead.length > 0) {
  await q.retry(dead[0].id);
  console.log(`job ${dead[0].id} sent back: now ${(await q.getJob(dead[0].id)).status}`);
}
await q.close();
rmSync(dir, { recursive: true, force: true });
