// This library's task layer: TaskQueue + Worker from the ESM build (dist/esm/index.js, or dist/esm/tasks.js).
// Skipped (with the reason) when the build has no task layer yet, never a crash.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const DIST = ['tasks.js', 'index.js'].map((f) => fileURLToPath(new URL(`../../../dist/esm/${f}`, import.meta.url)));
const TASK = 'noop';

let libP;
export function loadTasks() {
  libP ??= (async () => {
    const errs = [];
    for (const f of DIST) {
      if (!fs.existsSync(f)) {
        errs.push(`${path.basename(f)} not built`);
        continue;
      }
      const m = await import(pathToFileURL(f).href);
      if (typeof m.TaskQueue === 'function' && typeof m.Worker === 'function') return m;
      errs.push(`dist/esm/${path.basename(f)} exports no TaskQueue/Worker`);
    }
    throw new Error(`${errs.join('; ')} (run \`npm run build\` on a build with the task layer)`);
  })();
  return libP;
}

export async function describe() {
  let skip = null;
  try {
    await loadTasks();
  } catch (e) {
    skip = e.message;
  }
  const pkg = JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'));
  return {
    id: 'persist-queue',
    kind: 'lib',
    label: `persist-queue ${pkg.version} TaskQueue + Worker`,
    version: pkg.version,
    copyable: true,
    skip,
    settings: "TaskQueue.open(file, { durability: 'normal' }) (WAL, synchronous=NORMAL), other options at their defaults; " +
      "enqueueMany of 1000 jobs per call; Worker(q, { noop }, { concurrency }), started with start(); wakes by its own notification (no poll setting)",
  };
}

export async function open({ dir, durability }) {
  const { TaskQueue, Worker } = await loadTasks();
  const q = await TaskQueue.open(path.join(dir, 'tasks.db'), { durability });
  return {
    enqueueMany: (datas) => q.enqueueMany(datas.map((data) => ({ task: TASK, data }))),
    enqueueOne: (data) => q.enqueue(TASK, data),
    work({ concurrency, handler, onCompleted, onError }) {
      const w = new Worker(q, { [TASK]: (data) => handler(data) }, { concurrency });
      w.on('completed', () => onCompleted());
      w.on('failed', (job, err) => onError(new Error(`job ${job?.id} failed: ${err?.message ?? err}`)));
      w.on('error', (err) => onError(err));
      const running = w.start();
      if (running && typeof running.catch === 'function') running.catch(onError);
      return { stop: () => w.stop({ timeout: 5000 }) };
    },
    /** runUntilIdle() in one process: `idle` resolves when it returns; stop() ends it early (time cap). */
    runUntilIdle({ concurrency, handler, onCompleted, onError }) {
      const w = new Worker(q, { [TASK]: (data) => handler(data) }, { concurrency });
      w.on('completed', () => onCompleted());
      w.on('failed', (job, err) => onError(new Error(`job ${job?.id} failed: ${err?.message ?? err}`)));
      w.on('error', (err) => onError(err));
      const idle = w.runUntilIdle().catch(onError);
      return { idle, stop: () => w.stop({ timeout: 5000 }) };
    },
    close: () => q.close(),
  };
}
