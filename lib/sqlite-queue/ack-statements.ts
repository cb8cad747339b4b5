/**
 * The prepared statements of the SQLite ack queues (ack-core.ts), as one typed set, with the status values they use
 * (Python's: 0 inited and 1 ready, both ready to get; 2 unack, held; 5 acked; 9 ack failed). How a get finds the next
 * message from the scan bounds in `pq_ack_state` is told at {@link AckCore}.
 *
 * @module
 */
import type Database from 'better-sqlite3';
import type { Stmt } from './connection.js';
import type { AckStatus } from './ack-types.js';
import type { ResolvedSqliteOptions } from './options.js';
import { LEASED, NO_LEASE, NO_OWNER, ORPHAN } from './schema.js';

/** Status: put, never taken (Python's `inited`); ready to get. */
export const INITED = 0;
/** Status: ready to get (given back). */
export const READY = 1;
/** Status: taken, not acked yet (held). */
export const UNACK = 2;
/** Status: acked. */
export const ACKED = 5;
/** Status: ack failed (parked). */
export const FAILED = 9;
/** Status values as `items()` names them. */
export const STATUS_NAME: Record<number, AckStatus> = { [INITED]: 'ready', [READY]: 'ready', [UNACK]: 'unack', [ACKED]: 'acked', [FAILED]: 'failed' };

/** The columns a get returns. */
export interface AckRow {
  _id: number;
  data: Buffer;
  pq_attempts: number;
  pq_crc: number | null;
  /** `pq_ack_state.seq` when the row was taken (see {@link AckCore}). */
  pq_seq: number;
}

/** A table's row in `pq_ack_state`: the scan bounds (see {@link AckCore}). */
export interface AckState {
  seq: number;
  low: number;
  ulow: number;
}

/**
 * Prepares the statements of the ack table `q` (quoted; its bare name `t` is [A-Za-z0-9_] only, see options.ts, so
 * safe inside a string literal).
 */
export function ackStatements(db: Database.Database, q: string, t: string, opts: ResolvedSqliteOptions) {
  const desc = opts.order === 'filo';
  const dir = desc ? 'DESC' : 'ASC';
  const order = `_id ${dir}`;
  const first = desc ? 'MAX' : 'MIN';
  const held = `status = ${UNACK}`;
  // a row given back keeps its size too (status 2 -> 1 loses the byte NO_LEASE adds)
  const free = `pq_owner = '${NO_OWNER}', pq_lease = ${NO_LEASE}`;
  const s = (sql: string): Stmt => db.prepare(sql);
  const one = (sql: string): Stmt => db.prepare(sql).pluck(); // the first column of each row
  // FIFO: ready rows are found by a forward scan of the table from a bound; FILO: through its index of ready rows.
  const readySrc = desc ? `${q} INDEXED BY \`pq_ready_${t}\`` : q;
  const leased = `${q} INDEXED BY \`pq_leased_${t}\``;
  const orphan = `${q} INDEXED BY \`pq_orphan_${t}\``;
  // the scan bound: this instance's cursor if no rewind happened since it was set (params: seq, cursor)
  const from = `(SELECT CASE WHEN seq = ? THEN MAX(?, low) ELSE low END FROM pq_ack_state WHERE tbl = '${t}')`;
  const ufrom = `(SELECT ulow FROM pq_ack_state WHERE tbl = '${t}')`;
  const ready = `${readySrc} WHERE _id >= ${from} AND status < ${UNACK}`;
  // held rows whose lease ran out: a get takes them as if ready (param: now)
  const pastLease = `${LEASED} AND pq_lease <= ?`;
  const take = `UPDATE ${q} SET status = ${UNACK}, pq_owner = ?, pq_lease = ?, pq_attempts = pq_attempts + 1 `;
  const cols = `RETURNING _id, data, pq_attempts, pq_crc, (SELECT seq FROM pq_ack_state WHERE tbl = '${t}') AS pq_seq`;
  return {
    insert: s(
      `INSERT ${opts.unique ? 'OR IGNORE ' : ''}INTO ${q} (data, pq_crc, timestamp, status, pq_owner, pq_lease) ` +
        `VALUES (?, ?, ?, ${INITED}, '${NO_OWNER}', ${NO_LEASE})`,
    ),
    reviveUnique: s(`DELETE FROM ${q} WHERE data = ? AND status IN (${ACKED}, ${FAILED})`),
    state: s(`SELECT seq, low, ulow FROM pq_ack_state WHERE tbl = '${t}'`),
    setBounds: s(`UPDATE pq_ack_state SET low = ?, ulow = ? WHERE tbl = '${t}'`),
    firstReadyFrom: one(`SELECT _id FROM ${readySrc} WHERE _id >= ? AND status < ${UNACK} ORDER BY _id ASC LIMIT 1`),
    firstUnackFrom: one(`SELECT _id FROM ${q} WHERE _id >= ? AND ${held} ORDER BY _id ASC LIMIT 1`),
    maxId: one(`SELECT MAX(_id) FROM ${q}`),
    // What a get would take: the ready rows and those whose lease ran out (a get takes them at once, see takeNext).
    // Params: seq, cursor, now (peek: seq, cursor, limit, now, limit).
    countReady: one(`SELECT (SELECT COUNT(*) FROM ${ready}) + (SELECT COUNT(*) FROM ${leased} WHERE ${pastLease})`),
    countReadyUpTo: one(`SELECT COUNT(*) FROM (SELECT 1 FROM ${ready} LIMIT ?)`),
    existsReady: one(`SELECT EXISTS (SELECT 1 FROM ${ready}) OR EXISTS (SELECT 1 FROM ${leased} WHERE ${pastLease})`),
    peek: s(
      `SELECT _id, data, pq_crc FROM ${q} WHERE _id IN (SELECT _id FROM (SELECT _id FROM ${ready} ORDER BY ${order} LIMIT ?) ` +
        `UNION ALL SELECT _id FROM ${leased} WHERE ${pastLease}) ORDER BY ${order} LIMIT ?`,
    ),
    // held and not yet due again (a row whose lease ran out counts as ready, above). Param: now.
    countUnack: one(`SELECT COUNT(*) FROM ${q} WHERE _id >= ${ufrom} AND ${held} AND NOT COALESCE(${pastLease}, 0)`),
    existsUnack: one(`SELECT EXISTS (SELECT 1 FROM ${q} WHERE _id >= ${ufrom} AND ${held})`),
    // acked and failed rows have no index (keeping one costs every ack a page write): these count by a scan
    countStatus: one(`SELECT COUNT(*) FROM ${q} WHERE status = ?`),
    nextLease: one(`SELECT MIN(pq_lease) FROM ${leased} WHERE ${LEASED}`),
    expire: s(`UPDATE ${leased} SET status = ${READY}, ${free} WHERE ${pastLease}`),
    // One statement, its own transaction (a write statement takes the write lock before it reads): the next message
    // among the ready ones and those whose lease ran out, as `expire` followed by `takeMany(1)` would choose it.
    // (Written with MIN/MAX aggregates: a compound SELECT with ORDER BY costs three temporary b-trees per get.)
    // Params: owner, lease, seq, cursor, now.
    takeNext: s(
      `${take}WHERE _id = (SELECT ${first}(x) FROM (SELECT (SELECT _id FROM ${ready} ORDER BY ${order} LIMIT 1) AS x ` +
        `UNION ALL SELECT ${first}(_id) FROM ${leased} WHERE ${pastLease})) ${cols}`,
    ),
    // The same without the lease branch, for an instance that sets no leases while none are seen in the table
    // (checked at every sweep, so at least once a second). Params: owner, lease, seq, cursor.
    takeNextReady: s(`${take}WHERE _id = (SELECT _id FROM ${ready} ORDER BY ${order} LIMIT 1) ${cols}`),
    // params: owner, lease, seq, cursor, max
    takeMany: s(`${take}WHERE _id IN (SELECT _id FROM ${ready} ORDER BY ${order} LIMIT ?) ${cols}`),
    untake: s(
      `UPDATE ${q} SET status = ${READY}, ${free}, pq_attempts = MAX(pq_attempts - 1, 0) WHERE _id = ? AND ${held} AND pq_owner = ?`,
    ),
    // ack and ackFailed leave pq_owner and pq_lease as they were (they mean something only while status = 2): the
    // row then keeps its size and SQLite rewrites it in place, which for an item with overflow pages writes one
    // page instead of a new chain.
    // ack, nack and ackFailed act only on a message this instance holds (params: id, tag); `fail` is also how a get
    // with skipCorrupt parks a damaged message (param: id)
    ack: s(`UPDATE ${q} SET status = ${ACKED} WHERE _id = ? AND ${held} AND pq_owner = ?`),
    nack: s(`UPDATE ${q} SET status = ${READY}, ${free} WHERE _id = ? AND ${held} AND pq_owner = ?`),
    failHeld: s(`UPDATE ${q} SET status = ${FAILED} WHERE _id = ? AND ${held} AND pq_owner = ?`),
    fail: s(`UPDATE ${q} SET status = ${FAILED} WHERE _id = ? AND status < ${ACKED}`),
    stillHeld: one(`SELECT 1 FROM ${q} WHERE _id = ? AND ${held} AND pq_owner = ?`),
    holders: s(`SELECT owner, tag FROM pq_holders WHERE tbl = '${t}'`),
    register: s(`INSERT OR IGNORE INTO pq_holders (tbl, owner, tag) VALUES ('${t}', ?, ?)`),
    unregister: s(`DELETE FROM pq_holders WHERE tbl = '${t}' AND owner = ?`),
    orphans: one(`SELECT COUNT(*) FROM ${orphan} WHERE ${ORPHAN}`),
    // a dead holder's rows: a scan from ulow (rare: only when a holder died holding messages)
    releaseOwner: s(`UPDATE ${q} SET status = ${READY}, ${free} WHERE _id >= ${ufrom} AND ${held} AND pq_owner = ?`),
    releaseOne: s(`UPDATE ${q} SET status = ${READY}, ${free} WHERE _id = ? AND ${held} AND pq_owner = ?`),
    resumeOrphans: s(`UPDATE ${orphan} SET status = ${READY}, ${free} WHERE ${ORPHAN}`),
    update: s(`UPDATE OR IGNORE ${q} SET data = ?, pq_crc = ? WHERE _id = ?`),
    items: s(`SELECT _id, data, timestamp, status, pq_attempts, pq_crc FROM ${q} ORDER BY ${order}`),
  };
}

/** The statement set of an ack table. */
export type AckStatements = ReturnType<typeof ackStatements>;
