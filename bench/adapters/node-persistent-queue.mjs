// node-persistent-queue (sqlite3 4.x, default rollback journal and synchronous=FULL).
// put = add(item) (one INSERT per call, resolved after it ran); get = the job of its
// 'next' event, then done() (which DELETEs it; the next 'next' event only comes after
// that DELETE). The queue is started on the first get(). It keeps a batch of jobs in
// memory (batchSize, default 10) and runs VACUUM every time it becomes empty.
// No batch API, single process only.
import path from 'node:path';
import { checkPeer, peerVersion, requirePeer } from './peers-common.mjs';

export async function listSystems() {
  const skip = await checkPeer('node-persistent-queue', () => {
    const Q = requirePeer('node-persistent-queue');
    if (typeof Q !== 'function') throw new Error('unexpected export');
  });
  return [
    {
      id: 'node-persistent-queue/full',
      module: 'node-persistent-queue',
      label: `node-persistent-queue ${peerVersion('node-persistent-queue') ?? ''} (sqlite3 4.x)`,
      kind: 'peer',
      backend: 'sqlite',
      durability: 'full',
      durabilityNote: 'SQLite defaults: rollback journal (DELETE), synchronous=FULL; one INSERT / DELETE per transaction',
      promise: true,
      multiProcess: false,
      skip,
      version: peerVersion('node-persistent-queue'),
    },
  ];
}

export async function openSystem(sys, dir) {
  const PersistentQueue = requirePeer('node-persistent-queue');
  const q = new PersistentQueue(path.join(dir, 'npq.db'), 10);
  await q.open();
  let current = null;
  let waiter = null;
  q.on('next', (job) => {
    if (waiter) {
      const w = waiter;
      waiter = null;
      w(job);
    } else current = job;
  });
  let started = false;
  const next = (waitMs) =>
    new Promise((resolve) => {
      if (current) {
        const j = current;
        current = null;
        return resolve(j);
      }
      let t;
      waiter = (j) => {
        clearTimeout(t);
        resolve(j);
      };
      if (waitMs !== undefined)
        t = setTimeout(() => {
          waiter = null;
          resolve(undefined);
        }, waitMs);
    });
  const take = async (waitMs) => {
    if (!started) {
      started = true;
      q.start();
    }
    const job = await next(waitMs);
    if (!job) return undefined;
    q.done();
    return job.job;
  };
  return {
    sync: false,
    put: (item) => q.add(item),
    get: () => take(),
    tryGet: (waitMs) => take(waitMs),
    async close() {
      q.stop();
      await new Promise((r) => setTimeout(r, 5)); // let the last DELETE / VACUUM settle
      await q.close();
    },
  };
}
