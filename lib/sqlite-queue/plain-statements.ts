/**
 * The prepared statements of the plain SQLite queues (plain-core.ts), as one typed set: every name is known to the
 * compiler, so the core never asserts that a statement exists.
 *
 * @module
 */
import type Database from 'better-sqlite3';
import type { Stmt } from './connection.js';
import type { ResolvedSqliteOptions } from './options.js';

/** The columns a get returns (and a put-back restores): a stored row of a plain table. */
export interface PlainRow {
  _id: number;
  data: Buffer;
  timestamp: number;
  priority?: number;
  pq_crc: number | null;
}

/** The order in which a get takes rows, as SQL and as a comparison of returned rows. */
export function plainOrder(opts: ResolvedSqliteOptions): { sql: string; cmp: (a: PlainRow, b: PlainRow) => number } {
  if (opts.order === 'priority') return { sql: 'priority ASC, _id ASC', cmp: (a, b) => (a.priority ?? 0) - (b.priority ?? 0) || a._id - b._id };
  if (opts.order === 'filo') return { sql: '_id DESC', cmp: (a, b) => b._id - a._id };
  return { sql: '_id ASC', cmp: (a, b) => a._id - b._id };
}

/** Prepares the statements of the plain table `q` (quoted). Rows in `pq_taken` and `pq_pending` are keyed by table. */
export function plainStatements(db: Database.Database, q: string, opts: ResolvedSqliteOptions) {
  const prio = opts.order === 'priority';
  const order = plainOrder(opts).sql;
  const cols = `_id, data, timestamp${prio ? ', priority' : ''}, pq_crc`;
  const s = (sql: string): Stmt => db.prepare(sql);
  const one = (sql: string): Stmt => db.prepare(sql).pluck(); // the first column of each row
  return {
    insert: s(`INSERT ${opts.unique ? 'OR IGNORE ' : ''}INTO ${q} (data, pq_crc, timestamp${prio ? ', priority' : ''}) VALUES (?, ?, ?${prio ? ', ?' : ''})`),
    count: one(`SELECT COUNT(*) FROM ${q}`),
    countUpTo: one(`SELECT COUNT(*) FROM (SELECT 1 FROM ${q} LIMIT ?)`),
    exists: one(`SELECT EXISTS (SELECT 1 FROM ${q})`),
    peek: s(`SELECT _id, data, pq_crc FROM ${q} ORDER BY ${order} LIMIT ?`),
    remove: s(`DELETE FROM ${q} WHERE _id = ?`),
    takeOne: s(`DELETE FROM ${q} WHERE _id = (SELECT _id FROM ${q} ORDER BY ${order} LIMIT 1) RETURNING ${cols}`),
    takeMany: s(`DELETE FROM ${q} WHERE _id IN (SELECT _id FROM ${q} ORDER BY ${order} LIMIT ?) RETURNING ${cols}`),
    hold: s('INSERT INTO pq_taken (tbl, _id, owner, data, timestamp, priority, pq_crc) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    unhold: s('DELETE FROM pq_taken WHERE tbl = ? AND _id = ?'),
    holders: one('SELECT DISTINCT owner FROM pq_taken WHERE tbl = ?'),
    restore: s(`INSERT OR IGNORE INTO ${q} (${cols}) SELECT ${cols} FROM pq_taken WHERE tbl = ? AND owner = ?`),
    putBack: s(`INSERT OR IGNORE INTO ${q} (${cols}) VALUES (${cols.split(', ').map((c) => `@${c}`).join(', ')})`),
    dropHeld: s('DELETE FROM pq_taken WHERE tbl = ? AND owner = ?'),
    flag: s('INSERT OR IGNORE INTO pq_pending (tbl, owner) VALUES (?, ?)'),
    unflag: s('DELETE FROM pq_pending WHERE tbl = ? AND owner = ?'),
    flagged: one('SELECT owner FROM pq_pending WHERE tbl = ?'),
  };
}

/** The statement set of a plain table. */
export type PlainStatements = ReturnType<typeof plainStatements>;
