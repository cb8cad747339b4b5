// plainjob (better-sqlite3 job queue) driven through its own worker: defineWorker(type, processor, { queue,
// pollIntervall }). A plainjob worker runs one job at a time, so concurrency c = c workers on the process's one
// queue connection (how plainjob scales: more workers / processes). Enqueue: queue.addMany (one transaction).
// WAL + synchronous=NORMAL are hard-coded by plainjob (= durability 'normal').
import path from 'node:path';
import { checkPeer, importPeer, peerVersion, requirePeer, silentLogger } from '../../adapters/peers-common.mjs';

const TYPE = 'noop';

export async function describe({ pollMs }) {
  const skip = await checkPeer('plainjob', async () => {
    await importPeer('plainjob');
    requirePeer('better-sqlite3');
  });
  return {
    id: 'plainjob',
    kind: 'peer',
    polls: true,
    label: `plainjob ${peerVersion('plainjob') ?? ''} defineWorker`,
    version: peerVersion('plainjob'),
    copyable: true,
    skip,
    settings: `defineQueue({ connection: better(new Database(file)) }) (WAL, synchronous=NORMAL hard-coded); addMany of 1000 jobs; ` +
      `concurrency c = c defineWorker()s on the process's queue; pollIntervall ${pollMs.throughput} ms in the throughput rows, ` +
      `${pollMs.latency} ms (its default) in the latency rows; done jobs kept (plainjob's default until its maintenance runs)`,
  };
}

export async function open({ dir }) {
  const { better, defineQueue, defineWorker } = await importPeer('plainjob');
  const Database = requirePeer('better-sqlite3');
  const db = new Database(path.join(dir, 'plainjob.db'));
  const queue = defineQueue({ connection: better(db), logger: silentLogger, maintenanceInterval: 3600000 });
  return {
    enqueueMany: (datas) => queue.addMany(TYPE, datas),
    enqueueOne: (data) => queue.add(TYPE, data),
    work({ concurrency, handler, onCompleted, onError, pollMs }) {
      const workers = [];
      for (let i = 0; i < concurrency; i++) {
        const w = defineWorker(TYPE, (job) => handler(job.data), {
          queue,
          logger: silentLogger,
          pollIntervall: pollMs,
          onCompleted: () => onCompleted(),
          onFailed: (job, e) => onError(new Error(`job ${job.id} failed: ${e}`)),
        });
        w.start().catch(onError);
        workers.push(w);
      }
      return { stop: () => Promise.all(workers.map((w) => w.stop())) };
    },
    close() {
      queue.close();
      db.close();
    },
  };
}
