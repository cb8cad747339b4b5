// BullMQ on the bench's own redis-server (bench/tasks/redis.mjs): Queue.addBulk of 1000 jobs, Worker (ioredis clients made by the bench, one per Queue/Worker)(name,
// processor, { concurrency }). Completed jobs are kept (BullMQ's default, like the library's retention); the enqueue
// step FLUSHALLs the private Redis first so runs do not pile up. Not a durability peer: beside the SQLite rows.
import { checkPeer, importPeer, peerVersion, requirePeer } from '../../adapters/peers-common.mjs';
import { REDIS_NOTE } from '../redis.mjs';

const NAME = 'bench';

export async function describe({ redis }) {
  let skip = await checkPeer('bullmq', async () => {
    await importPeer('bullmq');
    requirePeer('ioredis');
  });
  if (!skip && redis?.error) skip = redis.error;
  return {
    id: 'bullmq',
    kind: 'beside',
    label: `BullMQ ${peerVersion('bullmq') ?? ''} Worker (Redis ${redis?.version ?? '?'})`,
    version: peerVersion('bullmq'),
    skip,
    settings: `Queue.addBulk of 1000 jobs, Worker (ioredis clients made by the bench, one per Queue/Worker)(name, processor, { concurrency }), job options at their defaults; ${REDIS_NOTE}`,
  };
}

export async function open({ redisPort, setup }) {
  const { Queue, Worker } = await importPeer('bullmq');
  // BullMQ 6 in native ESM wants ready-made ioredis clients (bench/peers has ioredis beside it).
  const IORedis = requirePeer('ioredis');
  const clients = [];
  const client = () => {
    const c = new IORedis({ host: '127.0.0.1', port: redisPort, maxRetriesPerRequest: null });
    clients.push(c);
    return c;
  };
  const admin = client();
  if (setup) await admin.flushall();
  const queue = new Queue(NAME, { connection: admin });
  await queue.waitUntilReady();
  let worker = null;
  return {
    enqueueMany: (datas) => queue.addBulk(datas.map((data) => ({ name: 'noop', data }))),
    enqueueOne: (data) => queue.add('noop', data),
    async prepareWorker({ concurrency, handler, onCompleted, onError }) {
      worker = new Worker(NAME, (job) => handler(job.data), { connection: client(), concurrency, autorun: false });
      worker.on('completed', () => onCompleted());
      worker.on('failed', (job, e) => onError(new Error(`job ${job?.id} failed: ${e?.message ?? e}`)));
      worker.on('error', (e) => onError(e));
      await worker.waitUntilReady();
    },
    work(args) {
      if (!worker) throw new Error('bullmq: prepareWorker first');
      const done = worker.run().catch(args.onError);
      return {
        async stop() {
          await worker.close();
          await done;
        },
      };
    },
    async close() {
      if (worker) await worker.close().catch(() => {});
      await queue.close();
      for (const c of clients) c.disconnect();
    },
  };
}
