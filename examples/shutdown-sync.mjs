// Graceful shutdown of a sync consumer (README, "Graceful shutdown"): Ctrl-C or SIGTERM lets the item in hand finish,
// then the queue is closed. Usage: node examples/shutdown-sync.mjs <queue.db>  (prints "handled N" at the end)
import { QueueEmptyError, SqliteQueueSync } from '../dist/esm/index.js';

const q = SqliteQueueSync.open(process.argv[2] ?? 'jobs.db');
let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => { stopping = true; });
const turn = () => new Promise((resolve) => setImmediate(resolve)); // lets Node run the handler
let handled = 0;
console.log('ready');
while (!stopping) {
  try {
    const job = q.get({ timeout: 500 }); // blocks the thread for at most 500 ms
    handled += job.n;
    q.taskDone();
  } catch (err) {
    if (!(err instanceof QueueEmptyError)) throw err;
  }
  await turn();
}
q.close();
console.log(`handled ${handled}`);
