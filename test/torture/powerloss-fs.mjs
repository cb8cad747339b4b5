// Power-loss layer of the torture suite (test/torture/powerloss.test.ts). Plain JavaScript: the child processes import
// it without a TypeScript loader.
//
// In a child, install() wraps the calls by which the file store changes its files (the mutable `io` object of
// dist/esm/file-queue/io.js): every wrapper calls the real fs on the real files and records, in an event log of this
// process, what a power loss could not take away. After the children were SIGKILLed (all at one moment: the "power
// loss"), rebuild() in the parent builds the folder as a machine would find it after rebooting.
//
// The model (the pessimistic side of ext4 data=ordered, as in the ALICE paper "All File Systems Are Not Created Equal",
// OSDI 2014, and POSIX):
// - A file (an inode, whatever names it has) has a *durable content*: its content when an fsync/fdatasync of it was
//   called, once that call returned without error. Nothing written after that call is durable, nor is a truncation.
//   The durable content of a file never fsynced is empty. Of several completed fsyncs, the one *called* last wins
//   (durable data never becomes undurable).
// - A directory has *durable entries*: its name -> inode mapping when an fsync of a descriptor opened on the directory
//   was called, once it returned. Creating, renaming and unlinking a name change only the live directory until then:
//   after a power loss, names created since vanish, unlinked names come back (with their file's durable content),
//   renames revert. An fsync of a file does not make its name durable.
// - After the power loss, a file holds its durable content, then (variants) possibly part of what was written after
//   it: a random prefix of the unsynced tail ('prefix'), of which a trailing part may read as zeros ('zeros': blocks
//   the file system allocated but never wrote) or random bytes ('garbage': stale blocks). Synced bytes are never
//   changed. 'drop' keeps exactly the durable content.
//
// How it is recorded (each line one write(2) to a per-process log opened O_APPEND, so a SIGKILL loses at most the
// line being written, i.e. the event of a call that had not returned):
//   {e:'create', ts, ino}         an open() created a file (new inode identity; ext4 reuses inode numbers)
//   {e:'fsync', ts, ino, snap}    an fsync/fdatasync of a file returned; `snap` names a copy of its content taken
//                                 before the call (content-addressed in <evDir>/snap/), `ts` is when the copy was made
//   {e:'dsync', ts, path, list, dirs}  an fsync of directory `path` (real path) returned; `list` = [[name, ino]...]
//                                 of its regular files and `dirs` its subfolders, listed before the call
//   {e:'base', ts, list}          (parent) the folder as it is at the start of a round, all of it durable
// `ts` is process.hrtime.bigint() (CLOCK_MONOTONIC: one clock for all processes), as a string. Events are ordered by
// `ts`. The asynchronous fdatasync (io.fdatasync(fd, cb)) copies the content when it is called and runs the real
// fdatasyncSync on a helper thread, which logs the event as soon as the system call returned, then calls back on the
// event loop: the event loop stays free as with the real call, and a synchronous caller that never yields (its
// callback cannot run) still gets its flush recorded when it happened.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';

const now = () => process.hrtime.bigint().toString();

function snapshotDir(evDir) {
  const d = join(evDir, 'snap');
  fs.mkdirSync(d, { recursive: true });
  return d;
}

/** Stores `buf` content-addressed (temp file + rename: a name exists only complete); returns its name. */
function storeSnap(snapDir, buf) {
  const h = createHash('sha1').update(buf).digest('hex');
  const p = join(snapDir, h);
  if (!fs.existsSync(p)) {
    const tmp = `${p}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    fs.writeFileSync(tmp, buf);
    fs.renameSync(tmp, p);
  }
  return h;
}

/** Regular files of `dir` with their inode numbers. */
function listFiles(dir) {
  const out = [];
  for (const name of fs.readdirSync(dir)) {
    try {
      const st = fs.lstatSync(join(dir, name));
      if (st.isFile()) out.push([name, st.ino]);
    } catch {
      // unlinked meanwhile
    }
  }
  return out;
}

/** Names of the subfolders of `dir`. */
function listDirs(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
}

const isCreating = (flags) =>
  typeof flags === 'number' ? (flags & fs.constants.O_CREAT) !== 0 : typeof flags === 'string' && /[wa]/.test(flags);

const WORKER_SRC = `
const { parentPort, workerData, receiveMessageOnPort } = require('node:worker_threads');
const fs = require('node:fs');
const logFd = fs.openSync(workerData.log, 'a');
parentPort.on('message', (first) => {
  // Every request queued meanwhile is served by the same fdatasync (its copy was taken before this call), as
  // concurrent flushes on the thread pool would be: one slow fdatasync must not make the queue of flushes lag behind.
  const batch = [first];
  for (let m; (m = receiveMessageOnPort(parentPort)); ) batch.push(m.message);
  // Slower storage than this machine's: a flush in flight for longer widens the window in which a caller that did
  // not wait for it (a bug) would be caught.
  if (workerData.delayMs > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.random() * workerData.delayMs);
  const errs = new Map();
  for (const fd of new Set(batch.map((m) => m.fd))) {
    try {
      fs.fdatasyncSync(fd);
    } catch (e) {
      errs.set(fd, { code: e.code, message: e.message });
    }
  }
  for (const m of batch) {
    const err = errs.get(m.fd) ?? null;
    if (!err) fs.writeSync(logFd, JSON.stringify({ e: 'fsync', ts: m.ts, ino: m.ino, snap: m.snap, async: true }) + '\\n');
    parentPort.postMessage({ id: m.id, err });
  }
});
`;

/**
 * Wraps the methods of `io` (the store's file-changing calls) with recording ones. Call before opening a queue.
 * `evDir`: folder for this process's event log and the shared snapshot store. `asyncDelayMs`: the asynchronous
 * fdatasync waits a random 0..asyncDelayMs ms first (slower storage).
 */
export function install(io, evDir, { asyncDelayMs = 0 } = {}) {
  fs.mkdirSync(evDir, { recursive: true });
  const snapDir = snapshotDir(evDir);
  const logPath = join(evDir, `ev-${process.pid}.jsonl`);
  const logFd = fs.openSync(logPath, 'a');
  const log = (ev) => fs.writeSync(logFd, JSON.stringify(ev) + '\n');
  const real = { ...io };
  /** fd -> path it was opened with (directories are fsynced through such a descriptor). */
  const paths = new Map();

  const snapOf = (fd) => {
    const ts = now();
    const buf = fs.readFileSync(`/proc/self/fd/${fd}`); // the same inode, even when write-only or unlinked
    const ino = fs.fstatSync(fd).ino;
    return { ts, ino, snap: storeSnap(snapDir, buf) };
  };

  const fsyncAny = (fd, call) => {
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) {
      const ts = now();
      const path = fs.realpathSync(paths.get(fd));
      const list = listFiles(path);
      const dirs = listDirs(path);
      call(fd);
      log({ e: 'dsync', ts, path, list, dirs });
      return;
    }
    const s = snapOf(fd);
    call(fd);
    log({ e: 'fsync', ...s });
  };

  io.openSync = (path, flags, mode) => {
    let created = false;
    if (isCreating(flags)) {
      try {
        fs.lstatSync(path);
      } catch (err) {
        created = err.code === 'ENOENT';
      }
    }
    const fd = real.openSync(path, flags, mode);
    paths.set(fd, String(path));
    if (created) log({ e: 'create', ts: now(), ino: fs.fstatSync(fd).ino });
    return fd;
  };
  io.closeSync = (fd) => {
    paths.delete(fd);
    return real.closeSync(fd);
  };
  io.fsyncSync = (fd) => fsyncAny(fd, real.fsyncSync);
  io.fdatasyncSync = (fd) => fsyncAny(fd, real.fdatasyncSync);

  let worker;
  let pending = 0;
  let nextId = 0;
  const callbacks = new Map();
  io.fdatasync = (fd, cb) => {
    let s;
    try {
      s = snapOf(fd);
    } catch (err) {
      process.nextTick(cb, err);
      return;
    }
    if (!worker) {
      worker = new Worker(WORKER_SRC, { eval: true, workerData: { log: logPath, delayMs: asyncDelayMs } });
      worker.on('message', (m) => {
        const f = callbacks.get(m.id);
        callbacks.delete(m.id);
        if (--pending === 0) worker.unref();
        f(m.err ? Object.assign(new Error(m.err.message), { code: m.err.code }) : null);
      });
      worker.unref();
    }
    const id = nextId++;
    callbacks.set(id, cb);
    if (pending++ === 0) worker.ref(); // like a real fs call, a pending flush keeps the process alive
    worker.postMessage({ id, fd, ...s });
  };
  return { logPath };
}

/** Parent: records the folder as it is now as entirely durable (the start of a round: everything on disk). */
export function recordBase(dir, evDir) {
  fs.mkdirSync(evDir, { recursive: true });
  const snapDir = snapshotDir(evDir);
  const ts = now();
  const list = [];
  if (fs.existsSync(dir)) for (const [name, ino] of listFiles(dir)) list.push([name, ino, storeSnap(snapDir, fs.readFileSync(join(dir, name)))]);
  fs.appendFileSync(join(evDir, 'ev-base.jsonl'), JSON.stringify({ e: 'base', ts, list }) + '\n');
}

/** All events of a round, in time order (a line cut short by a kill is ignored: its call had not returned). */
export function readEvents(evDir) {
  const evs = [];
  let torn = 0;
  for (const f of fs.readdirSync(evDir)) {
    if (!f.endsWith('.jsonl')) continue;
    const text = fs.readFileSync(join(evDir, f), 'utf8');
    const lines = text.split('\n');
    lines.forEach((line, i) => {
      if (line === '') return;
      try {
        const ev = JSON.parse(line);
        ev.src = f;
        ev.seq = i;
        evs.push(ev);
      } catch {
        torn++;
      }
    });
  }
  evs.sort((a, b) => {
    const d = BigInt(a.ts) - BigInt(b.ts);
    if (d !== 0n) return d < 0n ? -1 : 1;
    return a.src < b.src ? -1 : a.src > b.src ? 1 : a.seq - b.seq;
  });
  return { evs, torn };
}

/**
 * Parent, after every child was killed: the durable state of `dir` per the model.
 * Returns { entries: Map name -> { inc, durable: Buffer, live: Buffer | undefined }, stats }.
 */
export function durableState(dir, evDir, { folderIsNew = false } = {}) {
  const { evs, torn } = readEvents(evDir);
  const exists = fs.existsSync(dir);
  const parent = fs.realpathSync(dirname(dir));
  const real = exists ? fs.realpathSync(dir) : join(parent, basename(dir));
  // A folder created in this round keeps its own name only if its parent folder was fsynced after it was created.
  let folderDurable = !folderIsNew;
  let nextInc = 0;
  const incOf = new Map(); // ino -> incarnation
  const incFor = (ino) => {
    if (!incOf.has(ino)) incOf.set(ino, nextInc++);
    return incOf.get(ino);
  };
  const content = new Map(); // inc -> { ts, snap }
  let durDir = new Map(); // name -> inc
  const stats = { events: evs.length, tornLines: torn, fsyncs: 0, asyncFsyncs: 0, dsyncs: 0, creates: 0, folderVanished: false };
  const setContent = (inc, ts, snap) => {
    const cur = content.get(inc);
    if (!cur || BigInt(cur.ts) <= BigInt(ts)) content.set(inc, { ts, snap });
  };
  for (const ev of evs) {
    if (ev.e === 'base') {
      durDir = new Map();
      for (const [name, ino, snap] of ev.list) {
        incOf.set(ino, nextInc++);
        setContent(incOf.get(ino), ev.ts, snap);
        durDir.set(name, incOf.get(ino));
      }
    } else if (ev.e === 'create') {
      stats.creates++;
      incOf.set(ev.ino, nextInc++);
    } else if (ev.e === 'fsync') {
      stats.fsyncs++;
      if (ev.async) stats.asyncFsyncs++;
      setContent(incFor(ev.ino), ev.ts, ev.snap);
    } else if (ev.e === 'dsync' && ev.path === real) {
      stats.dsyncs++;
      durDir = new Map(ev.list.map(([name, ino]) => [name, incFor(ino)]));
    } else if (ev.e === 'dsync' && ev.path === parent && ev.dirs.includes(basename(real))) {
      folderDurable = true;
    }
  }
  if (!exists || !folderDurable) {
    stats.folderVanished = exists;
    return { entries: new Map(), stats };
  }
  const live = new Map(); // inc -> content at the crash (a file still linked)
  for (const [name, ino] of listFiles(dir)) if (incOf.has(ino)) live.set(incOf.get(ino), fs.readFileSync(join(dir, name)));
  const entries = new Map();
  for (const [name, inc] of durDir) {
    const c = content.get(inc);
    const durable = c ? fs.readFileSync(join(evDir, 'snap', c.snap)) : Buffer.alloc(0);
    entries.set(name, { inc, durable, live: live.get(inc) });
  }
  return { entries, stats };
}

/**
 * Parent: writes into `out` (a new folder) what `dir` would hold after the power loss, per `variant` ('drop',
 * 'prefix', 'zeros', 'garbage'; see the model above) and `lockDirs` ('keep': the lock/, tokens/ and want/ folders
 * as they are at the crash, 'drop': none). `rng` is a prng of common.mjs. `folderIsNew`: `dir` did not exist at the
 * start of the round (its name is then durable only after an fsync of its parent; else `out` stays empty). Returns a
 * summary.
 */
export function rebuild(dir, evDir, out, { variant, lockDirs, rng, folderIsNew = false }) {
  const { entries, stats } = durableState(dir, evDir, { folderIsNew });
  fs.mkdirSync(out, { recursive: true });
  const summary = { variant, lockDirs, files: 0, unsyncedBytesSeen: 0, keptUnsynced: 0, garbled: 0, ...stats };
  for (const [name, { durable, live }] of entries) {
    if (name === 'lock' || name === 'want') continue; // lock markers: kept or dropped below, per `lockDirs`
    let data = durable;
    if (variant !== 'drop' && live && live.length > durable.length && live.subarray(0, durable.length).equals(durable)) {
      const tail = Buffer.from(live.subarray(durable.length));
      summary.unsyncedBytesSeen += tail.length;
      const k = rng.int(0, tail.length);
      const kept = tail.subarray(0, k);
      if (variant !== 'prefix' && k > 0) {
        const from = rng.int(0, k - 1);
        for (let i = from; i < k; i++) kept[i] = variant === 'zeros' ? 0 : rng.int(0, 255);
        summary.garbled += k - from;
      }
      summary.keptUnsynced += k;
      data = Buffer.concat([durable, kept]);
    }
    fs.writeFileSync(join(out, name), data);
    summary.files++;
  }
  if (lockDirs === 'keep' && !stats.folderVanished && fs.existsSync(dir)) {
    for (const d of ['lock', 'tokens', 'want']) {
      const p = join(dir, d);
      if (fs.existsSync(p)) fs.cpSync(p, join(out, d), { recursive: true });
    }
  }
  return summary;
}
