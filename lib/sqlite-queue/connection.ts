/**
 * Opening a SQLite queue file: path checks, pragmas on every connection, and the translation of SQLite errors into
 * the library's typed errors.
 *
 * @module
 */
import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { argValueError, errnoOf, QueueCorruptError, QueueError, QueueLockedError } from '../common/errors.js';
import { checkPath } from '../common/options.js';

/** The `durability` option. */
export type Durability = 'full' | 'normal' | 'off';

/** A prepared statement (a name the statement sets of the cores can be typed with). */
export interface Stmt extends Database.Statement<unknown[], unknown> {}

const SYNCHRONOUS: Record<Durability, string> = { full: 'FULL', normal: 'NORMAL', off: 'OFF' };

/** Checks that `file` can be a database file: its folder exists and it is not a folder itself. */
export function checkDbPath(value: unknown, where: string): string {
  const file = checkPath(value, 'file', where);
  if (file === ':memory:') {
    throw argValueError(`${where} needs a file: a ':memory:' database cannot be shared and is not durable`);
  }
  const full = resolve(file);
  let dirStat;
  try {
    dirStat = statSync(dirname(full));
  } catch {
    throw argValueError(`The folder of the queue file does not exist: ${dirname(full)}`);
  }
  if (!dirStat.isDirectory()) throw argValueError(`The parent of the queue file is not a folder: ${dirname(full)}`);
  try {
    if (statSync(full).isDirectory()) throw argValueError(`The queue file path is a folder: ${full}`);
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
  }
  return full;
}

/**
 * Opens a connection with WAL, `synchronous` from `durability` and the busy timeout, set on this connection (the first
 * connection to switch to WAL would otherwise differ from later ones).
 */
export function openConnection(file: string, durability: Durability, busyTimeout: number): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(file, { timeout: busyTimeout });
  } catch (err) {
    throw translateError(err, `cannot open queue file ${file}`);
  }
  try {
    db.pragma(`busy_timeout = ${busyTimeout}`);
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (String(mode).toLowerCase() !== 'wal') {
      throw new QueueError(`cannot switch ${file} to WAL journal mode (got ${String(mode)})`, 'ERR_QUEUE_IO');
    }
    db.pragma(`synchronous = ${SYNCHRONOUS[durability]}`);
    // Keep the WAL file from staying large after a burst (bytes; the WAL still grows while a reader holds it).
    db.pragma('journal_size_limit = 67108864');
  } catch (err) {
    db.close();
    throw translateError(err, `cannot open queue file ${file}`);
  }
  return db;
}

/** Whether `err` is SQLite's "database is locked/busy". */
export function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/** Turns a SQLite error into a typed queue error; other errors pass through unchanged. */
export function translateError(err: unknown, context: string): unknown {
  if (err instanceof QueueError) return err;
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return err;
  const msg = `${context}: ${(err as Error).message} (${code})`;
  if (isBusy(err)) return new QueueLockedError(msg, { cause: err });
  // A short read is the database file ending before the data SQLite knows is there: the file was truncated.
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB' || code === 'SQLITE_IOERR_SHORT_READ') {
    return new QueueCorruptError(msg, { cause: err });
  }
  return new QueueError(msg, 'ERR_QUEUE_IO', { cause: err });
}
