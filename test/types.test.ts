/**
 * The published declarations as a strict user compiles them: the packed package in a project outside the repo (no
 * @types/better-sqlite3 there), `skipLibCheck: false`, `nodenext`, an ESM and a CommonJS file importing every entry
 * point, `using` / `await using` on the queues, and the public types. The compiled files are then run, so `using`
 * is also checked to close the queues.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packedConsumer, repoRoot, type Consumer } from './helpers/consumer.js';

const IMPORTS = `{
  FileQueue, FileQueueSync, SqliteQueue, SqliteQueueSync, SqliteAckQueue, SqliteAckQueueSync,
  QueueError, QueueEmptyError, QueueFullError, QueueClosedError, QueueCorruptError, QueueLockedError, SerializationError,
  type AckMessage, type AckQueueItem, type AckStatus, type ClearAckedOptions, type Durability, type FileDurability,
  type FileQueueOptions, type SqliteQueueOptions, type SqliteAckQueueOptions, type QueueErrorCode, type ArgumentCode,
  type Serializer, type SerializerOption, type PutOptions, type PutManyOptions, type GetOptions, type JoinOptions,
}`;

/** The body shared by both files: runs inside an async function (CJS has no top-level await). */
const BODY = `
  const dir = process.argv[2]!;
  const fileOpts: FileQueueOptions<{ n: number }> = { durability: 'normal' satisfies FileDurability };
  const sqlOpts: SqliteQueueOptions<string> = { durability: 'normal' satisfies Durability, serializer: 'json' satisfies SerializerOption };
  const ackOpts: SqliteAckQueueOptions<string> = { visibilityTimeout: 1000 };
  const codec: Serializer<string> = { encode: (s) => Buffer.from(s), decode: (b) => Buffer.from(b).toString() };
  const put: PutOptions = { block: false };
  const many: PutManyOptions = { timeout: 0 };
  const get: GetOptions = { timeout: 0 };
  const join: JoinOptions = { timeout: 0 };
  const fromConfig: number | undefined = process.env.NO_SUCH_SETTING === undefined ? undefined : 5;
  const undef: SqliteQueueOptions<string> = { maxSize: undefined, durability: undefined, busyTimeout: fromConfig };
  const getU: GetOptions = { timeout: fromConfig, block: undefined };
  const fileU: FileQueueOptions<{ n: number }> = { durability: undefined, lockTimeout: fromConfig };
  void [undef, getU, fileU];

  let syncQ: FileQueueSync<{ n: number }> | undefined;
  {
    using q = FileQueueSync.open<{ n: number }>(dir + '/file', fileOpts);
    syncQ = q;
    q.put({ n: 1 }, put);
    const n: { n: number } = q.get(get);
    if (n.n !== 1) throw new Error('wrong item');
  }
  let asyncQ: SqliteQueue<string> | undefined;
  {
    await using q = await SqliteQueue.open<string>(dir + '/q.db', sqlOpts);
    asyncQ = q;
    await q.putMany(['a', 'b'], many);
    const s: string = await q.get(get);
    await q.join(join).catch(() => false);
    if (s !== 'a') throw new Error('wrong item');
  }
  {
    await using q = await FileQueue.open<string>(dir + '/file2', { serializer: codec });
    await q.put('x');
  }
  {
    using q = SqliteAckQueueSync.open<string>(dir + '/ack.db', ackOpts);
    q.put('m');
    const msg: AckMessage<string> = q.get();
    const items: AckQueueItem<string>[] = q.items();
    const status: AckStatus = items[0]!.status;
    const clear: ClearAckedOptions = { includeFailed: true };
    q.ack(msg);
    q.clearAcked(clear);
    if (status !== 'unack') throw new Error('wrong status ' + status);
  }
  {
    await using q = await SqliteAckQueue.open<string>(dir + '/ack2.db');
    using s = SqliteQueueSync.open<number>(dir + '/s.db', { order: 'priority' });
    s.put(1, { priority: 2 });
    await q.put('y');
  }
  for (const q of [syncQ, asyncQ]) {
    try {
      await q!.size();
      throw new Error('using did not close the queue');
    } catch (err) {
      if (!(err instanceof QueueClosedError)) throw err;
      const code: QueueErrorCode = err.code;
      if (code !== 'ERR_QUEUE_CLOSED') throw new Error('wrong code ' + code);
    }
  }
  const errors: QueueError[] = [
    new QueueEmptyError(), new QueueFullError(), new QueueClosedError(), new QueueCorruptError('c'),
    new QueueLockedError('l'), new SerializationError('s', { cause: new Error('x') }),
  ];
  const codes: QueueErrorCode[] = errors.map((e) => e.code);
  const arg: ArgumentCode = 'ERR_INVALID_ARG_TYPE';
  // The same classes, as types too, through every entry point.
  const a: typeof file.FileQueueSync = FileQueueSync;
  const b: typeof sqlite.SqliteQueue = SqliteQueue;
  const c: typeof sqlite.QueueEmptyError = file.QueueEmptyError;
  const d: FileQueueSync<number> | undefined = undefined as file.FileQueueSync<number> | undefined;
  // @ts-expect-error the file entry point has no SQLite class
  void file.SqliteQueue;
  void [a, b, c, d, arg];
  // the task and PostgreSQL entry points type-check too (no @types/pg in this project; pg is not loaded on import)
  const tq: tasks.TaskQueue | undefined = undefined as tasks.TaskQueue | undefined;
  const w: tasks.Worker | undefined = undefined as tasks.Worker | undefined;
  const pq: pgq.PostgresAckQueue<{ n: number }> | undefined = undefined as pgq.PostgresAckQueue<{ n: number }> | undefined;
  void [tq, w, pq, tasks.TaskQueueSync, pgq.PostgresQueue, pgq.TaskQueue];
  // using / await using on the task queues too (their dispose keys must be Symbol.dispose / asyncDispose in the types)
  let syncT: tasks.TaskQueueSync | undefined;
  let asyncT: tasks.TaskQueue | undefined;
  {
    using t = tasks.TaskQueueSync.open(dir + '/t.db');
    await using u = await tasks.TaskQueue.open(dir + '/u.db');
    t.enqueue('a', 1);
    await u.enqueue('b', 2);
    syncT = t;
    asyncT = u;
  }
  for (const t of [syncT, asyncT]) {
    try {
      await t!.counts();
      throw new Error('using did not close the task queue');
    } catch (err) {
      if (!(err instanceof QueueClosedError)) throw err;
    }
  }
  console.log(codes.join(','));
`;

const ESM = `import ${IMPORTS} from 'persist-queue';
import * as file from 'persist-queue/file';
import * as sqlite from 'persist-queue/sqlite';
import * as root from 'persist-queue';
import * as tasks from 'persist-queue/tasks';
import * as pgq from 'persist-queue/postgres';

// @ts-expect-error the ESM entry points export names only, no default
void root.default;
await (async () => {${BODY}})();
`;

const CJS = `import ${IMPORTS} from 'persist-queue';
import file = require('persist-queue/file');
import sqlite = require('persist-queue/sqlite');
import tasks = require('persist-queue/tasks');
import pgq = require('persist-queue/postgres');

void (async () => {${BODY}})().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
`;

const TSCONFIG = {
  compilerOptions: {
    strict: true,
    target: 'es2022',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    lib: ['es2022', 'esnext.disposable'],
    types: ['node'],
    skipLibCheck: false,
    // the strictest a user may set: passing undefined for an option ("the default") must still type-check
    exactOptionalPropertyTypes: true,
    noEmitOnError: true,
    outDir: 'out',
  },
  files: ['esm.mts', 'cjs.cts'],
};

describe('published type declarations', () => {
  let consumer: Consumer;
  beforeAll(() => {
    consumer = packedConsumer('pq-types-');
    writeFileSync(join(consumer.dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
    writeFileSync(join(consumer.dir, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
    writeFileSync(join(consumer.dir, 'esm.mts'), ESM);
    writeFileSync(join(consumer.dir, 'cjs.cts'), CJS);
  });
  afterAll(() => consumer?.cleanup());

  it('compile in a strict nodenext project without skipLibCheck or @types/better-sqlite3, ESM and CommonJS', () => {
    let out = '';
    try {
      execFileSync(process.execPath, [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {
        cwd: consumer.dir,
        encoding: 'utf8',
      });
    } catch (err) {
      out = String((err as { stdout?: string }).stdout) + String((err as { stderr?: string }).stderr);
    }
    expect(out).toBe('');
    const expected = 'ERR_QUEUE_EMPTY,ERR_QUEUE_FULL,ERR_QUEUE_CLOSED,ERR_QUEUE_CORRUPT,ERR_QUEUE_LOCKED,ERR_QUEUE_SERIALIZATION';
    for (const [file, sub] of [['out/esm.mjs', 'esm'], ['out/cjs.cjs', 'cjs']] as const) {
      mkdirSync(join(consumer.dir, sub));
      const printed = execFileSync(process.execPath, [file, join(consumer.dir, sub)], { cwd: consumer.dir, encoding: 'utf8' });
      expect(printed.trim()).toBe(expected);
    }
  });
});
