// liteque (drizzle + better-sqlite3 job queue). put = queue.enqueue(item);
// get = what its Runner does per job, without the polling loop:
// attemptDequeue + JSON.parse(payload) + finalize(id, allocationId, 'completed') (deletes).
// buildDBClient hard-codes WAL + synchronous=NORMAL; 'full' sets synchronous=FULL
// on the underlying connection afterwards. No batch API.
import path from 'node:path';
import { checkPeer, importPeer, peerVersion } from './peers-common.mjs';

export async function listSystems() {
  const skip = await checkPeer('liteque', () => importPeer('liteque'));
  return ['normal', 'full'].map((durability) => ({
    id: `liteque/${durability}`,
    module: 'liteque',
    label: `liteque ${peerVersion('liteque') ?? ''} (${durability === 'full' ? 'synchronous=FULL set by bench' : 'default: WAL, synchronous=NORMAL'})`,
    kind: 'peer',
    backend: 'sqlite',
    durability,
    durabilityNote:
      durability === 'full'
        ? 'WAL + synchronous=FULL (liteque sets NORMAL; the bench overrides the pragma on its connection)'
        : 'WAL + synchronous=NORMAL (hard-coded by liteque)',
    promise: true,
    multiProcess: true,
    skip,
    version: peerVersion('liteque'),
  }));
}

export async function openSystem(sys, dir) {
  const { buildDBClient, SqliteQueue } = await importPeer('liteque');
  const db = buildDBClient(path.join(dir, 'liteque.db'), { runMigrations: true });
  const client = db.$client ?? db.session?.client;
  if (sys.durability === 'full') {
    if (!client) throw new Error('liteque: cannot reach the better-sqlite3 connection to set synchronous=FULL');
    client.pragma('synchronous = FULL');
  }
  const queue = new SqliteQueue('bench', db, { defaultJobArgs: { numRetries: 0 }, keepFailedJobs: false });
  const take = async () => {
    const job = await queue.attemptDequeue({ timeoutSecs: 60 });
    if (!job) return undefined;
    const data = JSON.parse(job.payload);
    await queue.finalize(job.id, job.allocationId, 'completed');
    return data;
  };
  return {
    sync: false,
    put: (item) => queue.enqueue(item),
    get: take,
    async tryGet(waitMs) {
      const x = await take();
      if (x === undefined && waitMs) await new Promise((r) => setTimeout(r, Math.min(waitMs, 1)));
      return x;
    },
    close() {
      client?.close();
    },
  };
}
