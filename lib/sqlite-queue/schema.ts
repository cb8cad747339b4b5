/**
 * The SQLite schema: Python persist-queue's tables, created with Python's own statements, plus this library's
 * additions, all of which have defaults so that Python writers keep working:
 *
 * - every queue table gets `pq_crc INTEGER`: the CRC-32 of `data` for rows this library wrote (NULL for rows Python
 *   wrote), checked on every read so a damaged row is reported instead of returned;
 * - ack tables get `pq_owner TEXT` (who holds an unacked message), `pq_lease REAL` (ms since the epoch when the hold
 *   expires) and `pq_attempts INTEGER NOT NULL DEFAULT 0` (deliveries so far; `pq_owner` and `pq_lease` mean
 *   something only while `status` is 2: an ack leaves them as they were), partial indexes a get does not touch,
 *   a row in `pq_ack_state` (scan bounds, see ack-core.ts) with a trigger that keeps it, and `pq_holders` (open
 *   instances and the 8-character tag each writes into `pq_owner`, for the dead-holder sweep);
 * - priority tables get an index on `(priority, _id)`;
 * - `pq_taken` holds items taken by `autoCommit: false` consumers until `taskDone()` (so Python consumers do not see
 *   them either); `pq_pending` records which instances have unfinished tasks, for `join()` across processes.
 *
 * @module
 */
import type Database from 'better-sqlite3';
import type { ResolvedSqliteOptions } from './options.js';

/**
 * `pq_owner` of an ack row nobody holds, as this library writes it: the same length as a holder's tag, so that taking
 * the row rewrites it in place (see {@link NO_LEASE}).
 */
export const NO_OWNER = '--------';
/**
 * `pq_lease` of an ack row nobody holds, as this library writes it: a one-byte integer. A get without lease sets it
 * to NULL (no bytes) while `status` goes from 0 or 1 (no bytes) to 2 (one byte): the row keeps its size, and SQLite
 * overwrites it in place, writing only the pages whose bytes changed (for an item with an overflow page: the leaf and
 * the overflow page that holds the columns after `data`, instead of a new overflow page, the old one freed and the
 * freelist).
 */
export const NO_LEASE = 2;
/** Length of a holder's tag in `pq_owner` (`pq_holders.tag`). */
export const TAG_LENGTH = NO_OWNER.length;
/** Unacked rows with a lease (not {@link NO_LEASE}, which a row a Python process took keeps). */
export const LEASED = `status = 2 AND pq_lease > ${NO_LEASE}`;
/** Unacked rows no Node instance holds: taken by a Python process. */
export const ORPHAN = `status = 2 AND (pq_owner IS NULL OR pq_owner = '${NO_OWNER}')`;

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
    // What a get must not pay for: every index a get or an ack changes costs that commit one more page write, and a
    // FIFO get that only rewrites its row in place costs about what a plain `DELETE` does (docs/sqlite.md, "Ack
    // tables"). So a FIFO ack table has no index of ready or unacked rows: a get scans forward by `_id` from a
    // bound below which no row is ready (`pq_ack_state.low`, kept by the trigger below), and the few queries on
    // unacked rows scan from `pq_ack_state.ulow`. A FILO table keeps an index of its ready rows (the next one is the
    // newest, and taken rows pile up above the ready ones). Both have two partial indexes that a get never touches:
    // leased rows (only with `visibilityTimeout`) by lease end, and rows taken by a Python process (no owner).
    db.exec(`DROP INDEX IF EXISTS \`pq_idx_${table}\``);
    db.exec(`DROP INDEX IF EXISTS \`pq_lease_${table}\``);
    if (o.order === 'filo') db.exec(`CREATE INDEX IF NOT EXISTS \`pq_ready_${table}\` ON ${q} (_id) WHERE status < 2`);
    else db.exec(`DROP INDEX IF EXISTS \`pq_ready_${table}\``);
    db.exec(`CREATE INDEX IF NOT EXISTS \`pq_leased_${table}\` ON ${q} (pq_lease) WHERE ${LEASED}`);
    db.exec(`CREATE INDEX IF NOT EXISTS \`pq_orphan_${table}\` ON ${q} (_id) WHERE ${ORPHAN}`);
    db.exec(
      'CREATE TABLE IF NOT EXISTS pq_ack_state (tbl TEXT PRIMARY KEY, seq INTEGER NOT NULL, low INTEGER NOT NULL, ' +
        'ulow INTEGER NOT NULL) WITHOUT ROWID',
    );
    db.prepare('INSERT OR IGNORE INTO pq_ack_state (tbl, seq, low, ulow) VALUES (?, 0, 0, 0)').run(table);
    // Any writer that makes a taken, acked or failed row ready again (nack, an expired lease, a dead holder's rows
    // given back, Python's nack or auto_resume: a trigger runs for every connection) lowers both bounds to it and
    // counts a rewind, so that getters which remember where they were start over from the bound.
    db.exec(
      `CREATE TRIGGER IF NOT EXISTS \`pq_ready_again_${table}\` AFTER UPDATE OF status ON ${q} ` +
        `WHEN NEW.status < 2 AND OLD.status >= 2 BEGIN UPDATE pq_ack_state SET seq = seq + 1, ` +
        `low = MIN(low, NEW._id), ulow = MIN(ulow, NEW._id) WHERE tbl = '${table}'; END`,
    );
    // A Python get marks a row unack and leaves pq_owner as it was; a row that a Node holder once had would then look
    // held by that (maybe long gone) holder: the owner is cleared, so the row counts as Python's (made ready on open).
    db.exec(
      `CREATE TRIGGER IF NOT EXISTS \`pq_python_take_${table}\` AFTER UPDATE OF status ON ${q} ` +
        `WHEN NEW.status = 2 AND OLD.status < 2 AND NEW.pq_owner IS OLD.pq_owner AND NEW.pq_owner IS NOT NULL ` +
        `AND NEW.pq_owner <> '${NO_OWNER}' BEGIN UPDATE ${q} SET pq_owner = NULL WHERE _id = NEW._id; END`,
    );
    db.exec(
      'CREATE TABLE IF NOT EXISTS pq_holders (tbl TEXT NOT NULL, owner TEXT NOT NULL, tag TEXT NOT NULL, ' +
        'PRIMARY KEY (tbl, owner), UNIQUE (tbl, tag)) WITHOUT ROWID',
    );
  } else if (o.order === 'priority') {
    db.exec(`CREATE INDEX IF NOT EXISTS \`pq_idx_${table}\` ON ${q} (priority, _id)`);
  }
  db.exec(
    'CREATE TABLE IF NOT EXISTS pq_taken (tbl TEXT NOT NULL, _id INTEGER NOT NULL, owner TEXT NOT NULL, ' +
      'data BLOB, timestamp FLOAT, priority INTEGER, pq_crc INTEGER, PRIMARY KEY (tbl, _id)) WITHOUT ROWID',
  );
  db.exec('CREATE TABLE IF NOT EXISTS pq_pending (tbl TEXT NOT NULL, owner TEXT NOT NULL, PRIMARY KEY (tbl, owner)) WITHOUT ROWID');
}
