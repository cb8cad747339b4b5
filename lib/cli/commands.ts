/** The CLI's commands on both backends. Internal to the CLI. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { crc32 } from '../common/crc.js';
import { QueueEmptyError } from '../common/errors.js';
import { encodeCanonicalJson, encodeJson } from '../common/serializer.js';
import { openConnection } from '../sqlite-queue/connection.js';
import { NO_LEASE, NO_OWNER } from '../sqlite-queue/schema.js';
import type { AckMessage } from '../sqlite-queue/ack-types.js';
import * as F from './file-target.js';
import { ago, bytes, CliError, out, paint, problem, short, table, usageError } from './output.js';
import { readPythonQueue } from './python.js';
import * as S from './sqlite-target.js';
import { taskCounts, taskQueues as taskQueues_ } from './tasks.js';

export interface Opts {
  json: boolean;
  queue: string;
  kind: string | undefined;
  n: number;
  wait: number;
  priority: number | undefined;
}

export type Target = { type: 'sqlite'; path: string } | { type: 'file'; path: string };

/** What `path` is; `create` lets a missing path be a new queue (a SQLite file when it ends in .db/.sqlite). */
export function resolveTarget(path: string, create: boolean): Target {
  if (!existsSync(path)) {
    if (!create) throw usageError(`${path}: no such file or folder`);
    return /\.(db|sqlite3?)$/i.test(path) ? { type: 'sqlite', path } : { type: 'file', path };
  }
  if (statSync(path).isDirectory()) return { type: 'file', path };
  if (!S.isSqliteFile(path)) throw usageError(`${path}: neither a SQLite database nor a file-queue folder`);
  return { type: 'sqlite', path };
}

export function info(t: Target, o: Opts): number {
  const now = Date.now();
  if (t.type === 'sqlite') {
    const db = S.openReadOnly(t.path);
    try {
      const queues = S.listTables(db).map((x) => S.tableInfo(db, x));
      const taskQueues = taskQueues_(db).map((q) => {
        const c = taskCounts(db, q.name, now);
        return { name: q.name, schemaVersion: q.version, counts: c.total, schedules: c.schedules, oldest: c.oldest };
      });
      const doc = { target: t.path, backend: 'sqlite', bytes: S.fileBytes(t.path), journalMode: db.pragma('journal_mode', { simple: true }), queues, taskQueues };
      if (o.json) return out(JSON.stringify(doc)), 0;
      out(`${paint('bold', t.path)}  SQLite, ${bytes(doc.bytes)} on disk, journal ${doc.journalMode}`);
      return showQueues(queues, taskQueues, now);
    } finally {
      db.close();
    }
  }
  const kind = F.folderKind(t.path);
  const size = F.withCopy(t.path, (q) => q.size());
  const oldest = size > 0 ? F.oldestBound(t.path) : null;
  const doc = {
    target: t.path,
    backend: 'file',
    bytes: F.folderBytes(t.path),
    format: 1,
    segments: F.segments(t.path).length,
    // oldest: a bound (the birth time of the oldest segment file), see F.oldestBound
    queues: [{ name: 'default', kind: kind.unique ? 'unique' : kind.order, size, counts: { waiting: size }, oldest }],
  };
  if (o.json) return out(JSON.stringify(doc)), 0;
  out(`${paint('bold', t.path)}  file queue (format 1), ${doc.segments} segment(s), ${bytes(doc.bytes)} on disk`);
  const age = ago(oldest, now);
  out(table(['queue', 'kind', 'size', 'oldest'], [['default', doc.queues[0]!.kind, String(size), age === '-' || age === 'just now' ? age : `≤ ${age}`]], [2]));
  return 0;
}

/** A task queue as `info` shows it. */
export interface TaskQueueInfo {
  name: string;
  schemaVersion: number;
  counts: Record<string, number> & { pending: number; scheduled: number; running: number };
  schedules: number;
  oldest: number | null;
}

/** The queue table of `info` (queues, then task queues); 'no queues' when there are none. */
export function showQueues(queues: S.TableInfo[], taskQueues: TaskQueueInfo[], now: number): number {
  if (queues.length === 0 && taskQueues.length === 0) return out('no queues'), 0;
  const counts = (c: Record<string, number>) => Object.entries(c).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(', ') || '-';
  const rows = queues.map((q) => [q.name, q.kind, String(q.size), counts(q.counts), ago(q.oldest, now)]);
  for (const q of taskQueues) {
    const open = q.counts.pending + q.counts.scheduled + q.counts.running;
    rows.push([q.name, `tasks v${q.schemaVersion}`, String(open), counts(q.counts) + (q.schedules > 0 ? `; ${q.schedules} schedule(s)` : ''), ago(q.oldest, now)]);
  }
  out(table(['queue', 'kind', 'size', 'counts', 'oldest'], rows, [2]));
  return 0;
}

function sqlRows(t: Target, o: Opts, n: number, all: boolean): S.Row[] {
  const db = S.openReadOnly(t.path);
  try {
    return S.waitingRows(db, S.selectTable(S.listTables(db), o.queue, o.kind, false), n, all);
  } finally {
    db.close();
  }
}

function fileItems(t: Target, n: number): S.Row[] {
  return F.withCopy(t.path, (q) => {
    const size = q.size();
    const take = n > 0 ? Math.min(n, size) : size;
    const items = take === 0 ? [] : q.getMany(take, { block: false });
    return items.map((data, i) => ({ id: i + 1, data, timestamp: null }));
  });
}

export function peek(t: Target, o: Opts): number {
  return showRows(t.type === 'sqlite' ? sqlRows(t, o, o.n, false) : fileItems(t, o.n), o, t.type === 'sqlite');
}

/** Items as `peek` shows them; `stored`: they have ids and ages (not for a file queue). */
export function showRows(rows: S.Row[], o: Opts, stored: boolean): number {
  if (o.json) {
    for (const r of rows) out(JSON.stringify(r));
    return 0;
  }
  if (rows.length === 0) return out('(empty)'), 0;
  const ack = rows[0]!.status !== undefined;
  const prio = rows[0]!.priority !== undefined;
  const head = ['#', ...(stored ? ['id'] : []), ...(prio ? ['priority'] : []), ...(ack ? ['status', 'attempts'] : []), ...(stored ? ['age'] : []), 'data'];
  const body = rows.map((r, i) => [
    String(i + 1),
    ...(stored ? [String(r.id)] : []),
    ...(prio ? [String(r.priority)] : []),
    ...(ack ? [r.status!, String(r.attempts)] : []),
    ...(stored ? [ago(r.timestamp)] : []),
    r.error !== undefined ? paint('red', `<${r.error}>`) : short(r.data),
  ]);
  out(table(head, body, [0, 1]));
  return 0;
}

export function exportCmd(t: Target, o: Opts): number {
  return writeRows(t.type === 'sqlite' ? sqlRows(t, o, 0, true) : fileItems(t, 0));
}

/** Export records as JSON lines; exit 1 when one of them could not be read. */
export function writeRows(rows: S.Row[]): number {
  for (const r of rows) process.stdout.write(JSON.stringify(r) + '\n');
  return rows.some((r) => r.error !== undefined) ? 1 : 0;
}

/** Parses JSON texts; the first bad one is a usage error naming its line, before anything is written. */
export function parseItems(texts: string[], where: string): unknown[] {
  return texts.map((s, i) => {
    try {
      return JSON.parse(s);
    } catch (e) {
      throw usageError(`${where} ${i + 1}: malformed JSON (${(e as Error).message})`);
    }
  });
}

export function stdinLines(): string[] {
  if (process.stdin.isTTY) throw usageError('no items: give JSON arguments or JSON lines on stdin');
  return readFileSync(0, 'utf8').split('\n').filter((l) => l.trim() !== '');
}

type Writer = ReturnType<typeof S.openWriter> | ReturnType<typeof F.openFileWriter>;

function withWriter<R>(t: Target, o: Opts, fn: (q: Writer, kind: S.Kind) => R, create = true): R {
  let q: Writer;
  let kind: S.Kind = 'fifo';
  if (t.type === 'sqlite') {
    let tables: S.SqlTable[] = [];
    if (existsSync(t.path)) {
      const db = S.openReadOnly(t.path);
      try {
        tables = S.listTables(db);
      } finally {
        db.close();
      }
    }
    const sel = S.selectTable(tables, o.queue, o.kind, create);
    kind = sel.kind;
    q = S.openWriter(t.path, sel);
  } else {
    if (o.kind !== undefined || o.queue !== 'default') throw usageError('a file-queue folder holds one queue: --queue and --kind do not apply');
    q = F.openFileWriter(t.path);
  }
  try {
    return fn(q, kind);
  } finally {
    q.close();
  }
}

function putAll(t: Target, o: Opts, items: unknown[], priorities?: (number | undefined)[], acks?: AckRecord[]): (number | null)[] {
  return withWriter(t, o, (q, kind) => {
    if (kind.startsWith('ack') && acks !== undefined && acks.some((a) => a.status !== undefined)) return putAckRecords(t.path, o, kind, items, acks);
    if (o.priority !== undefined && kind !== 'priority') throw usageError('--priority is only for priority queues');
    // records of a priority queue imported into another kind keep their (delivery) order, not their priority
    if (kind !== 'priority' || priorities === undefined || priorities.every((p) => p === undefined)) {
      return q.putMany(items, kind === 'priority' ? { priority: o.priority ?? 0 } : undefined);
    }
    return putByPriority(t.path, o, items, priorities);
  });
}

export function put(t: Target, o: Opts, args: string[]): number {
  const items = putItems(args);
  return putDone(o, putAll(t, o, items));
}

/** The items of `put`: its arguments, or the JSON lines of stdin. */
export function putItems(args: string[]): unknown[] {
  const items = args.length > 0 ? parseItems(args, 'argument') : parseItems(stdinLines(), 'stdin line');
  if (items.length === 0) throw usageError('no items to put');
  return items;
}

/** Prints the ids of a put (null: a duplicate a unique queue dropped). */
export function putDone(o: Opts, ids: (number | null)[]): number {
  if (o.json) out(JSON.stringify({ ids }));
  else out(`put ${ids.length} item(s): ids ${ids.map((i) => (i === null ? 'duplicate' : String(i))).join(' ')}`);
  return 0;
}

export function get(t: Target, o: Opts): number {
  return withWriter(t, o, (q, kind) => {
    let got: unknown[];
    try {
      got = q.getMany(o.n, o.wait > 0 ? { timeout: o.wait } : { block: false });
    } catch (e) {
      if (e instanceof QueueEmptyError) throw problem('the queue is empty');
      throw e;
    }
    for (const g of got) {
      out(takenLine(g, kind, o));
      if (kind.startsWith('ack')) (q as { ack(m: unknown): boolean }).ack(g);
    }
    return 0;
  }, false);
}

/** A taken item as `get` prints it (ack queues with --json: id, data and attempts). */
export function takenLine(g: unknown, kind: string, o: Opts): string {
  if (!kind.startsWith('ack')) return JSON.stringify(g);
  const m = g as AckMessage<unknown>;
  return JSON.stringify(o.json ? { id: m.id, data: m.data, attempts: m.attempts } : m.data);
}

export function importCmd(t: Target, o: Opts): number {
  const { items, prios, acks } = importRecords();
  if (t.type === 'sqlite' && o.kind === 'ack-unique') uniqueClash(t.path, o, items);
  const ids = putAll(t, o, items, prios, acks);
  return imported(o, ids);
}

/**
 * Prints what an import did: the items written, and (when there were any) the duplicates a unique queue left out
 * (a null id).
 */
export function imported(o: Opts, ids: readonly (number | null)[], from?: string): number {
  const n = ids.filter((id) => id !== null).length;
  const skipped = ids.length - n;
  if (o.json) out(JSON.stringify(skipped > 0 ? { imported: n, skipped } : { imported: n }));
  else out(`imported ${n} item(s)${from === undefined ? '' : ` from ${from}`}${skipped > 0 ? `; ${skipped} duplicate(s) already in the unique queue left out` : ''}`);
  return 0;
}

/** The export records on stdin (all checked before anything is written). */
export function importRecords(): { items: unknown[]; prios: (number | undefined)[]; acks: AckRecord[] } {
  const lines = parseItems(stdinLines(), 'stdin line');
  const items: unknown[] = [];
  const prios: (number | undefined)[] = [];
  const acks: AckRecord[] = [];
  lines.forEach((l, i) => {
    if (l === null || typeof l !== 'object' || !('data' in l)) throw usageError(`stdin line ${i + 1}: not an export record (an object with "data")`);
    const r = l as { data: unknown; priority?: unknown; status?: unknown; attempts?: unknown };
    if (r.priority !== undefined && !Number.isInteger(r.priority)) throw usageError(`stdin line ${i + 1}: priority must be an integer`);
    if (r.status !== undefined && !(r.status as string in ACK_CODE)) throw usageError(`stdin line ${i + 1}: status must be one of ${Object.keys(ACK_CODE).join(', ')}`);
    if (r.attempts !== undefined && !(Number.isInteger(r.attempts) && (r.attempts as number) >= 0)) throw usageError(`stdin line ${i + 1}: attempts must be an integer >= 0`);
    items.push(r.data);
    prios.push(r.priority as number | undefined);
    acks.push({ status: r.status as string | undefined, attempts: r.attempts as number | undefined });
  });
  if (items.length === 0) throw usageError('nothing to import');
  return { items, prios, acks };
}

export function importPython(t: Target, o: Opts, dir: string): number {
  const items = readPythonQueue(dir);
  const ids = items.length === 0 ? [] : putAll(t, o, items);
  return imported(o, ids, dir);
}

export function verify(t: Target, o: Opts): number {
  if (t.type === 'sqlite') {
    const db = S.openReadOnly(t.path);
    let r: ReturnType<typeof S.verifySqlite>;
    try {
      r = S.verifySqlite(db);
    } finally {
      db.close();
    }
    const ok = r.damaged.length === 0 && r.integrity.length === 0;
    if (o.json) out(JSON.stringify({ ok, checked: r.checked, damaged: r.damaged, integrity: r.integrity }));
    else {
      for (const d of r.damaged) out(`${paint('red', 'damaged')}  queue ${d.queue} (${d.table}) row id ${d.id}: ${d.problem}`);
      for (const m of r.integrity) out(`${paint('red', 'sqlite')}  ${m}`);
      out(ok ? paint('green', `ok: ${r.checked} rows checked`) : `${r.damaged.length + r.integrity.length} problem(s) in ${r.checked} rows`);
    }
    return ok ? 0 : 1;
  }
  const r = F.verifyFolder(t.path);
  const ok = r.damaged.length === 0;
  if (o.json) out(JSON.stringify({ ok, segments: r.segments, records: r.records, damaged: r.damaged }));
  else {
    for (const d of r.damaged) out(`${paint('red', 'damaged')}  ${d.segment} offset ${d.offset}${d.type ? ` (${d.type} record)` : ''}: ${d.problem}`);
    out(ok ? paint('green', `ok: ${r.records} records in ${r.segments} segment(s)`) : `${r.damaged.length} damaged record(s) in ${r.segments} segment(s)`);
  }
  return ok ? 0 : 1;
}

export { CliError };

/**
 * Import into a priority queue of records with their own priorities, in one transaction (the library's putMany takes
 * one priority per call): the library opens the queue (creating its table), then one `BEGIN IMMEDIATE` transaction
 * inserts the rows as the library writes them (JSON bytes, CRC-32 in `pq_crc`, seconds since the epoch).
 */
function putByPriority(path: string, o: Opts, items: unknown[], prios: (number | undefined)[]): number[] {
  const data = items.map((x) => encodeJson(x));
  const db = openConnection(path, 'full', 10000);
  try {
    const ins = db.prepare(`INSERT INTO \`priority_queue_${o.queue}\` (data, pq_crc, timestamp, priority) VALUES (?, ?, ?, ?)`);
    const ts = Date.now() / 1000;
    return db.transaction(() => data.map((d, i) => Number(ins.run(d, crc32(d), ts, prios[i] ?? o.priority ?? 0).lastInsertRowid))).immediate();
  } finally {
    db.close();
  }
}

/** The ack status and attempts of an export record. */
export interface AckRecord {
  status?: string;
  attempts?: number;
}

/**
 * Stored status of an imported ack record: ready and acked/failed rows keep their status; an `unack` record (taken
 * but not acknowledged when it was exported) comes back ready, since its taker does not hold it in the new queue.
 */
export const ACK_CODE: Record<string, number> = { ready: 0, unack: 0, acked: 5, failed: 9 };

/**
 * Import into an ack queue keeping each record's status and attempts, in one `BEGIN IMMEDIATE` transaction: the
 * library opens the queue (creating its table), then the rows are inserted as the library inserts new ones (JSON
 * bytes, CRC-32, no owner, no lease), with the record's status. A unique ack queue stores canonical JSON (sorted keys,
 * as the library and Python write it), and an acked or failed row equal to an imported item makes way for it, as a
 * put does; a duplicate of a ready or unacked message fails the whole import (nothing written; see uniqueClash).
 */
function putAckRecords(path: string, o: Opts, kind: string, items: unknown[], acks: AckRecord[]): number[] {
  const table = `${kind === 'ack' ? 'ack_queue_' : kind === 'ack-filo' ? 'ack_filo_queue_' : 'ack_unique_queue_'}${o.queue}`;
  const unique = kind === 'ack-unique';
  const data = items.map((x) => (unique ? encodeCanonicalJson(x) : encodeJson(x)));
  const db = openConnection(path, 'full', 10000);
  try {
    const ins = db.prepare(`INSERT INTO \`${table}\` (data, pq_crc, timestamp, status, pq_owner, pq_lease, pq_attempts) VALUES (?, ?, ?, ?, '${NO_OWNER}', ${NO_LEASE}, ?)`);
    const revive = unique ? db.prepare(`DELETE FROM \`${table}\` WHERE data = ? AND status IN (${ACK_CODE.acked}, ${ACK_CODE.failed})`) : undefined;
    const ts = Date.now() / 1000;
    return db
      .transaction(() =>
        data.map((d, i) => {
          revive?.run(d);
          return Number(ins.run(d, crc32(d), ts, ACK_CODE[acks[i]!.status ?? 'ready']!, acks[i]!.attempts ?? 0).lastInsertRowid);
        }),
      )
      .immediate();
  } catch (e) {
    if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw problem('import: an item is already in this unique queue; nothing imported');
    throw e;
  } finally {
    db.close();
  }
}

/**
 * An import into a unique ack queue fails before the queue is opened (opening writes) when two of its items are equal
 * or an item equals a ready or unacked message there. Items are compared as the queue stores them: canonical JSON
 * (sorted keys), so `{"b":1,"a":2}` and `{"a":2,"b":1}` are the same item.
 */
function uniqueClash(path: string, o: Opts, items: unknown[]): void {
  const data = items.map((x) => encodeCanonicalJson(x));
  const fail = () => problem('import: an item is already in this unique queue; nothing imported');
  if (new Set(data.map((d) => d.toString('hex'))).size < data.length) throw fail();
  if (!existsSync(path)) return;
  const db = S.openReadOnly(path);
  try {
    const tb = S.listTables(db).find((x) => x.name === o.queue && x.kind === 'ack-unique');
    if (tb === undefined) return;
    const has = db.prepare(`SELECT 1 FROM \`${tb.table}\` WHERE data = ? AND status < ${ACK_CODE.acked}`);
    if (data.some((d) => has.get(d) !== undefined)) throw fail();
  } finally {
    db.close();
  }
}
