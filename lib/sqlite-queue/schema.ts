/**
 * The SQLite schema: Python persist-queue's tables, created with Python's own statements, plus this library's
 * additions, all of which have defaults so that Python writers keep working:
 *
 * - every queue table gets `pq_crc INTEGER`: the CRC-32 of `data` for rows this library wrote (NULL for rows Python
 *   wrote), checked on every read so a damaged row is reported instead of returned;
 * - ack tables get `pq_owner TEXT` (who holds an unacked message), `pq_lease REAL` (ms since the epoch when the hold
 *   expires) and `pq_attempts INTEGER NOT NULL DEFAULT 0` (deliveries so far), and two partial indexes: ready rows
 *   by `_id`, unacked rows by `pq_lease` (`pq_owner` and `pq_lease` mean something only while `status` is 2: an ack
 *   leaves them as they were);
 * - priority tables get an index on `(priority, _id)`;
 * - `pq_taken` holds items taken by `autoCommit: false` consumers until `taskDone()` (so Python consumers do not see
 *   them either); `pq_pending` records which instances have unfinished tasks, for `join()` across processes.
 *
 * @module
 */
import type Database from 'better-sqlite3';
import type { ResolvedSqliteOptions } from './options.js';

/** Creates the queue's table and this library's side tables and indexes if missing. Call inside a write transaction. */
export function ensureSchema(db: Database.Database, table: string, o: ResolvedSqliteOptions): void {
  const q = `\`${table}\``;
  const extra = o.ack ? ', status INTEGER' : o.order === 'priority' ? ', priority INTEGER' : '';
  const unique = o.unique ? ', UNIQUE (data)' : '';
  db.exec(`CREATE TABLE IF NOT EXISTS ${q} (_id INTEGER PRIMARY KEY AUTOINCREMENT, data BLOB, timestamp FLOAT${extra}${unique})`);
  const cols = new Set((db.prepare(`PRAGMA table_info(${q})`).all() as { name: string }[]).map((c) => c.name));
  if (!cols.has('pq_crc')) db.exec(`ALTER TABLE ${q} ADD COLUMN pq_crc INTEGER`);
  if (o.ack) {
    if (!cols.has('pq_owner')) db.exec(`ALTER TABLE ${q} ADD COLUMN pq_owner TEXT`);
    if (!cols.has('pq_lease')) db.exec(`ALTER TABLE ${q} ADD COLUMN pq_lease REAL`);
    if (!cols.has('pq_attempts')) db.exec(`ALTER TABLE ${q} ADD COLUMN pq_attempts INTEGER NOT NULL DEFAULT 0`);
    // Partial indexes: the next ready message, and the unacked messages by lease end, in O(log n) whatever the
    // number of acked or unacked rows (Python's own `WHERE status < 2 ORDER BY _id` uses the first one too). Every
    // query on ready or unacked rows uses one of them. Acked and failed rows are in neither, so that an ack writes
    // as few pages as possible; counting or clearing them scans the table. Earlier versions also kept an index on
    // (status, _id), which cost every put, get and ack one or two more page writes: it is dropped.
    db.exec(`DROP INDEX IF EXISTS \`pq_idx_${table}\``);
    db.exec(`CREATE INDEX IF NOT EXISTS \`pq_ready_${table}\` ON ${q} (_id) WHERE status < 2`);
    db.exec(`CREATE INDEX IF NOT EXISTS \`pq_lease_${table}\` ON ${q} (pq_lease) WHERE status = 2`);
  } else if (o.order === 'priority') {
    db.exec(`CREATE INDEX IF NOT EXISTS \`pq_idx_${table}\` ON ${q} (priority, _id)`);
  }
  db.exec(
    'CREATE TABLE IF NOT EXISTS pq_taken (tbl TEXT NOT NULL, _id INTEGER NOT NULL, owner TEXT NOT NULL, ' +
      'data BLOB, timestamp FLOAT, priority INTEGER, pq_crc INTEGER, PRIMARY KEY (tbl, _id)) WITHOUT ROWID',
  );
  db.exec('CREATE TABLE IF NOT EXISTS pq_pending (tbl TEXT NOT NULL, owner TEXT NOT NULL, PRIMARY KEY (tbl, owner)) WITHOUT ROWID');
}
