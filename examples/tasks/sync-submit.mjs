// The blocking twin: a plain synchronous script uses TaskQueueSync.submit() to get a result computed by a Promise
// Worker in another process (examples/tasks/worker-process.mjs). The script's thread sleeps while it waits.
//
//   node examples/tasks/sync-submit.mjs
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TaskQueueSync } from '../../dist/esm/tasks.js';

const dir = mkdtempSync(join(tmpdir(), 'pq-sync-'));
const file = join(dir, 'tasks.db');
const worker = fork(fileURLToPath(new URL('./worker-process.mjs', import.meta.url)), [file], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
await once(worker, 'message'); // the worker is running

// From here on: synchronous code, as in a script or a CLI that cannot await.
const q = TaskQueueSync.open(file, { durability: 'normal' });
const fib90 = q.submit('fib', 90, { timeout: 10_000 });
console.log('fib(90) =', fib90);
const id = q.enqueue('report', { user: 'grace' });
console.log('report:', q.result(id, { timeout: 10_000 }));
console.log('counts:', q.counts());
q.close();

worker.kill('SIGTERM');
await once(worker, 'exit');
rmSync(dir, { recursive: true, force: true });
