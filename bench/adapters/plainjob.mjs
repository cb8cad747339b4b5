// plainjob (better-sqlite3 job queue). put = queue.add(type, data); putMany = addMany;
// get = what its worker does per job, without the worker's polling loop:
// getAndMarkJobAsProcessing + getJobById + markJobAsDone (done rows are kept, as
// plainjob does, until its maintenance task removes them).
// plainjob hard-codes WAL + synchronous=NORMAL; the 'full' system sets
// synchronous=FULL on the same connection after defineQueue.
import path from 'node:path';
import { checkPeer, importPeer, peerVersion, requirePeer, silentLogger } from './peers-common.mjs';

const TYPE = 'bench';

export async function listSystems() {
  const skip = await checkPeer('plainjob', async () => {
    await importPeer('plainjob');
    requirePeer('better-sqlite3');
  });
  return ['normal', 'full'].map((durability) => ({
    id: `plainjob/${durability}`,
    module: 'plainjob',
    label: `plainjob ${peerVersion('plainjob') ?? ''} (${durability === 'full' ? 'synchronous=FULL set by bench' : 'default: WAL, synchronous=NORMAL'})`,
    kind: 'peer',
    backend: 'sqlite',
    durability,
    durabilityNote:
      durability === 'full'
        ? 'WAL + synchronous=FULL (plainjob sets NORMAL; the bench overrides the pragma on its connection)'
        : 'WAL + synchronous=NORMAL (hard-coded by plainjob)',
    promise: false,
    multiProcess: true,
    skip,
    version: peerVersion('plainjob'),
  }));
}

export async function openSystem(sys, dir) {
  const { better, defineQueue } = await importPeer('plainjob');
  const Database = requirePeer('better-sqlite3');
  const db = new Database(path.join(dir, 'plainjob.db'));
  const queue = defineQueue({ connection: better(db), logger: silentLogger, maintenanceInterval: 3600000 });
  if (sys.durability === 'full') db.pragma('synchronous = FULL');
  const take = () => {
    const ref = queue.getAndMarkJobAsProcessing(TYPE);
    if (!ref) return undefined;
    const job = queue.getJobById(ref.id);
    queue.markJobAsDone(job.id);
    return JSON.parse(job.data);
  };
  return {
    sync: true,
    put: (item) => queue.add(TYPE, item),
    get: take,
    tryGet(waitMs) {
      const x = take();
      if (x === undefined && waitMs) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.min(waitMs, 1));
      return x;
    },
    putMany: (items) => queue.addMany(TYPE, items),
    close() {
      queue.close();
      db.close();
    },
  };
}
