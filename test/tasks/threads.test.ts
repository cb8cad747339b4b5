/** Worker `threads`: handlers exported by a module run in a piscina pool, off the event loop. */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as tasks from '../../dist/esm/tasks.js';
import { caught, tempDir } from '../helpers/classes.js';

const MODULE = fileURLToPath(new URL('./workers/thread-handlers.mjs', import.meta.url));
const { TaskQueue, Worker } = tasks;
let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir('pq-tasks-t-')));
afterEach(() => cleanup());

describe('Worker threads', () => {
  it('runs CPU-bound handlers in worker threads while the event loop stays free; failures and timeouts are stored', async () => {
    const q = await TaskQueue.open(join(dir, 't.db'), { durability: 'normal' });
    const w = new Worker(
      q,
      { fib: {}, spin: { timeout: 5000 }, fails: { maxAttempts: 1 }, local: (d: number) => d + 1 },
      { concurrency: 4, threads: { module: MODULE, size: 2 } },
    ).start();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const [a, b] = await Promise.all([q.submit<{ value: number; threadId: number }>('fib', 25), q.submit('spin', 300)]);
    clearInterval(timer);
    expect(a.value).toBe(75025);
    expect(a.threadId).toBeGreaterThan(0); // not the main thread
    expect(b).toBe('spun');
    expect(ticks).toBeGreaterThanOrEqual(10); // the main thread kept ticking during the 300 ms spin
    expect(await q.submit('local', 1)).toBe(2);
    const err = (await caught(() => q.submit('fails', null))) as tasks.TaskFailedError;
    expect(err.code).toBe('ERR_TASK_FAILED');
    expect(err.job.error!.message).toContain('thread says no');
    const t = await q.enqueue('spin', 2000, { timeout: 100, maxAttempts: 1 });
    const te = (await caught(() => q.result(t, { timeout: 5000 }))) as tasks.TaskFailedError;
    expect(te.job.error).toMatchObject({ name: 'TaskTimeoutError' });
    await w.stop();
    await q.close();
  });
});
