/**
 * The queue classes under contract test. Every entry runs the whole contract suite (test/contract.test.ts); a new
 * backend joins by adding its classes here. Sync classes are awaited like Promise classes (await of a plain value is
 * the value), so one test body drives both flavours.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import * as lib from '../../dist/esm/index.js';
import * as pgLib from '../../dist/esm/postgres.js';

/** Any queue instance, sync or Promise; tests always `await` its results. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyQueue = any;

export interface QueueClass {
  /** Class name as exported. */
  name: string;
  backend: 'sqlite' | 'file' | 'postgres';
  flavour: 'sync' | 'async';
  ack: boolean;
  /** Opens a queue at `location` (file or folder, see `location()`). */
  open(location: string, options?: Record<string, unknown>): Promise<AnyQueue>;
  /** A fresh location for a queue inside `dir`. */
  location(dir: string): string;
  /** Orders this class supports. */
  orders: readonly string[];
  /** Whether `autoCommit` is an option of this class. */
  autoCommit: boolean;
  /** Whether the location is a path on disk (false: a queue name on a server). */
  paths: boolean;
  /** Whether the class has the `skipCorrupt` option. */
  skipCorrupt: boolean;
  /** The durability settings the class accepts. */
  durabilities: readonly string[];
  /** How long after a holder process dies its items come back at the latest (ms). */
  deadAfterMs: number;
  /** The module a child process imports the class from, and the arguments of its `open()` (JSON). */
  entry: 'index' | 'postgres';
  openArgs(location: string): unknown[];
}

const sqliteLocation = (dir: string): string => join(dir, 'queue.db');

export const SQLITE_CLASSES: QueueClass[] = [
  { name: 'SqliteQueueSync', backend: 'sqlite', flavour: 'sync', ack: false, orders: ['fifo', 'filo', 'priority'], autoCommit: true, paths: true, skipCorrupt: true, durabilities: ['full', 'normal', 'off'], deadAfterMs: 1000, entry: 'index', openArgs: (l) => [l], location: sqliteLocation, open: async (l, o) => lib.SqliteQueueSync.open(l, o) },
  { name: 'SqliteQueue', backend: 'sqlite', flavour: 'async', ack: false, orders: ['fifo', 'filo', 'priority'], autoCommit: true, paths: true, skipCorrupt: true, durabilities: ['full', 'normal', 'off'], deadAfterMs: 1000, entry: 'index', openArgs: (l) => [l], location: sqliteLocation, open: (l, o) => lib.SqliteQueue.open(l, o) },
  { name: 'SqliteAckQueueSync', backend: 'sqlite', flavour: 'sync', ack: true, orders: ['fifo', 'filo'], autoCommit: false, paths: true, skipCorrupt: true, durabilities: ['full', 'normal', 'off'], deadAfterMs: 1000, entry: 'index', openArgs: (l) => [l], location: sqliteLocation, open: async (l, o) => lib.SqliteAckQueueSync.open(l, o) },
  { name: 'SqliteAckQueue', backend: 'sqlite', flavour: 'async', ack: true, orders: ['fifo', 'filo'], autoCommit: false, paths: true, skipCorrupt: true, durabilities: ['full', 'normal', 'off'], deadAfterMs: 1000, entry: 'index', openArgs: (l) => [l], location: sqliteLocation, open: (l, o) => lib.SqliteAckQueue.open(l, o) },
];

/** File-segment classes join here once lib/file-queue exports them. */
const fileLocation = (dir: string): string => join(dir, 'queue');
export const FILE_CLASSES: QueueClass[] = [
  { name: 'FileQueueSync', backend: 'file', flavour: 'sync', ack: false, orders: ['fifo', 'filo'], autoCommit: true, paths: true, skipCorrupt: true, durabilities: ['full', 'normal', 'off'], deadAfterMs: 1000, entry: 'index', openArgs: (l) => [l], location: fileLocation, open: async (l, o) => lib.FileQueueSync.open(l, o) },
  { name: 'FileQueue', backend: 'file', flavour: 'async', ack: false, orders: ['fifo', 'filo'], autoCommit: true, paths: true, skipCorrupt: true, durabilities: ['full', 'normal', 'off'], deadAfterMs: 1000, entry: 'index', openArgs: (l) => [l], location: fileLocation, open: (l, o) => lib.FileQueue.open(l, o) },
];

/**
 * PostgreSQL classes: on when a server is available (`PG_URL`, set by the global setup test/setup/pg-global.ts). The
 * location is a fresh queue name; every test gets its own tables.
 */
export const PG_URL: string | undefined = process.env.PG_URL;
const pgLocation = (dir: string): string => join(dir, 'q');
/** A location (a path, as for the other backends) as a queue name: its folder's and its own name. */
export const pgName = (l: string): string => `t_${basename(dirname(l))}_${basename(l)}`.replace(/[^A-Za-z0-9_]/g, '_').slice(-40);
/** The queue name joins the options (a non-object or an array is passed on as it is, for the option checks). */
const pgOptions = (l: string, o: unknown): never =>
  (o === undefined ? { name: pgName(l) } : o !== null && typeof o === 'object' && !Array.isArray(o) ? { ...o, name: (o as { name?: string }).name ?? pgName(l) } : o) as never;
export const PG_CLASSES: QueueClass[] = PG_URL
  ? [
      { name: 'PostgresQueue', backend: 'postgres', flavour: 'async', ack: false, orders: ['fifo', 'filo', 'priority'], autoCommit: true, paths: false, skipCorrupt: false, durabilities: ['full', 'normal'], deadAfterMs: 12_000, entry: 'postgres', openArgs: (l) => [PG_URL, { name: pgName(l) }], location: pgLocation, open: (l, o) => pgLib.PostgresQueue.open(PG_URL!, pgOptions(l, o)) },
      { name: 'PostgresAckQueue', backend: 'postgres', flavour: 'async', ack: true, orders: ['fifo', 'filo'], autoCommit: false, paths: false, skipCorrupt: false, durabilities: ['full', 'normal'], deadAfterMs: 12_000, entry: 'postgres', openArgs: (l) => [PG_URL, { name: pgName(l) }], location: pgLocation, open: (l, o) => pgLib.PostgresAckQueue.open(PG_URL!, pgOptions(l, o)) },
    ]
  : [];

export const ALL_CLASSES: QueueClass[] = [...SQLITE_CLASSES, ...FILE_CLASSES, ...PG_CLASSES];

/** A temp folder removed by the returned cleanup. */
export function tempDir(prefix = 'pq-test-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs `fn` (sync or async) and returns what it threw; fails if it did not throw. */
export async function caught(fn: () => unknown): Promise<Error & { code?: string }> {
  try {
    await fn();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected the call to throw, it returned');
}

/** What `get()` gave, unwrapped from an ack message. */
export function dataOf(cls: QueueClass, got: unknown): unknown {
  return cls.ack ? (got as { data: unknown }).data : got;
}

/** A string serializer whose decode() throws ("decoder boom") until `heal()` is called. */
export function failingDecoder(): { serializer: { encode(v: string): Buffer; decode(b: Uint8Array): string }; heal(): void } {
  let fail = true;
  return {
    serializer: {
      encode: (v: string) => Buffer.from(v),
      decode: (b: Uint8Array) => {
        if (fail) throw new Error('decoder boom');
        return Buffer.from(b).toString();
      },
    },
    heal: () => {
      fail = false;
    },
  };
}
