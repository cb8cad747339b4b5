/**
 * Torture 3: disk full and read-only storage (SPEC.md guarantees 5 and 8).
 *
 * Disk full: a child runs under `ulimit -f N` (Node ignores SIGXFSZ, so a write past N KiB fails with EFBIG after a
 * short write) and puts self-checking payloads, one by one or with putMany(), until a put fails. The failure must be a
 * typed QueueError (ERR_QUEUE_IO, with .cause); after reopening in a normal process every put that returned is there,
 * nothing of the failed put (or putMany) is visible, nothing is corrupt, and the queue works again.
 *
 * Read-only: a new queue in a read-only folder, an existing queue in a folder made read-only, an existing queue whose
 * file is read-only. The child runs as an unprivileged user when the suite runs as root (root ignores permissions).
 * Every call must succeed or fail with a typed error; the stored items are unchanged afterwards.
 */
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ALL_CLASSES, tempDir, type AnyQueue, type QueueClass } from '../helpers/classes.js';
import { checkPayload, drain, makePayload, prng, readLines, seedFor, spawnChild, subSeed, workerPath } from './helpers.js';

const IO_WORKER = workerPath('io-worker.mjs');
const SEED = seedFor('diskfull.test.ts');
const AS_ROOT = process.getuid?.() === 0;
const NOBODY = 65534;

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir('pq-torture-io-'));
  chmodSync(dir, 0o755); // an unprivileged child must reach it
});
afterEach(() => {
  // make everything removable again
  const open = (p: string): void => {
    try {
      chmodSync(p, 0o777);
      if (statSync(p).isDirectory()) for (const e of readdirSync(p)) open(join(p, e));
    } catch {
      /* gone */
    }
  };
  open(dir);
  cleanup();
});

function lastJson(out: string): Record<string, any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const line = out.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`child printed no JSON result: ${out}`);
  }
}

async function prefill(cls: QueueClass, loc: string, n: number, seed: number): Promise<string[]> {
  const rng = prng(seed);
  const q: AnyQueue = await cls.open(loc);
  const items = Array.from({ length: n }, (_, i) => makePayload(`pre-${i}`, rng, 500));
  await q.putMany(items);
  await q.close();
  return items.map((i) => i.k);
}

function sizeOf(loc: string): number {
  const st = statSync(loc);
  if (!st.isDirectory()) return st.size;
  return readdirSync(loc).reduce((a, e) => Math.max(a, statSync(join(loc, e)).size), 0);
}

// Local storage only: a server class (PostgreSQL) writes nothing on this machine's disk; its server's failures are
// connection errors, tested in test/postgres.test.ts.
for (const cls of ALL_CLASSES.filter((c) => c.paths)) {
  describe(`disk full: ${cls.name}`, () => {
    for (const mode of ['put', 'putMany'] as const) {
      it(`${mode} until the file size limit: typed ERR_QUEUE_IO, returned puts kept, the failed ${mode} invisible, usable again`, async () => {
        const rng = prng(subSeed(SEED, `diskfull:${cls.name}:${mode}`));
        const loc = cls.location(dir);
        const pre = await prefill(cls, loc, 20, rng.int(0, 2 ** 31));
        const limitKiB = Math.ceil(sizeOf(loc) / 1024) + rng.int(16, 160);
        const log = join(dir, 'fill.log');
        const job = { role: 'fill', cls: cls.name, location: loc, log, prefix: 'f', seed: rng.int(0, 2 ** 31), batch: mode === 'putMany' ? 8 : 0 };
        const c = spawnChild(null, {
          command: 'bash',
          argv: ['-c', `ulimit -f ${limitKiB} && exec "$0" "$@"`, process.execPath, IO_WORKER, JSON.stringify(job)],
          timeoutMs: 60_000,
        });
        const ex = await c.exit;
        expect(ex, c.stderr()).toEqual({ code: 0, signal: null, timedOut: false });
        const res = lastJson(c.stdout());
        console.log(`[torture] disk full ${cls.name} ${mode}: limit ${limitKiB} KiB, ${res.puts} items tried, error ${res.error?.code} (${res.error?.cause?.code})`);
        expect(res.error, 'a put must fail under the size limit').toBeDefined();
        expect(res.error.typed, JSON.stringify(res.error)).toBe(true);
        expect(res.error.name).toBe('QueueError');
        expect(res.error.code).toBe('ERR_QUEUE_IO');
        expect(res.error.cause, 'the underlying error is kept as .cause').toBeDefined();
        for (const [name, r] of Object.entries(res.after as Record<string, { ok?: boolean; typed?: boolean }>)) {
          expect(r.ok || r.typed, `${name} after the failure: ${JSON.stringify(r)}`).toBe(true);
        }
        // Reopen in a normal process (this one): every returned put is there, nothing of a failed one.
        const lines = readLines(log);
        const returned = new Set(lines.filter((l: string) => l.startsWith('P ')).map((l: string) => l.slice(2)));
        const failed = new Set(lines.filter((l: string) => l.startsWith('F ')).map((l: string) => l.slice(2)));
        expect(failed.size).toBeGreaterThan(0);
        if (cls.backend === 'sqlite') {
          const db = new Database(loc);
          expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
          db.close();
        }
        const q: AnyQueue = await cls.open(loc);
        const got = (await drain(cls, q)).map((v) => checkPayload(v) ?? `CORRUPT ${JSON.stringify(v)}`);
        expect(got.filter((k) => k.startsWith('CORRUPT'))).toEqual([]);
        expect(got.filter((k) => failed.has(k)), 'items of the failed put are visible').toEqual([]);
        expect(new Set(got)).toEqual(new Set([...pre, ...returned]));
        expect(got.length).toBe(pre.length + returned.size);
        await q.put('usable');
        const again = await q.get({ block: false });
        expect(cls.ack ? again.data : again).toBe('usable');
        await q.close();
      });
    }
  });

  describe(`read-only storage: ${cls.name}`, () => {
    const runCalls = async (loc: string, calls: string[]): Promise<Record<string, { ok?: boolean; typed?: boolean; code?: string; message?: string }>> => {
      const job = { role: 'calls', cls: cls.name, location: loc, calls, item: 'new', ...(AS_ROOT ? { uid: NOBODY, gid: NOBODY } : {}) };
      const c = spawnChild(job, { script: IO_WORKER, timeoutMs: 30_000 });
      const ex = await c.exit;
      expect(ex, c.stderr()).toEqual({ code: 0, signal: null, timedOut: false });
      const out = lastJson(c.stdout());
      for (const [name, r] of Object.entries(out)) expect((r as { ok?: boolean }).ok || (r as { typed?: boolean }).typed, `${name}: ${JSON.stringify(r)}`).toBe(true);
      return out;
    };
    const sameItems = async (loc: string, pre: string[]): Promise<void> => {
      const q: AnyQueue = await cls.open(loc);
      expect((await drain(cls, q)).map((v) => checkPayload(v))).toEqual(pre);
      await q.close();
    };

    it('a new queue in a read-only folder: a typed error naming the path, nothing created', async () => {
      const ro = join(dir, 'ro');
      mkdirSync(ro);
      chmodSync(ro, 0o555);
      const loc = cls.location(ro);
      const out = await runCalls(loc, ['open', 'put', 'close']);
      expect(out.open!.ok).toBeUndefined();
      expect(out.open!.message).toContain(ro);
      expect(readdirSync(ro)).toEqual([]);
    });

    it('an existing queue in a folder made read-only: every call succeeds or fails typed; items unchanged', async () => {
      const sub = join(dir, 'sub');
      mkdirSync(sub);
      const loc = cls.location(sub);
      const pre = await prefill(cls, loc, 5, subSeed(SEED, `ro-folder:${cls.name}`));
      if (AS_ROOT) for (const e of readdirSync(sub)) chownSync(join(sub, e), NOBODY, NOBODY);
      chmodSync(sub, 0o555);
      const out = await runCalls(loc, ['open', 'size', 'peek', 'put', 'get', 'close']);
      console.log(`[torture] read-only folder ${cls.name}: ${JSON.stringify(Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.ok ? 'ok' : v.code])))}`);
      chmodSync(sub, 0o755);
      // whatever the child managed to do is visible: at most its one put and one get
      const q: AnyQueue = await cls.open(loc);
      const now = (await drain(cls, q)).map((v) => checkPayload(v) ?? v);
      await q.close();
      const expected = [...pre];
      if (out.get?.ok) expected.shift();
      if (out.put?.ok) expected.push('new' as never);
      expect(now).toEqual(expected);
    });

    it('an existing queue whose file is read-only: every call succeeds or fails typed; items unchanged', async () => {
      const sub = join(dir, 'sub');
      mkdirSync(sub);
      chmodSync(sub, 0o777);
      const loc = cls.location(sub);
      const pre = await prefill(cls, loc, 5, subSeed(SEED, `ro-file:${cls.name}`));
      const files = statSync(loc).isDirectory() ? readdirSync(loc).map((e) => join(loc, e)) : [loc];
      for (const f of files) chmodSync(f, 0o444);
      const out = await runCalls(loc, ['open', 'size', 'peek', 'put', 'get', 'close']);
      console.log(`[torture] read-only file ${cls.name}: ${JSON.stringify(Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.ok ? 'ok' : v.code])))}`);
      expect(out.put?.ok, 'a put into a read-only file cannot have succeeded').toBeFalsy();
      for (const f of files) chmodSync(f, 0o644);
      await sameItems(loc, out.get?.ok ? pre.slice(1) : pre);
    });
  });
}


/**
 * A failing fsync, for every class: a child runs with LD_PRELOAD of a tiny shim (compiled here with the system's C
 * compiler) whose fsync() and fdatasync() fail with EIO while a flag file exists; everything else is the real system
 * (SQLite's own syncs and Node's go through the same libc calls). At `durability: 'full'` a put, a putMany and a get
 * each sync before they return: each must throw QueueError ERR_QUEUE_IO; once fsync works again the same instance
 * goes on. After reopening (no shim): every put that returned is there once, the failed putMany's items all or none,
 * nothing invented, SQLite's integrity_check ok.
 */
const SHIM_C = `#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
static int failing(void) { const char *f = getenv("PQ_FAIL_FSYNC_FLAG"); return f && access(f, F_OK) == 0; }
int fsync(int fd) { static int (*real)(int); if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync"); if (failing()) { errno = EIO; return -1; } return real(fd); }
int fdatasync(int fd) { static int (*real)(int); if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync"); if (failing()) { errno = EIO; return -1; } return real(fd); }
`;

describe('a failing fsync (LD_PRELOAD shim)', () => {
  let shimDir: { dir: string; cleanup(): void };
  let shim: string;
  beforeAll(() => {
    shimDir = tempDir('pq-fsync-shim-');
    writeFileSync(join(shimDir.dir, 'shim.c'), SHIM_C);
    shim = join(shimDir.dir, 'shim.so');
    const cc = spawnSync('cc', ['-shared', '-fPIC', '-O2', '-o', shim, join(shimDir.dir, 'shim.c'), '-ldl'], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`cannot build the fsync shim with cc: ${cc.stderr || cc.error}`);
  });
  afterAll(() => shimDir?.cleanup());

  for (const cls of ALL_CLASSES.filter((c) => c.paths)) {
    it(`${cls.name}, durability 'full': put, putMany and get throw ERR_QUEUE_IO while fsync fails; usable again after`, async () => {
      const loc = join(dir, cls.backend === 'sqlite' ? 'q.db' : 'q');
      const flag = join(dir, 'fail-fsync');
      const job = { role: 'fsync', cls: cls.name, location: loc, flag, seed: subSeed(SEED, `fsync:${cls.name}`) };
      const c = spawnChild(null, {
        command: 'env',
        argv: [`LD_PRELOAD=${shim}`, `PQ_FAIL_FSYNC_FLAG=${flag}`, process.execPath, IO_WORKER, JSON.stringify(job)],
        timeoutMs: 60_000,
      });
      const res = await c.exit;
      expect(c.stderr()).toBe('');
      expect(res.code).toBe(0);
      const out = lastJson(c.stdout());
      for (const name of ['put', 'putMany', 'get']) {
        const f = out.failed[name];
        expect(f.ok, `${name} returned although its fsync failed`).not.toBe(true);
        expect(f.typed, `${name}: ${f.name} ${f.message}`).toBe(true);
        expect(f.code, `${name}: ${f.message}`).toBe('ERR_QUEUE_IO');
      }
      expect(out.after.put.ok, JSON.stringify(out.after.put)).toBe(true);
      expect(out.after.close.ok, JSON.stringify(out.after.close)).toBe(true);
      const q: AnyQueue = await cls.open(loc);
      const keys = (await drain(cls, q)).map((v) => checkPayload(v));
      await q.close();
      if (cls.backend === 'sqlite') {
        const db = new Database(loc, { readonly: true });
        expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
        db.close();
      }
      expect(keys.filter((k) => k === undefined)).toEqual([]);
      expect(new Set(keys).size).toBe(keys.length);
      const allowed = new Set([...out.returned, ...out.maybe]);
      expect(keys.filter((k) => !allowed.has(k!))).toEqual([]);
      // The failed get's take may have been written before its sync failed: at most its item (the first) is gone.
      const missing = (out.returned as string[]).filter((k) => !keys.includes(k));
      expect(missing.length <= 1 && (missing.length === 0 || missing[0] === out.returned[0]), `missing: ${missing.join(', ')}`).toBe(true);
      expect([0, 3]).toContain(keys.filter((k) => k!.startsWith('bad-many-')).length);
    });
  }
});
