/**
 * The CLI's commands on a PostgreSQL target: info, peek and export read through a read-only session
 * (pg-target.ts); put, get, import and import-python write through the library's queue classes. verify and repair do
 * not apply (the server checksums its own pages; the rows carry no item checksum) and are usage errors. Output is the
 * same as on SQLite (the shared renderers of commands.ts). Internal to the CLI.
 */
import { QueueEmptyError } from '../common/errors.js';
import { encodeJson } from '../common/serializer.js';
import * as C from './commands.js';
import { bytes, out, paint, problem, usageError } from './output.js';
import * as P from './pg-target.js';
import { readPythonQueue } from './python.js';
import * as S from './sqlite-target.js';
import { pgSource, sourceCounts } from './tasks.js';

/** Stored status of an imported ack record on PostgreSQL (1 ready, 5 acked, 9 failed; `unack` comes back ready). */
const PG_STATUS: Record<string, number> = { ready: 1, unack: 1, acked: 5, failed: 9 };

/** Why verify and repair refuse a PostgreSQL target. */
export const NOT_APPLICABLE = 'not applicable to PostgreSQL (the server checksums its own pages; its rows carry no item checksum to check or repair)';

/** info: every queue and task queue of the schema. */
export async function info(t: P.PgTarget, o: C.Opts): Promise<number> {
  const now = Date.now();
  const doc = await P.reading(t, async (r) => {
    const queues: S.TableInfo[] = [];
    for (const x of await P.listTables(r, t)) queues.push(await P.tableInfo(r, t, x));
    const src = pgSource(r, t);
    const taskQueues: C.TaskQueueInfo[] = [];
    for (const q of await src.queues()) {
      const c = await sourceCounts(src, q.name, now);
      taskQueues.push({ name: q.name, schemaVersion: q.version, counts: c.total, schedules: c.schedules, oldest: c.oldest });
    }
    const size = await r.q<{ n: string }>(
      'SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS n FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace ' +
        "WHERE s.nspname = $1 AND c.relkind = 'r'",
      [t.schema],
    );
    return { target: t.path, backend: 'postgres', schema: t.schema, schemaVersion: await P.schemaVersion(r, t), bytes: Number(size[0]!.n), queues, taskQueues };
  });
  if (o.json) return out(JSON.stringify(doc)), 0;
  const version = doc.schemaVersion === null ? '' : `, schema version ${doc.schemaVersion}`;
  out(`${paint('bold', t.path)}  PostgreSQL schema ${t.schema}${version}, ${bytes(doc.bytes)} in its tables`);
  return C.showQueues(doc.queues, doc.taskQueues, now);
}

/** The queue `--queue`/`--kind` select (PostgreSQL folds queue names to lower case). */
function pick(tables: S.SqlTable[], o: C.Opts, create: boolean, where: string): S.SqlTable {
  return S.selectTable(tables, o.queue.toLowerCase(), o.kind, create, where);
}

async function rows(t: P.PgTarget, o: C.Opts, n: number, all: boolean) {
  return P.reading(t, async (r) => P.waitingRows(r, t, pick(await P.listTables(r, t), o, false, `schema ${t.schema}`), n, all));
}

export async function peek(t: P.PgTarget, o: C.Opts): Promise<number> {
  return C.showRows(await rows(t, o, o.n, false), o, true);
}

export async function exportCmd(t: P.PgTarget, o: C.Opts): Promise<number> {
  return C.writeRows(await rows(t, o, 0, true));
}

/** Runs `fn` on the selected queue opened with the library, and closes it. */
async function withWriter<R>(t: P.PgTarget, o: C.Opts, create: boolean, fn: (q: P.PgWriter, x: S.SqlTable) => Promise<R>): Promise<R> {
  const x = pick(await P.reading(t, (r) => P.listTables(r, t)), o, create, `schema ${t.schema}`);
  const q = await P.openWriter(t, x);
  try {
    return await fn(q, x);
  } finally {
    await q.close();
  }
}

async function putAll(t: P.PgTarget, o: C.Opts, items: unknown[]): Promise<(number | null)[]> {
  return withWriter(t, o, true, async (q, x) => {
    if (o.priority !== undefined && x.kind !== 'priority') throw usageError('--priority is only for priority queues');
    return q.putMany(items, x.kind === 'priority' ? { priority: o.priority ?? 0 } : undefined);
  });
}

export async function put(t: P.PgTarget, o: C.Opts, args: string[]): Promise<number> {
  return C.putDone(o, await putAll(t, o, C.putItems(args)));
}

export async function get(t: P.PgTarget, o: C.Opts): Promise<number> {
  return withWriter(t, o, false, async (q, x) => {
    let got: unknown[];
    try {
      got = await q.getMany(o.n, o.wait > 0 ? { timeout: o.wait } : { block: false });
    } catch (e) {
      if (e instanceof QueueEmptyError) throw problem('the queue is empty');
      throw e;
    }
    for (const g of got) {
      out(C.takenLine(g, x.kind, o));
      if (x.kind.startsWith('ack')) await (q as { ack(m: unknown): Promise<boolean> }).ack(g);
    }
    return 0;
  });
}

/**
 * import: export records in one statement. Records with their own priority (priority queues) or ack status (ack
 * queues) are inserted as rows after the library has opened (created) the queue; others go through `putMany`.
 */
export async function importCmd(t: P.PgTarget, o: C.Opts): Promise<number> {
  const { items, prios, acks } = C.importRecords();
  const ids = await withWriter(t, o, true, async (q, x): Promise<readonly (number | null)[]> => {
    const keep = (x.kind === 'priority' && prios.some((p) => p !== undefined)) || (x.kind.startsWith('ack') && acks.some((a) => a.status !== undefined));
    if (!keep) return q.putMany(items, x.kind === 'priority' ? { priority: o.priority ?? 0 } : undefined);
    const recs = items.map((d, i) => ({
      data: encodeJson(d),
      priority: prios[i] ?? o.priority ?? 0,
      status: x.kind.startsWith('ack') ? PG_STATUS[acks[i]!.status ?? 'ready']! : 1,
      attempts: acks[i]!.attempts ?? 0,
    }));
    return P.insertRecords(t, x, recs);
  });
  return C.imported(o, ids);
}

export async function importPython(t: P.PgTarget, o: C.Opts, dir: string): Promise<number> {
  const items = readPythonQueue(dir);
  const ids = items.length === 0 ? [] : await putAll(t, o, items);
  return C.imported(o, ids, dir);
}

/** Runs a queue command on a PostgreSQL target; resolves to the exit code. */
export async function runPg(cmd: string, t: P.PgTarget, o: C.Opts, rest: string[]): Promise<number> {
  switch (cmd) {
    case 'info':
      return info(t, o);
    case 'peek':
      return peek(t, o);
    case 'put':
      return put(t, o, rest);
    case 'get':
      return get(t, o);
    case 'export':
      return exportCmd(t, o);
    case 'import':
      return importCmd(t, o);
    case 'import-python':
      return importPython(t, o, rest[0]!);
    default:
      throw usageError(`${cmd}: ${NOT_APPLICABLE}`);
  }
}
