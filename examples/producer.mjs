// Demo producer process: puts `count` items {p, n, body} and reports progress to the parent.
const pg = process.argv[2].includes('"cls":"Postgres');
const lib = pg ? await import('../dist/esm/postgres.js') : await import('../dist/esm/index.js');

const job = JSON.parse(process.argv[2]);
// PostgreSQL: the queue is `options.name` on the server at PG_URL
const q = await lib[job.cls].open(pg ? process.env.PG_URL : job.location, job.options);
const body = 'x'.repeat(64);
let unreported = 0;
const report = setInterval(() => {
  if (unreported) process.send({ produced: unreported });
  unreported = 0;
}, 50);
if (job.cls.endsWith('Sync')) {
  // The sync class blocks this process, so report every so often from the loop itself.
  for (let n = 0; n < job.count; n++) {
    q.put({ p: job.id, n, body });
    if (++unreported === 500) {
      process.send({ produced: unreported });
      unreported = 0;
    }
  }
} else {
  // The Promise class: 32 puts in flight share commits (group commit).
  for (let n = 0; n < job.count; ) {
    const batch = [];
    for (let k = 0; k < 32 && n < job.count; k++, n++) batch.push(q.put({ p: job.id, n, body }));
    await Promise.all(batch);
    unreported += batch.length;
  }
}
clearInterval(report);
await q.close();
process.send({ produced: unreported }, () => process.disconnect());
