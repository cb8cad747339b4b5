// A raw better-sqlite3 connection that is idle (mode 'idle': open, no transaction) or pins a snapshot (mode 'pin':
// BEGIN; SELECT ...; then waits with the read transaction open). Prints "ready" and waits to be killed.
// argv[2]: JSON { file, table, mode }.
import Database from 'better-sqlite3';

const job = JSON.parse(process.argv[2]);
const db = new Database(job.file, { timeout: 10_000 });
db.pragma('journal_mode = WAL');
if (job.mode === 'pin') {
  db.exec('BEGIN');
  db.prepare(`SELECT COUNT(*) FROM ${job.table}`).pluck().get();
} else {
  db.prepare(`SELECT COUNT(*) FROM ${job.table}`).pluck().get();
}
process.stdout.write('ready\n');
setInterval(() => {}, 1 << 30);
