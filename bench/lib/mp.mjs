// Workload (d): P producer processes and C consumer processes (child_process.fork of
// workers/mp.mjs) on one queue. Items/s = N / (time from 'go' to the last item taken).
import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { workerPath } from './child.mjs';
import { freshDir, removeDir } from './tmp.mjs';

const wall = () => performance.timeOrigin + performance.now();

function start(arg) {
  const child = fork(workerPath('mp.mjs'), [JSON.stringify(arg)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--no-warnings'] });
  const ready = new Promise((resolve, reject) => {
    child.on('message', (m) => {
      if (m.ready) resolve();
      if (m.error) reject(new Error(`${arg.role}: ${m.error}`));
    });
    child.on('exit', (code) => reject(new Error(`${arg.role} exited (${code}) before ready`)));
  });
  return { child, ready };
}

export async function runMultiProcess(sys, { n, size, producers = 4, consumers = 4, root, timeoutMs, capMs }) {
  const dir = freshDir(root, `${sys.id}-mp`);
  const kids = [];
  try {
    const per = Math.ceil(n / producers);
    // The first process creates the queue's files; the rest start together.
    const roles = [];
    for (let i = 0; i < Math.max(producers, consumers); i++) {
      if (i < producers) roles.push('producer');
      if (i < consumers) roles.push('consumer');
    }
    let p = 0;
    for (const role of roles) {
      const k = start({ module: sys.module, id: sys.id, role, count: per, size, dir, capMs, seq0: role === 'producer' ? per * p++ : 0 });
      k.role = role;
      kids.push(k);
      if (kids.length === 1) await k.ready;
    }
    await Promise.all(kids.map((k) => k.ready));
    const prods = kids.filter((k) => k.role === 'producer');
    const cons = kids.filter((k) => k.role === 'consumer');
    const result = await new Promise((resolve, reject) => {
      const counts = new Map();
      const finals = [];
      const doneAt = [];
      let put = 0;
      let stopping = false;
      const check = () => {
        const sum = [...counts.values()].reduce((x, y) => x + y, 0);
        if (doneAt.length === prods.length && sum >= put && !stopping) {
          stopping = true;
          for (const c of cons) c.child.send('stop');
        }
      };
      const timer = setTimeout(() => reject(new Error(`multi-process run timed out after ${timeoutMs / 1000} s`)), timeoutMs);
      for (const k of kids) {
        k.child.on('message', (m) => {
          if (m.error) {
            clearTimeout(timer);
            reject(new Error(`${k.role}: ${m.error}`));
          }
          if (m.done) {
            doneAt.push(m.at);
            put += m.count;
            check();
          }
          if (m.progress) {
            counts.set(k, m.count);
            check();
          }
          if (m.final) {
            finals.push(m);
            if (finals.length === cons.length) {
              clearTimeout(timer);
              resolve({ finals, doneAt, put });
            }
          }
        });
      }
      kids.t0 = wall();
      for (const k of kids) k.child.send('go');
    });
    const got = result.finals.reduce((x, f) => x + f.count, 0);
    if (got !== result.put) throw new Error(`consumers took ${got} items, producers put ${result.put}`);
    const total = result.put;
    const t0 = kids.t0;
    const end = Math.max(...result.finals.map((f) => f.lastAt));
    const putEnd = Math.max(...result.doneAt);
    return { items: total / ((end - t0) / 1000), put: total / ((putEnd - t0) / 1000), n: total, capped: total < per * producers };
  } finally {
    for (const k of kids) if (k.child.exitCode === null) k.child.kill('SIGKILL');
    removeDir(dir);
  }
}
