// liteque (drizzle + better-sqlite3 job queue) driven through its own Runner(queue, { run }, { concurrency,
// pollIntervalMs, timeoutSecs }). No batch enqueue: the bench wraps 1000 enqueue() calls in one BEGIN/COMMIT on its
// connection (what a user would do; one commit per 1000 like the others). WAL + synchronous=NORMAL hard-coded.
// The completion time is taken after the Runner's finalize('completed') (its onComplete runs before it).
import path from 'node:path';
import { checkPeer, importPeer, peerVersion } from '../../adapters/peers-common.mjs';

export async function describe({ pollMs }) {
  const skip = await checkPeer('liteque', () => importPeer('liteque'));
  return {
    id: 'liteque',
    kind: 'peer',
    polls: true,
    label: `liteque ${peerVersion('liteque') ?? ''} Runner`,
    version: peerVersion('liteque'),
    copyable: true,
    skip,
    settings: `buildDBClient(file) (WAL, synchronous=NORMAL hard-coded); enqueue() x 1000 inside one BEGIN/COMMIT; ` +
      `Runner { concurrency, pollIntervalMs: ${pollMs.throughput} (throughput rows) / ${pollMs.latency} (latency rows, its README's value), timeoutSecs: 60 }, numRetries 0; ` +
      'completed jobs deleted (liteque always does). liteque runs on better-sqlite3 ~11.9 (see the main report): its dequeue "transaction" ' +
      'commits before its body runs, so with several processes two can pick the same row; the loser gets nothing and sleeps pollIntervalMs',
  };
}

export async function open({ dir, setup }) {
  const { buildDBClient, SqliteQueue, Runner } = await importPeer('liteque');
  const db = buildDBClient(path.join(dir, 'liteque.db'), { runMigrations: !!setup });
  const client = db.$client ?? db.session?.client;
  if (!client) throw new Error('liteque: cannot reach its better-sqlite3 connection');
  const queue = new SqliteQueue('bench', db, { defaultJobArgs: { numRetries: 0 }, keepFailedJobs: false });
  return {
    async enqueueMany(datas) {
      client.exec('BEGIN IMMEDIATE');
      try {
        for (const d of datas) await queue.enqueue(d);
        client.exec('COMMIT');
      } catch (e) {
        client.exec('ROLLBACK');
        throw e;
      }
    },
    enqueueOne: (data) => queue.enqueue(data),
    work({ concurrency, handler, onCompleted, onError, pollMs }) {
      const finalize = queue.finalize.bind(queue);
      queue.finalize = async (...args) => {
        const r = await finalize(...args);
        if (args[2] === 'completed') onCompleted();
        return r;
      };
      const runner = new Runner(
        queue,
        {
          run: (job) => handler(job.data),
          onError: async (job) => onError(new Error(`job ${job.id} failed: ${job.error?.message ?? job.error}`)),
        },
        { concurrency, pollIntervalMs: pollMs, timeoutSecs: 60 },
      );
      const done = runner.run().catch(onError);
      return {
        async stop() {
          runner.stop();
          await done;
        },
      };
    },
    close() {
      client.close();
    },
  };
}
