/** The task examples run as they are, end by themselves, and the web example answers real HTTP requests. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/classes.js';

const run = promisify(execFile);
const EX = (name: string) => fileURLToPath(new URL(`../../examples/tasks/${name}`, import.meta.url));
let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir('pq-tasks-ex-')));
afterEach(() => cleanup());

describe('examples/tasks', () => {
  it('web.mjs: POST /jobs answers 202 with the id at once; GET /jobs/:id gives status and result from worker processes', async () => {
    const { startApp } = (await import(EX('web.mjs'))) as {
      startApp(o: { file: string; workers?: number }): Promise<{ url: string; close(): Promise<void> }>;
    };
    const app = await startApp({ file: join(dir, 'tasks.db'), workers: 2 });
    try {
      const posted = await fetch(`${app.url}/jobs`, { method: 'POST', body: JSON.stringify({ task: 'fib', data: 30 }) });
      expect(posted.status).toBe(202);
      const { id } = (await posted.json()) as { id: number };
      expect(typeof id).toBe('number');
      let job: { status: string; result?: unknown } = { status: '' };
      for (let i = 0; i < 400 && job.status !== 'succeeded'; i++) {
        job = (await (await fetch(`${app.url}/jobs/${id}`)).json()) as typeof job;
        if (job.status !== 'succeeded') await new Promise((r) => setTimeout(r, 25));
      }
      expect(job).toMatchObject({ status: 'succeeded', result: 832040 });
      expect((await fetch(`${app.url}/jobs/99999`)).status).toBe(404);
      expect((await fetch(`${app.url}/jobs`, { method: 'POST', body: '{"task":"rm -rf"}' })).status).toBe(400);
    } finally {
      await app.close();
    }
  });

  for (const [name, expected] of [
    ['web.mjs', /\/jobs\/2: succeeded 12586269025/],
    ['sync-submit.mjs', /fib\(90\) = 2880067194370816000[\s\S]*report: \{ user: 'grace'/],
    ['schedules.mjs', /schedule nightly-report: next run[\s\S]*failed for good[\s\S]*dead letter: \[[\s\S]*sent back: now pending/],
  ] as const) {
    it(`${name} runs and ends by itself`, async () => {
      const { stdout } = await run(process.execPath, [EX(name)], { timeout: 30_000 });
      expect(stdout).toMatch(expected);
    });
  }
});
