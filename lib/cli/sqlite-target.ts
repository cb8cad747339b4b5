/**
 * The CLI on a SQLite file. Reading commands (info, peek, export, verify) open the file read-only with
 * better-sqlite3 (`readonly: true, fileMustExist: true`) and query the tables directly: the main database file is
 * never written. In WAL mode SQLite readers use the `-shm` index; a read-only connection uses an existing one and,
 * when the folder is writable and none exists, SQLite creates it (it holds no queue data). Writing commands (put,
 * get, import) go through the library's queue classes. Internal to the CLI.
 */
import { readFileSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { crc32 } from '../common/crc.js';
import { SqliteAckQueueSync, SqliteQueueSync } from '../sqlite.js';
import { problem, usageError } from './output.js';

/** Queue kinds the CLI names; the `ack-*` kinds are the ack tables with FILO or unique order. */
export const KINDS = ['fifo', 'filo', 'priority', 'unique', 'ack', 'ack-filo', 'ack-unique'] as const;
export type Kind = (typeof KINDS)[number];

const PREFIX: [string, Kind][] = [
  ['ack_filo_queue_', 'ack-filo'],
  ['ack_unique_queue_', 'ack-unique'],
  ['ack_queue_', 'ack'],
  ['filo_queue_', 'filo'],
  ['unique_queue_', 'unique'],
  ['priority_queue_', 'priority'],
  ['queue_', 'fifo'],
];

export interface SqlTable {
  table: string;
  name: string;
  kind: Kind;
}

/** One stored item as the CLI shows and exports it. */
export interface Row {
  id: number;
  data: unknown;
  timestamp: number | null;
  priority?: number;
  status?: string;
  attempts?: number;
  error?: string;
}

const STATUS: Record<number, string> = { 0: 'ready', 1: 'ready', 2: 'unack', 5: 'acked', 9: 'failed' };

/** True when the file starts with the SQLite header. */
export function isSqliteFile(path: string): boolean {
  try {
    const b = readFileSync(path, { flag: 'r' }).subarray(0, 16);
    return b.toString('latin1') === 'SQLite format 3\0';
  } catch {
    return false;
  }
}

export function openReadOnly(path: string): Database.Database {
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    db.pragma('query_only = 1');
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    return db;
  } catch (e) {
    throw problem(`${path}: cannot read the database: ${(e as Error).message}`);
  }
}

export function listTables(db: Database.Database): SqlTable[] {
  return parseTables(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[]);
}

/** The queue tables among table names (`queue_<name>`, `ack_queue_<name>`, …: the same on SQLite and PostgreSQL). */
export function parseTables(names: string[]): SqlTable[] {
  const out: SqlTable[] = [];
  for (const table of names) {
    const p = PREFIX.find(([pre]) => table.startsWith(pre) && /^\w{1,64}$/.test(table.slice(pre.length)));
    if (p !== undefined) out.push({ table, name: table.slice(p[0].length), kind: p[1] });
  }
  return out;
}

/**
 * The queue `--queue`/`--kind` select; `create` allows one that does not exist yet (put, import); `where` names the
 * target in the error.
 */
export function selectTable(tables: SqlTable[], name: string, kind: string | undefined, create: boolean, where = 'this file'): SqlTable {
  if (kind !== undefined && !(KINDS as readonly string[]).includes(kind)) {
    throw usageError(`--kind must be one of ${KINDS.join(', ')} (got "${kind}")`);
  }
  const hits = tables.filter((t) => t.name === name && (kind === undefined || t.kind === kind));
  if (hits.length === 1) return hits[0]!;
  if (hits.length > 1) {
    throw usageError(`several queues are named "${name}" (${hits.map((h) => h.kind).join(', ')}): choose one with --kind`);
  }
  if (create) {
    if (!/^\w{1,64}$/.test(name)) throw usageError(`--queue must be 1-64 characters of [A-Za-z0-9_] (got "${name}")`);
    const k = (kind ?? 'fifo') as Kind;
    const pre = PREFIX.find((p) => p[1] === k)![0];
    return { table: pre + name, name, kind: k };
  }
  const known = tables.map((t) => `${t.name} (${t.kind})`).join(', ');
  throw problem(`no queue "${name}"${kind === undefined ? '' : ` of kind ${kind}`} in ${where}; it holds: ${known || 'no queues'}`);
}

const isAck = (k: Kind): boolean => k.startsWith('ack');

export function decode(data: unknown): { ok: true; value: unknown } | { ok: false; error: string } {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(String(data), 'utf8');
  try {
    return { ok: true, value: JSON.parse(buf.toString('utf8')) };
  } catch {
    return { ok: false, error: `not JSON (${buf.length} bytes)` };
  }
}

function toRow(t: SqlTable, r: Record<string, unknown>): Row {
  const d = decode(r.data);
  const row: Row = { id: r._id as number, data: d.ok ? d.value : null, timestamp: r.timestamp == null ? null : Math.round((r.timestamp as number) * 1000) };
  if (t.kind === 'priority') row.priority = r.priority as number;
  if (isAck(t.kind)) {
    row.status = STATUS[r.status as number] ?? String(r.status);
    row.attempts = (r.pq_attempts as number | undefined) ?? 0;
  }
  if (!d.ok) row.error = d.error;
  else if (r.pq_crc != null && crc32(Buffer.isBuffer(r.data) ? r.data : Buffer.from(String(r.data))) !== r.pq_crc) {
    row.error = 'checksum mismatch';
  }
  return row;
}

function orderBy(t: SqlTable): string {
  if (t.kind === 'priority') return 'priority, _id';
  return t.kind === 'filo' || t.kind === 'ack-filo' ? '_id DESC' : '_id';
}

/** Waiting items in delivery order (ack queues: ready and unacked ones), at most `n` (0 = all). */
export function waitingRows(db: Database.Database, t: SqlTable, n: number, all = false): Row[] {
  const where = isAck(t.kind) && !all ? 'WHERE status < 5' : '';
  const limit = n > 0 ? ` LIMIT ${n}` : '';
  const rows = db.prepare(`SELECT * FROM \`${t.table}\` ${where} ORDER BY ${orderBy(t)}${limit}`).all() as Record<string, unknown>[];
  return rows.map((r) => toRow(t, r));
}

export interface TableInfo {
  name: string;
  kind: Kind;
  table: string;
  size: number;
  counts: Record<string, number>;
  oldest: number | null;
}

export function tableInfo(db: Database.Database, t: SqlTable): TableInfo {
  const q = `\`${t.table}\``;
  const counts: Record<string, number> = {};
  let size: number;
  let oldest: number | null;
  if (isAck(t.kind)) {
    for (const s of ['ready', 'unack', 'acked', 'failed']) counts[s] = 0;
    for (const r of db.prepare(`SELECT status, count(*) AS n FROM ${q} GROUP BY status`).all() as { status: number; n: number }[]) {
      const k = STATUS[r.status] ?? `status ${r.status}`;
      counts[k] = (counts[k] ?? 0) + r.n;
    }
    size = counts.ready!;
    oldest = (db.prepare(`SELECT min(timestamp) FROM ${q} WHERE status < 5`).pluck().get() as number | null) ?? null;
  } else {
    size = db.prepare(`SELECT count(*) FROM ${q}`).pluck().get() as number;
    counts.waiting = size;
    const hasTaken = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'pq_taken'").get() !== undefined;
    if (hasTaken) counts.taken = db.prepare('SELECT count(*) FROM pq_taken WHERE tbl = ?').pluck().get(t.table) as number;
    oldest = (db.prepare(`SELECT min(timestamp) FROM ${q}`).pluck().get() as number | null) ?? null;
  }
  return { name: t.name, kind: t.kind, table: t.table, size, counts, oldest: oldest === null ? null : Math.round(oldest * 1000) };
}

export function fileBytes(path: string): number {
  let n = 0;
  for (const f of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      n += statSync(f).size;
    } catch {
      // absent
    }
  }
  return n;
}

export interface Damage {
  queue: string;
  table: string;
  id: number;
  problem: string;
}

/** Every damaged row (checksum or JSON) of every queue table, plus SQLite's own quick_check. */
export function verifySqlite(db: Database.Database): { checked: number; damaged: Damage[]; integrity: string[] } {
  let integrity: string[];
  try {
    integrity = (db.pragma('quick_check', { simple: false }) as { quick_check: string }[]).map((r) => r.quick_check).filter((s) => s !== 'ok');
  } catch (e) {
    integrity = [(e as Error).message];
  }
  const damaged: Damage[] = [];
  let checked = 0;
  for (const t of listTables(db)) {
    try {
      for (const r of db.prepare(`SELECT * FROM \`${t.table}\` ORDER BY _id`).iterate() as Iterable<Record<string, unknown>>) {
        checked++;
        const row = toRow(t, r);
        if (row.error !== undefined) damaged.push({ queue: t.name, table: t.table, id: row.id, problem: row.error });
      }
    } catch (e) {
      integrity.push(`${t.table}: ${(e as Error).message}`);
    }
  }
  return { checked, damaged, integrity };
}

/** Opens the selected queue with the library for writing. */
export function openWriter(path: string, t: SqlTable): SqliteQueueSync<unknown> | SqliteAckQueueSync<unknown> {
  const base = { name: t.name, busyTimeout: 10000 };
  switch (t.kind) {
    case 'ack':
      return SqliteAckQueueSync.open(path, base);
    case 'ack-filo':
      return SqliteAckQueueSync.open(path, { ...base, order: 'filo' });
    case 'ack-unique':
      return SqliteAckQueueSync.open(path, { ...base, unique: true });
    case 'unique':
      return SqliteQueueSync.open(path, { ...base, unique: true });
    default:
      return SqliteQueueSync.open(path, { ...base, order: t.kind });
  }
}

export { isAck };
