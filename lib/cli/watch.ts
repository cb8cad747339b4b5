/**
 * `persist-queue watch`: a live view of every queue of the target, sampled every `--interval` ms. Rates come from two
 * samples: "in/s" is the growth of the queue's highest id (SQLite: the AUTOINCREMENT sequence or max(_id); file
 * queue: PUT records counted incrementally per segment), "out/s" is in/s minus the growth of what is still waiting
 * (plain: size; ack: ready + unacked; tasks: pending + scheduled + running). On a TTY the table is redrawn in place
 * with the cursor hidden; Ctrl-C (SIGINT) or SIGTERM restores the cursor, ends the line and returns 0. Off a TTY each
 * sample is printed as a new table (or, with --json, one JSON line). Reading only: SQLite is opened read-only, a
 * file-queue folder is read from private copies (its size) and by reading its segments. Internal to the CLI.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { checkHeader, REC_HEADER, SEG_HEADER, T_PUT } from '../file-queue/format.js';
import type { Target } from './commands.js';
import * as F from './file-target.js';
import { ago, bytes, out, paint, table } from './output.js';
import * as S from './sqlite-target.js';
import { taskCounts, taskQueues } from './tasks.js';

export interface WatchOptions {
  interval: number;
  json: boolean;
}

interface Sample {
  at: number;
  bytes: number;
  queues: { name: string; kind: string; size: number; waiting: number; top: number; oldest: number | null }[];
}

function topId(db: Database.Database, table: string): number {
  const seq = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").get()
    ? (db.prepare('SELECT seq FROM sqlite_sequence WHERE name = ?').pluck().get(table) as number | undefined)
    : undefined;
  return seq ?? ((db.prepare(`SELECT max(_id) FROM \`${table}\``).pluck().get() as number | null) ?? 0);
}

function sqliteSample(db: Database.Database, path: string): Sample {
  const at = Date.now();
  const queues: Sample['queues'] = S.listTables(db).map((t) => {
    const i = S.tableInfo(db, t);
    const waiting = S.isAck(t.kind) ? (i.counts.ready ?? 0) + (i.counts.unack ?? 0) : i.size;
    return { name: t.name, kind: t.kind, size: i.size, waiting, top: topId(db, t.table), oldest: i.oldest };
  });
  for (const q of taskQueues(db)) {
    const c = taskCounts(db, q.name, at);
    const open = c.total.pending + c.total.scheduled + c.total.running;
    const top = (db.prepare('SELECT seq FROM sqlite_sequence WHERE name = ?').pluck().get(`pq_tasks_${q.name}`) as number | undefined) ?? 0;
    queues.push({ name: q.name, kind: 'tasks', size: open, waiting: open, top, oldest: c.oldest });
  }
  return { at, bytes: S.fileBytes(path), queues };
}

/** PUT records of a queue folder, counted incrementally: segments only grow, and a deleted one keeps its count. */
class PutCounter {
  private seen = new Map<string, { offset: number; puts: number }>();
  private gone = 0;

  count(dir: string): number {
    const names = F.segments(dir);
    for (const [n, s] of this.seen) if (!names.includes(n)) (this.gone += s.puts), this.seen.delete(n);
    let total = this.gone;
    for (const n of names) {
      const s = this.seen.get(n) ?? { offset: SEG_HEADER, puts: 0 };
      this.seen.set(n, s);
      try {
        const size = statSync(join(dir, n)).size;
        if (size > s.offset) {
          const fd = openSync(join(dir, n), 'r');
          const buf = Buffer.alloc(size - s.offset);
          try {
            readSync(fd, buf, 0, buf.length, s.offset);
          } finally {
            closeSync(fd);
          }
          let at = 0;
          while (buf.length - at >= REC_HEADER) {
            const h = checkHeader(buf, at);
            if (!h.ok || at + REC_HEADER + h.len > buf.length) break;
            if (h.type === T_PUT) s.puts++;
            at += REC_HEADER + h.len;
          }
          s.offset += at;
        }
      } catch {
        // removed meanwhile: counted as gone next time
      }
      total += s.puts;
    }
    return total;
  }
}

function fileSample(path: string, puts: PutCounter): Sample {
  const at = Date.now();
  const kind = F.folderKind(path);
  const size = F.withCopy(path, (q) => q.size());
  return { at, bytes: F.folderBytes(path), queues: [{ name: 'default', kind: kind.unique ? 'unique' : kind.order, size, waiting: size, top: puts.count(path), oldest: null }] };
}

function rates(prev: Sample | undefined, cur: Sample): { inRate: number | null; outRate: number | null }[] {
  return cur.queues.map((q) => {
    const p = prev?.queues.find((x) => x.name === q.name && x.kind === q.kind);
    if (prev === undefined || p === undefined) return { inRate: null, outRate: null };
    const secs = Math.max(0.001, (cur.at - prev.at) / 1000);
    const added = Math.max(0, q.top - p.top);
    return { inRate: added / secs, outRate: Math.max(0, added - (q.waiting - p.waiting)) / secs };
  });
}

const rate = (r: number | null): string => (r === null ? '-' : r < 10 ? r.toFixed(1) : String(Math.round(r)));

function render(t: Target, s: Sample, r: ReturnType<typeof rates>, interval: number): string {
  const head = `${paint('bold', t.path)}  ${t.type === 'sqlite' ? 'SQLite' : 'file queue'}, ${bytes(s.bytes)}  ${paint('dim', `${new Date(s.at).toISOString().slice(11, 19)} UTC, every ${interval} ms, Ctrl-C to stop`)}`;
  if (s.queues.length === 0) return `${head}\nno queues`;
  const rows = s.queues.map((q, i) => [q.name, q.kind, String(q.size), rate(r[i]!.inRate), rate(r[i]!.outRate), ago(q.oldest, s.at)]);
  return `${head}\n${table(['queue', 'kind', 'size', 'in/s', 'out/s', 'oldest'], rows, [2, 3, 4])}`;
}

/** Runs until SIGINT/SIGTERM; resolves with the exit code. */
export function watch(t: Target, o: WatchOptions): Promise<number> {
  const tty = process.stdout.isTTY === true && !o.json;
  const db = t.type === 'sqlite' ? S.openReadOnly(t.path) : undefined;
  const puts = new PutCounter();
  if (t.type === 'file') F.folderKind(t.path); // not a queue folder: a usage error before anything is drawn
  let prev: Sample | undefined;
  let drawn = 0;
  return new Promise<number>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (code: number, err?: unknown) => {
      clearTimeout(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      db?.close();
      if (tty) process.stdout.write('\x1b[?25h\n');
      if (err !== undefined) reject(err);
      else resolve(code);
    };
    const onSignal = () => finish(0);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    if (tty) process.stdout.write('\x1b[?25l');
    const tick = () => {
      try {
        const s = db !== undefined ? sqliteSample(db, t.path) : fileSample(t.path, puts);
        const r = rates(prev, s);
        prev = s;
        if (o.json) {
          out(JSON.stringify({ at: new Date(s.at).toISOString(), bytes: s.bytes, queues: s.queues.map((q, i) => ({ name: q.name, kind: q.kind, size: q.size, inPerSec: r[i]!.inRate, outPerSec: r[i]!.outRate, oldest: q.oldest })) }));
        } else {
          const text = render(t, s, r, o.interval);
          if (tty) process.stdout.write((drawn > 0 ? `\x1b[${drawn}F\x1b[J` : '') + text + '\n');
          else out(text + '\n');
          drawn = text.split('\n').length;
        }
        timer = setTimeout(tick, o.interval);
      } catch (e) {
        finish(1, e);
      }
    };
    tick();
  });
}
