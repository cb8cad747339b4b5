/**
 * A process of `persist-queue demo` (forked by demo.ts from this compiled module): a producer puts `count` items
 * `{ p, n }`; a consumer takes items until 'STOP', passes the STOP on, and writes the [p, n] pairs it got to `out`.
 * Internal to the CLI.
 */
import { writeFileSync } from 'node:fs';
import { FileQueue, FileQueueSync } from '../file-queue/queue.js';
import { SqliteQueue, SqliteQueueSync } from '../sqlite-queue/queue.js';

interface Job {
  role: 'producer' | 'consumer';
  backend: 'sqlite' | 'file';
  sync: boolean;
  location: string;
  id: number;
  count: number;
  out: string;
}

type AnyQueue = { put(x: unknown): unknown; putMany(x: unknown[]): unknown; getMany(n: number): unknown; close(): unknown };

async function openQueue(job: Job): Promise<AnyQueue> {
  const o = { durability: 'normal' as const };
  if (job.backend === 'file') return (job.sync ? FileQueueSync.open(job.location, o) : await FileQueue.open(job.location, o)) as AnyQueue;
  return (job.sync ? SqliteQueueSync.open(job.location, o) : await SqliteQueue.open(job.location, o)) as AnyQueue;
}

async function run(job: Job): Promise<void> {
  const q = await openQueue(job);
  let unreported = 0;
  const flush = () => {
    if (unreported > 0) process.send!(job.role === 'producer' ? { produced: unreported } : { consumed: unreported });
    unreported = 0;
  };
  const timer = setInterval(flush, 50);
  if (job.role === 'producer') {
    for (let n = 0; n < job.count; n += 100) {
      const batch = [];
      for (let k = n; k < Math.min(job.count, n + 100); k++) batch.push({ p: job.id, n: k });
      await q.putMany(batch);
      unreported += batch.length;
      if (job.sync) flush();
    }
  } else {
    const got: [number, number][] = [];
    for (;;) {
      const batch = (await q.getMany(100)) as ({ p: number; n: number } | string)[];
      let stop = false;
      for (const item of batch) {
        if (item === 'STOP') stop = true;
        else if (typeof item === 'object') got.push([item.p, item.n]);
      }
      unreported += batch.length - (stop ? 1 : 0);
      if (job.sync) flush();
      if (stop) {
        await q.put('STOP');
        break;
      }
    }
    writeFileSync(job.out, JSON.stringify(got));
  }
  clearInterval(timer);
  await q.close();
  process.send!({ [job.role === 'producer' ? 'produced' : 'consumed']: unreported }, () => process.disconnect());
}

// Runs only as the forked process's main module (the build loads every module to list its exports).
if (require.main === module) {
  run(JSON.parse(process.argv[2]!) as Job).catch((e: unknown) => {
    process.stderr.write(`demo ${process.argv[2]}: ${(e as Error).stack}\n`);
    process.exitCode = 1;
  });
}
