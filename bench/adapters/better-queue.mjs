// better-queue with the better-queue-sqlite store. better-queue is push-based: put =
// push(item) resolved on the ticket's 'queued' event (after the store's COMMIT); get =
// the next task its processor is handed (the processor calls back at once, so the store
// deletes the task). The queue is created paused (autoResume: false) and resumed on the
// first get(), so "put N then get N" really does the puts first.
// better-queue-sqlite hard-codes PRAGMA synchronous=OFF and journal_mode=MEMORY: no
// power-loss durability, and a crash mid-commit can corrupt the database.
// No batch API (push takes one task), no multi-process support.
import path from 'node:path';
import { checkPeer, peerVersion, PullBuffer, requirePeer } from './peers-common.mjs';

export async function listSystems() {
  const skip = await checkPeer('better-queue', () => {
    requirePeer('better-queue');
    requirePeer('better-queue-sqlite');
    requirePeer('sqlite3');
  });
  return [
    {
      id: 'better-queue/off',
      module: 'better-queue',
      label: `better-queue ${peerVersion('better-queue') ?? ''} + better-queue-sqlite ${peerVersion('better-queue-sqlite') ?? ''}`,
      kind: 'peer',
      backend: 'sqlite',
      durability: 'off',
      durabilityNote:
        'synchronous=OFF, journal_mode=MEMORY (hard-coded by better-queue-sqlite): no power-loss durability; a crash mid-commit can corrupt the db',
      promise: true,
      multiProcess: false,
      skip,
      version: peerVersion('better-queue'),
    },
  ];
}

export async function openSystem(sys, dir) {
  const Queue = requirePeer('better-queue');
  const SqliteStore = requirePeer('better-queue-sqlite');
  const buf = new PullBuffer();
  const store = new SqliteStore({ path: path.join(dir, 'bq.db') });
  const q = new Queue((task, cb) => buf.push(task, () => cb()), { store, autoResume: false, id: '__none__' });
  q.pause();
  let started = false;
  const start = () => {
    if (!started) {
      started = true;
      q.resume();
    }
  };
  await new Promise((resolve, reject) => {
    const t = setInterval(() => {
      if (q._connected) {
        clearInterval(t);
        resolve();
      }
    }, 1);
    setTimeout(() => {
      clearInterval(t);
      reject(new Error('better-queue: store did not connect in 10 s'));
    }, 10000);
  });
  return {
    sync: false,
    put: (item) =>
      new Promise((resolve, reject) => {
        q.push(item).on('queued', resolve).on('failed', reject);
      }),
    get() {
      start();
      return buf.take();
    },
    tryGet(waitMs) {
      start();
      return buf.take(waitMs);
    },
    close: () =>
      new Promise((resolve) => {
        q.destroy(() => {
          try {
            store._db?.close(() => resolve());
          } catch {
            resolve();
          }
        });
      }),
  };
}
