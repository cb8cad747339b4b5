// Demo consumer process: takes items until a 'STOP' item, then writes [producer, seq] pairs to job.out. The STOP
// item is put back for the next consumer (it is the last item, so nothing is behind it).
import { writeFileSync } from 'node:fs';
const pg = process.argv[2].includes('"cls":"Postgres');
const lib = pg ? await import('../dist/esm/postgres.js') : await import('../dist/esm/index.js');

const job = JSON.parse(process.argv[2]);
// PostgreSQL: the queue is `options.name` on the server at PG_URL
const q = await lib[job.cls].open(pg ? process.env.PG_URL : job.location, job.options);
const got = [];
let unreported = 0;
const flush = () => {
  if (unreported) process.send({ consumed: unreported });
  unreported = 0;
};
const report = setInterval(flush, 50);
const isSync = job.cls.endsWith('Sync');
for (;;) {
  const batch = isSync ? q.getMany(100) : await q.getMany(100);
  let stop = false;
  for (const item of batch) {
    if (item === 'STOP') stop = true;
    else got.push([item.p, item.n]);
  }
  unreported += batch.length - (stop ? 1 : 0);
  if (isSync && unreported >= 500) flush();
  if (stop) {
    await q.put('STOP');
    break;
  }
}
clearInterval(report);
await q.close();
writeFileSync(job.out, JSON.stringify(got));
process.send({ consumed: unreported }, () => process.disconnect());
