// A child process for the multi-process tests. argv[2] is a JSON job:
//   { role, cls, location, options, ... }  — see the roles below.
// Results go to `job.out` (a JSON file) or to the parent over IPC; the parent decides when to kill us.
import { writeFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';

const job = JSON.parse(process.argv[2]);
// PostgreSQL classes live in persist-queue/postgres; their location is a queue name on the server at PG_URL (named
// from the location path as test/helpers/classes.ts names it).
const isPg = job.cls.startsWith('Postgres');
const lib = isPg ? await import('../../dist/esm/postgres.js') : await import('../../dist/esm/index.js');
const Cls = lib[job.cls];
const pgName = (l) => `t_${basename(dirname(l))}_${basename(l)}`.replace(/[^A-Za-z0-9_]/g, '_').slice(-40);
const openQueue = () =>
  isPg ? Cls.open(process.env.PG_URL, { ...(job.options ?? {}), name: pgName(job.location) }) : Cls.open(job.location, job.options ?? {});
const isSync = job.cls.endsWith('Sync');
const isAck = job.cls.includes('Ack');
const send = (msg) => new Promise((resolve) => process.send(msg, resolve));
const now = () => performance.timeOrigin + performance.now();

async function main() {
  const q = await openQueue();
  switch (job.role) {
    // Put items {p, n} for n < count (in batches when job.batch), then exit.
    case 'produce': {
      for (let n = 0; n < job.count; ) {
        if (job.batch) {
          const items = [];
          for (let k = 0; k < job.batch && n < job.count; k++, n++) items.push({ p: job.id, n });
          await q.putMany(items);
        } else if (!isSync && job.concurrent) {
          const batch = [];
          for (let k = 0; k < job.concurrent && n < job.count; k++, n++) batch.push(q.put({ p: job.id, n }));
          await Promise.all(batch);
        } else {
          await q.put({ p: job.id, n });
          n++;
        }
      }
      break;
    }
    // Take items until a 'STOP' item; write what was taken to job.out.
    case 'consume': {
      const got = [];
      for (;;) {
        const m = await q.get();
        const data = isAck ? m.data : m;
        if (isAck) await q.ack(m);
        else await q.taskDone();
        if (data === 'STOP') break;
        got.push(data);
      }
      writeFileSync(job.out, JSON.stringify(got));
      break;
    }
    // Take one item and hold it (no ack / taskDone), tell the parent, then obey: 'done' or wait to be killed.
    case 'hold': {
      const m = await q.get();
      process.on('message', async (cmd) => {
        if (cmd === 'done') {
          if (isAck) await q.ack(m);
          else await q.taskDone();
          await send({ done: true });
        }
      });
      await send({ held: isAck ? m.data : m });
      await new Promise(() => {}); // until killed or told
      break;
    }
    // Take items one by one, reporting each before finishing it, until killed.
    case 'slow-consume': {
      for (;;) {
        const m = await q.get();
        await send({ took: isAck ? m.data : m });
        await new Promise((r) => setTimeout(r, job.pauseMs ?? 5));
        if (isAck) await q.ack(m);
        else await q.taskDone();
        await send({ finished: isAck ? m.data : m });
      }
    }
    // Block in get(); report when the item arrived (epoch ms) and the CPU time spent waiting.
    case 'wait-get': {
      await send({ waiting: true });
      const cpu0 = process.cpuUsage();
      const m = await q.get({ timeout: job.timeout ?? 10000 });
      const at = now();
      const cpu = process.cpuUsage(cpu0);
      if (isAck) await q.ack(m);
      await send({ got: isAck ? m.data : m, at, cpuMs: (cpu.user + cpu.system) / 1000 });
      break;
    }
    // Put one item when told, report when the put returned (epoch ms).
    case 'put-on-command': {
      process.on('message', async (cmd) => {
        if (cmd.put !== undefined) {
          await q.put(cmd.put);
          await send({ put: cmd.put, at: now() });
        }
        if (cmd === 'exit') {
          await q.close();
          process.disconnect();
        }
      });
      await send({ ready: true });
      return; // q stays open until 'exit'
    }
    // Exercise waits and close; the process must then exit by itself.
    case 'close-and-exit': {
      await q.put(1);
      try {
        await q.get({ timeout: 30 });
        await q.get({ timeout: 30 });
      } catch {}
      if (!isSync) {
        const pending = q.get().catch(() => {});
        await q.close();
        await pending;
      } else {
        q.close();
      }
      return;
    }
    default:
      throw new Error(`unknown role ${job.role}`);
  }
  await q.close();
  if (process.connected) process.disconnect();
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
  if (process.connected) process.disconnect();
});
