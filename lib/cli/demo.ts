/**
 * `persist-queue demo`: the README's hand-off demo, run from the installed package. Two producer and two consumer
 * processes (one sync class and one Promise class each) share one queue in a temporary folder; a live line shows
 * progress; at the end every item is checked to have arrived exactly once and the throughput is printed.
 * The processes run this package's compiled demo-worker module. Internal to the CLI.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileQueueSync } from '../file-queue/queue.js';
import { SqliteQueueSync } from '../sqlite-queue/queue.js';
import { out, paint } from './output.js';

export interface DemoOptions {
  items: number;
  backend: 'sqlite' | 'file';
  json: boolean;
}

export async function demo(o: DemoOptions): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'persist-queue-demo-'));
  const location = o.backend === 'sqlite' ? join(dir, 'queue.db') : join(dir, 'queue');
  const tty = process.stdout.isTTY === true && !o.json;
  const counts = [Math.ceil(o.items / 2), Math.floor(o.items / 2)];
  let produced = 0;
  let consumed = 0;
  const start = (job: object) => {
    const child = fork(join(__dirname, 'demo-worker.js'), [JSON.stringify({ location, backend: o.backend, ...job })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.on('message', (m: { produced?: number; consumed?: number }) => {
      produced += m.produced ?? 0;
      consumed += m.consumed ?? 0;
    });
    return new Promise<void>((resolve, reject) => child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`a demo process exited with ${code}`)))));
  };
  if (!o.json) {
    out(`persist-queue demo: ${o.items} items, 2 producer and 2 consumer processes`);
    out(`queue: ${location} (${o.backend === 'sqlite' ? 'SQLite' : 'file queue'}, durability 'normal')`);
  }
  // create the queue before the processes race to
  (o.backend === 'sqlite' ? SqliteQueueSync.open(location) : FileQueueSync.open(location)).close();
  const t0 = performance.now();
  const cons = [true, false].map((sync, i) => start({ role: 'consumer', sync, id: i, count: 0, out: join(dir, `consumer-${i}.json`) }));
  const prods = counts.map((count, id) => start({ role: 'producer', sync: id === 0, id, count, out: '' }));
  let last = 0;
  const progress = setInterval(() => {
    const secs = (performance.now() - t0) / 1000;
    const line = `produced ${produced}/${o.items}  consumed ${consumed}/${o.items}  ${Math.round(consumed / secs)} items/s`;
    if (tty) process.stdout.write(`\r${line}\x1b[K`);
    else if (!o.json && performance.now() - last > 1000) {
      last = performance.now();
      out(line);
    }
  }, 100);
  try {
    await Promise.all(prods);
    const q = o.backend === 'sqlite' ? SqliteQueueSync.open(location) : FileQueueSync.open(location);
    q.put('STOP');
    q.close();
    await Promise.all(cons);
  } finally {
    clearInterval(progress);
  }
  const secs = (performance.now() - t0) / 1000;
  if (tty) process.stdout.write('\n');
  const seen = new Map<string, number>();
  for (let i = 0; i < 2; i++) {
    for (const [p, n] of JSON.parse(readFileSync(join(dir, `consumer-${i}.json`), 'utf8')) as [number, number][]) {
      seen.set(`${p}:${n}`, (seen.get(`${p}:${n}`) ?? 0) + 1);
    }
  }
  let missing = 0;
  counts.forEach((c, p) => {
    for (let n = 0; n < c; n++) if (!seen.has(`${p}:${n}`)) missing++;
  });
  const duplicated = [...seen.values()].filter((c) => c > 1).length;
  const unknown = seen.size - (o.items - missing);
  rmSync(dir, { recursive: true, force: true });
  const ok = missing === 0 && duplicated === 0 && unknown === 0;
  const throughput = Math.round(o.items / secs);
  if (o.json) {
    out(JSON.stringify({ ok, items: o.items, backend: o.backend, missing, duplicated, unknown, seconds: Number(secs.toFixed(3)), throughput }));
  } else {
    out(`delivered ${seen.size} distinct items: ${missing} missing, ${duplicated} delivered twice, ${unknown} unknown`);
    out(`throughput: ${throughput} items/s end to end (${secs.toFixed(2)} s)`);
    out(ok ? paint('green', 'OK: every item arrived exactly once') : paint('red', 'FAILED: the hand-off was not exactly once'));
  }
  return ok ? 0 : 1;
}
