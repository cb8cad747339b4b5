/**
 * `repair`: keeps a backup, drops damaged records/rows, rewrites what is left, prints what it dropped.
 * SQLite: `VACUUM INTO` a backup file next to the database, then one `BEGIN IMMEDIATE` transaction deletes every row
 * whose data fails its CRC or does not decode (checked again inside the transaction). Damage in SQLite's own
 * structures (quick_check) is reported, not repaired. File queue: the folder is read (from a private copy) with the
 * library's `skipCorrupt: true`, the intact items are written in their order into a new folder, the old folder is
 * renamed to the backup and the new one takes its name; no other process may use the queue meanwhile.
 * Internal to the CLI.
 */
import { cpSync, existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QueueEmptyError } from '../common/errors.js';
import { FileQueueSync } from '../file-queue/queue.js';
import { openConnection } from '../sqlite-queue/connection.js';
import type { Target } from './commands.js';
import * as F from './file-target.js';
import { out, paint, problem } from './output.js';
import * as S from './sqlite-target.js';

export interface RepairOptions {
  dryRun: boolean;
  json: boolean;
}

const stamp = (): string => new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');

function freeName(base: string): string {
  let p = base;
  for (let i = 2; existsSync(p); i++) p = `${base}-${i}`;
  return p;
}

function report(o: RepairOptions, doc: { dropped: unknown[]; kept: number; backup: string | null; dryRun: boolean }, lines: string[]): void {
  if (o.json) return out(JSON.stringify(doc));
  for (const l of lines) out(l);
  const verb = o.dryRun ? 'would drop' : 'dropped';
  out(`${doc.dropped.length === 0 ? paint('green', 'nothing to repair') : `${verb} ${doc.dropped.length} damaged item(s)`}, ${doc.kept} kept${doc.backup ? `; backup: ${doc.backup}` : ''}`);
}

export function repairSqlite(t: Target, o: RepairOptions): number {
  const ro = S.openReadOnly(t.path);
  let found: ReturnType<typeof S.verifySqlite>;
  try {
    found = S.verifySqlite(ro);
  } finally {
    ro.close();
  }
  const lines = found.damaged.map((d) => `${o.dryRun ? 'would drop' : 'dropped'}  queue ${d.queue} (${d.table}) row id ${d.id}: ${d.problem}`);
  if (found.integrity.length > 0) {
    throw problem(`SQLite reports damage in the file's own structures (${found.integrity[0]}): restore a backup or use sqlite3's .recover`);
  }
  const kept = found.checked - found.damaged.length;
  if (o.dryRun || found.damaged.length === 0) {
    report(o, { dropped: found.damaged, kept, backup: null, dryRun: o.dryRun }, lines);
    return 0;
  }
  const backup = freeName(`${t.path}.backup-${stamp()}`);
  const db = openConnection(t.path, 'full', 10000);
  const dropped: S.Damage[] = [];
  try {
    db.prepare('VACUUM INTO ?').run(backup);
    db.transaction(() => {
      for (const tb of S.listTables(db)) {
        for (const r of S.waitingRows(db, tb, 0, true)) {
          if (r.error === undefined) continue;
          db.prepare(`DELETE FROM \`${tb.table}\` WHERE _id = ?`).run(r.id);
          dropped.push({ queue: tb.name, table: tb.table, id: r.id, problem: r.error });
        }
      }
    }).immediate();
  } finally {
    db.close();
  }
  report(o, { dropped, kept, backup, dryRun: false }, lines);
  return 0;
}

export function repairFolder(t: Target, o: RepairOptions): number {
  const v = F.verifyFolder(t.path);
  const kind = F.folderKind(t.path);
  let skipped = 0;
  const kept = readAll(t.path, kind, (n) => (skipped = n));
  const lines = v.damaged.map((d) => `${o.dryRun ? 'would drop' : 'dropped'}  ${d.segment} offset ${d.offset}${d.type ? ` (${d.type} record)` : ''}: ${d.problem}`);
  const doc = { dropped: v.damaged, skippedItems: skipped, kept: kept.length, backup: null as string | null, dryRun: o.dryRun };
  if (o.dryRun || v.damaged.length === 0) {
    report(o, doc, lines);
    return 0;
  }
  const fresh = freeName(`${t.path}.repair-tmp`);
  const q = FileQueueSync.open(fresh, { order: kind.order, unique: kind.unique });
  try {
    const ordered = kind.order === 'filo' ? [...kept].reverse() : kept;
    for (let i = 0; i < ordered.length; i += 1000) q.putMany(ordered.slice(i, i + 1000));
  } finally {
    q.close();
  }
  const backup = freeName(`${t.path}.backup-${stamp()}`);
  renameSync(t.path, backup);
  renameSync(fresh, t.path);
  doc.backup = backup;
  report(o, doc, lines);
  return 0;
}

/** Every intact item of the folder in delivery order, read from a private copy with `skipCorrupt: true`. */
function readAll(dir: string, kind: { order: 'fifo' | 'filo'; unique: boolean }, skipped: (n: number) => void): unknown[] {
  const tmp = mkdtempSync(join(tmpdir(), 'pq-cli-repair-'));
  cpSync(dir, tmp, { recursive: true, filter: (src) => !/[/\\](lock|tokens|want|wake)$/.test(src) });
  try {
    return readCopy(tmp, kind, skipped);
  } catch (e) {
    // name the user's folder, not the private copy; damage skipCorrupt cannot pass (a segment's own header or STATE
    // record) is not repairable by dropping records
    throw problem(`${String((e as Error).message).split(tmp).join(dir)}: repair keeps only what the library can read past; restore a backup`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function readCopy(tmp: string, kind: { order: 'fifo' | 'filo'; unique: boolean }, skipped: (n: number) => void): unknown[] {
  const q = FileQueueSync.open(tmp, { order: kind.order, unique: kind.unique, skipCorrupt: true, durability: 'off' });
  try {
    const all: unknown[] = [];
    for (;;) {
      let batch: unknown[];
      try {
        batch = q.getMany(1000, { block: false });
      } catch (e) {
        if (e instanceof QueueEmptyError) break;
        throw e;
      }
      all.push(...batch);
    }
    skipped(q.corruptSkipped);
    return all;
  } finally {
    q.close();
  }
}
