/**
 * The CLI on a PostgreSQL target (`postgres://…` or `postgresql://…`, the queues of one schema: `--schema`, default
 * `persist_queue`). Reading commands (info, peek, export, tasks list/show/counts/schedules) use one `pg.Client` whose
 * session is set to `SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY` before the first query, so the server
 * itself refuses any write; they query the documented tables (docs/postgres.md, docs/tasks.md) and never open a
 * queue class (opening registers a holder row and sweeps). Writing commands (put, get, import) go through
 * `PostgresQueue` / `PostgresAckQueue`. `pg` is loaded only here, on first use, through the library's loader; when it
 * is missing the command fails with one line naming it. Internal to the CLI.
 */
import { createHash } from 'node:crypto';
import { loadPg, PostgresClientMissingError } from '../postgres/db.js';
import { PostgresAckQueue, PostgresQueue } from '../postgres/queue.js';
import { channelOf } from '../postgres/schema.js';
import { problem, usageError } from './output.js';
import * as S from './sqlite-target.js';

/** A PostgreSQL target: the connection string, how to show it (password hidden), and the schema. */
export interface PgTarget {
  type: 'postgres';
  url: string;
  /** The connection string with its password replaced by `***` (what the CLI prints). */
  path: string;
  schema: string;
}

/** Whether a target argument is a PostgreSQL connection string. */
export const isPgUrl = (s: string): boolean => /^postgres(ql)?:\/\//i.test(s);

/** The connection string with any password replaced by `***`. */
export function redact(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}

/** A PostgreSQL target for `url` in `schema` (checked: a letter or `_`, then up to 40 letters, digits or `_`). */
export function pgTarget(url: string, schema: string | undefined): PgTarget {
  const s = schema ?? 'persist_queue';
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,40}$/.test(s)) throw usageError(`--schema must be a letter or underscore, then up to 40 letters, digits or underscores (got "${s}")`);
  return { type: 'postgres', url, path: redact(url), schema: s.toLowerCase() };
}

/** The one-line error when `pg` is not installed. */
const missingPg = (): Error => problem("PostgreSQL targets need the 'pg' package (node-postgres), which is not installed: npm install pg");

/** Runs `fn` with the library's error for a missing `pg` turned into the CLI's one-line problem. */
export async function needPg<R>(fn: () => Promise<R>): Promise<R> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof PostgresClientMissingError) throw missingPg();
    throw e;
  }
}

/** A connected client; `q` runs one statement and returns its rows. */
export interface PgReader {
  q<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  end(): Promise<void>;
}

/** Connects a read-only session (the server refuses writes in it). */
export async function connectReadOnly(t: PgTarget): Promise<PgReader> {
  let pg: { Client: new (c: unknown) => { connect(): Promise<void>; query(s: string, p?: unknown[]): Promise<{ rows: unknown[] }>; end(): Promise<void>; on(e: string, f: () => void): void } };
  try {
    pg = loadPg();
  } catch (e) {
    if (e instanceof PostgresClientMissingError) throw missingPg();
    throw e;
  }
  const c = new pg.Client({ connectionString: t.url, connectionTimeoutMillis: 10_000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.query('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY');
  } catch (e) {
    await c.end().catch(() => undefined);
    throw problem(`${t.path}: cannot connect to PostgreSQL: ${(e as Error).message}`);
  }
  return {
    q: async <R>(sql: string, params: unknown[] = []) => (await c.query(sql, params)).rows as R[],
    end: () => c.end().catch(() => undefined),
  };
}

/** Runs `fn` on a read-only session and closes it. */
export async function reading<R>(t: PgTarget, fn: (r: PgReader) => Promise<R>): Promise<R> {
  const r = await connectReadOnly(t);
  try {
    return await fn(r);
  } finally {
    await r.end();
  }
}

const q = (s: string): string => `"${s}"`;
const tbl = (t: PgTarget, table: string): string => `${q(t.schema)}.${q(table)}`;

/** The queue tables of the schema (named as on SQLite: `queue_<name>`, `ack_queue_<name>`, …). */
export async function listTables(r: PgReader, t: PgTarget): Promise<S.SqlTable[]> {
  const names = await r.q<{ n: string }>(
    `SELECT table_name AS n FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name COLLATE "C"`,
    [t.schema],
  );
  return S.parseTables(names.map((x) => x.n));
}

/** `pq_meta.schema_version` of the schema (null when there are no queue tables). */
export async function schemaVersion(r: PgReader, t: PgTarget): Promise<number | null> {
  const has = await r.q<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [`${q(t.schema)}.pq_meta`]);
  if (!has[0]?.ok) return null;
  const v = await r.q<{ value: string }>(`SELECT value FROM ${q(t.schema)}.pq_meta WHERE key = 'schema_version'`);
  return v[0] === undefined ? null : Number(v[0].value);
}

const STATUS: Record<number, string> = { 1: 'ready', 2: 'unack', 5: 'acked', 9: 'failed' };
const EPOCH_MS = (col: string): string => `(extract(epoch from ${col}) * 1000)::float8`;

/** Size, status counts and oldest waiting item of one queue table. */
export async function tableInfo(r: PgReader, t: PgTarget, x: S.SqlTable): Promise<S.TableInfo> {
  const rows = await r.q<{ status: number; n: number; oldest: number | null }>(
    `SELECT status, count(*)::int AS n, ${EPOCH_MS('min(created)')} AS oldest FROM ${tbl(t, x.table)} GROUP BY status`,
  );
  const counts: Record<string, number> = {};
  let oldest: number | null = null;
  for (const row of rows) {
    if (row.status <= 2 && row.oldest !== null) oldest = oldest === null ? row.oldest : Math.min(oldest, row.oldest);
  }
  const n = (s: number): number => rows.find((row) => row.status === s)?.n ?? 0;
  if (S.isAck(x.kind)) {
    for (const [code, name] of Object.entries(STATUS)) counts[name] = n(Number(code));
  } else {
    counts.waiting = n(1);
    // taken: held rows (autoCommit false) and the live holders' gets not yet taskDone() (autoCommit true)
    const held = await r.q<{ n: number }>(`SELECT coalesce(sum(taken), 0)::int AS n FROM ${q(t.schema)}.pq_holders WHERE tbl = $1 AND expires > now()`, [x.table]).catch(() => [{ n: 0 }]);
    counts.taken = n(2) + held[0]!.n;
  }
  return { name: x.name, kind: x.kind, table: x.table, size: n(1), counts, oldest: oldest === null ? null : Math.round(oldest) };
}

/** Items in delivery order: waiting ones (ack queues: ready and unacked; `all`: every row), at most `n` (0 = all). */
export async function waitingRows(r: PgReader, t: PgTarget, x: S.SqlTable, n: number, all: boolean): Promise<S.Row[]> {
  const ack = S.isAck(x.kind);
  const where = ack ? (all ? '' : 'WHERE status IN (1, 2)') : all ? 'WHERE status IN (1, 2)' : 'WHERE status = 1';
  const order = x.kind === 'priority' ? 'priority, id' : x.kind === 'filo' || x.kind === 'ack-filo' ? 'id DESC' : 'id';
  const rows = await r.q<{ id: string; data: Buffer; priority: string; status: number; attempts: number; ts: number }>(
    `SELECT id, data, priority, status, attempts, ${EPOCH_MS('created')} AS ts FROM ${tbl(t, x.table)} ${where} ORDER BY ${order}${n > 0 ? ` LIMIT ${n}` : ''}`,
  );
  return rows.map((row) => {
    const d = S.decode(row.data);
    const out: S.Row = { id: Number(row.id), data: d.ok ? d.value : null, timestamp: Math.round(row.ts) };
    if (x.kind === 'priority') out.priority = Number(row.priority);
    if (ack) {
      out.status = STATUS[row.status] ?? String(row.status);
      out.attempts = row.attempts;
    }
    if (!d.ok) out.error = d.error;
    return out;
  });
}

/** The library queue of a selected table, opened for writing. */
export type PgWriter = PostgresQueue<unknown> | PostgresAckQueue<unknown>;

/** Opens the selected queue with the library (creating its table when new). */
export function openWriter(t: PgTarget, x: S.SqlTable): Promise<PgWriter> {
  const base = { name: x.name, schema: t.schema };
  return needPg(async () => {
    switch (x.kind) {
      case 'ack':
        return PostgresAckQueue.open(t.url, base);
      case 'ack-filo':
        return PostgresAckQueue.open(t.url, { ...base, order: 'filo' });
      case 'ack-unique':
        return PostgresAckQueue.open(t.url, { ...base, unique: true });
      case 'unique':
        return PostgresQueue.open(t.url, { ...base, unique: true });
      default:
        return PostgresQueue.open(t.url, { ...base, order: x.kind as 'fifo' | 'filo' | 'priority' });
    }
  });
}

/** One record of an import that keeps its priority or ack status. */
export interface PgRecord {
  data: Buffer;
  priority: number;
  status: number;
  attempts: number;
}

/**
 * Inserts records with their own priority or ack status in one statement (all or nothing), as the library inserts
 * rows (serializer bytes; sha256 key in unique tables) and notifies waiting getters. The table must exist (the
 * caller opened the queue with the library first). A duplicate in a unique ack queue fails the whole import.
 */
export async function insertRecords(t: PgTarget, x: S.SqlTable, recs: PgRecord[]): Promise<number[]> {
  const pg = loadPg();
  const c = new pg.Client({ connectionString: t.url, connectionTimeoutMillis: 10_000 });
  c.on('error', () => undefined);
  await c.connect();
  try {
    const unique = x.kind === 'unique' || x.kind === 'ack-unique';
    const keys = recs.map((r) => (unique ? createHash('sha256').update(r.data).digest() : null));
    const res = await c.query(
      `WITH ins AS (INSERT INTO ${tbl(t, x.table)} (data, priority, status, attempts, ukey) ` +
        'SELECT d, p, s, a, k FROM unnest($1::bytea[], $2::bigint[], $3::smallint[], $4::int[], $5::bytea[]) WITH ORDINALITY AS v(d, p, s, a, k, n) ORDER BY n ' +
        'RETURNING id) SELECT id, (SELECT pg_notify($6, $7)) AS n FROM ins ORDER BY id',
      [recs.map((r) => r.data), recs.map((r) => r.priority), recs.map((r) => r.status), recs.map((r) => r.attempts), keys, channelOf(t.schema), x.table],
    );
    return (res.rows as { id: string }[]).map((r) => Number(r.id));
  } catch (e) {
    if ((e as { code?: string }).code === '23505') throw problem('import: an item is already in this unique queue; nothing imported');
    throw e;
  } finally {
    await c.end().catch(() => undefined);
  }
}
