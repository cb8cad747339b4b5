// Graceful shutdown of a Promise consumer (README, "Graceful shutdown"): Ctrl-C or SIGTERM closes the queue; the
// for-await loop finishes the item in hand and ends. Usage: node examples/shutdown-async.mjs <queue.db>
import { SqliteQueue } from '../dist/esm/index.js';

const q = await SqliteQueue.open(process.argv[2] ?? 'jobs.db');
let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => { stopping = true; void q.close(); });
let handled = 0;
console.log('ready');
for await (const job of q) {
  await new Promise((resolve) => setTimeout(resolve, 1)); // the work (a close may come meanwhile)
  handled += job.n;
  if (!stopping) await q.taskDone(); // for join(); after close() every call throws QueueClosedError
}
console.log(`handled ${handled}`);
