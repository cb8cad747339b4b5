// The background-task web pattern: an HTTP server that answers `POST /jobs` at once with 202 and the job id, and
// `GET /jobs/:id` with the job's status and result, while worker processes (examples/tasks/worker-process.mjs) run
// the jobs. All state is in one SQLite file, so the server and the workers can restart independently.
//
//   node examples/tasks/web.mjs          # starts server + 2 workers, sends a few requests itself, shuts down
//
// `startApp()` is exported for the test, which makes its own HTTP requests.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TaskQueue } from '../../dist/esm/tasks.js';

const WORKER = fileURLToPath(new URL('./worker-process.mjs', import.meta.url));

/** Starts the server on a free port and `workers` worker processes; returns its URL and a `close()`. */
export async function startApp({ file, workers = 2 }) {
  const q = await TaskQueue.open(file, { durability: 'normal' });
  const procs = [];
  for (let i = 0; i < workers; i++) {
    const p = fork(WORKER, [file], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    procs.push(p);
    await once(p, 'message');
  }
  const server = createServer(async (req, res) => {
    const reply = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      if (req.method === 'POST' && req.url === '/jobs') {
        let body = '';
        for await (const chunk of req) body += chunk;
        const { task, data } = JSON.parse(body || '{}');
        if (task !== 'report' && task !== 'fib') return reply(400, { error: `unknown task ${task}` });
        const id = await q.enqueue(task, data, { maxAttempts: 3 });
        return reply(202, { id, url: `/jobs/${id}` });
      }
      const m = /^\/jobs\/(\d+)$/.exec(req.url ?? '');
      if (req.method === 'GET' && m) {
        const job = await q.getJob(Number(m[1]));
        if (!job) return reply(404, { error: 'no such job' });
        return reply(200, { id: job.id, status: job.status, result: job.result, error: job.error?.message, progress: job.progress });
      }
      reply(404, { error: 'not found' });
    } catch (err) {
      reply(400, { error: String(err?.message ?? err) });
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    async close() {
      server.close();
      for (const p of procs) p.kill('SIGTERM');
      await Promise.all(procs.map((p) => (p.exitCode === null ? once(p, 'exit') : undefined)));
      await q.close();
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = mkdtempSync(join(tmpdir(), 'pq-web-'));
  const app = await startApp({ file: join(dir, 'tasks.db') });
  const post = async (body) => (await fetch(`${app.url}/jobs`, { method: 'POST', body: JSON.stringify(body) })).json();
  const jobs = [await post({ task: 'report', data: { user: 'ada' } }), await post({ task: 'fib', data: 50 })];
  console.log('accepted:', jobs.map((j) => j.id).join(', '));
  for (const { url } of jobs) {
    for (;;) {
      const job = await (await fetch(app.url + url)).json();
      if (job.status === 'succeeded' || job.status === 'failed') {
        console.log(`${url}: ${job.status}`, job.result);
        break;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  await app.close();
  rmSync(dir, { recursive: true, force: true });
}
