// A raw better-sqlite3 connection that takes SQLite's write lock (BEGIN IMMEDIATE), writes a row the queue must never
// show (the transaction is never committed), prints "held" and then waits: for ever (to be killed with SIGKILL), or
// `holdMs` before rolling back and exiting. argv[2]: JSON { file, table, ack, holdMs? }.
import Database from 'better-sqlite3';

const job = JSON.parse(process.argv[2]);
const db = new Database(job.file, { timeout: 10_000 });
db.pragma('journal_mode = WAL');
db.exec('BEGIN IMMEDIATE');
const marker = Buffer.from(JSON.stringify({ k: 'uncommitted', b: '', h: 'x' }));
db.prepare(`INSERT INTO ${job.table} (data, timestamp${job.ack ? ', status' : ''}) VALUES (?, ?${job.ack ? ', 1' : ''})`).run(marker, Date.now() / 1000);
process.stdout.write('held\n');
if (job.holdMs === undefined) setInterval(() => {}, 1 << 30);
else
  setTimeout(() => {
    db.exec('ROLLBACK');
    db.close();
    process.stdout.write('released\n');
  }, job.holdMs);
