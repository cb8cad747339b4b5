/**
 * The wake-up channel of a queue folder (docs/format.md, "Locking and fencing", hand-off): the file `wake`. A process
 * that gives the lock up writes one byte to it; processes waiting for the lock or for items watch it (inotify, through
 * `fs.watch`) and try again at once instead of at their next poll. It carries no data: a missed or spurious wake-up
 * costs one poll interval or one attempt, never correctness (the polls stay as a backstop, e.g. on file systems
 * without change notification).
 *
 * A Promise class watches on its own event loop. A sync class sleeps in `Atomics.wait`, which only another thread can
 * end early: one helper thread per thread that uses the library watches for it and bumps (and notifies) the waiting
 * thread's wake cell (lib/common/wait.ts). The helper is unref'ed and ends when nothing is watched any more.
 *
 * @module
 */
import { closeSync, constants as fsc, openSync, watch, writeSync, type FSWatcher } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { wakeBuffer } from '../common/wait.js';

const BYTE = Buffer.from([1]);
/** How long a sync waiter waits, once, for the helper thread to start watching. */
const HELPER_START_MS = 250;

const HELPER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { watch } = require('node:fs');
const cell = new Int32Array(workerData, 0, 1);
const ack = new Int32Array(workerData, 8, 1);
const watchers = new Map();
const wake = () => { Atomics.add(cell, 0, 1); Atomics.notify(cell, 0); };
parentPort.on('message', (m) => {
  if (m.watch !== undefined) {
    const w = watchers.get(m.watch);
    if (w) w.n++;
    else {
      try {
        const fsw = watch(m.watch, wake);
        fsw.on('error', () => undefined);
        watchers.set(m.watch, { n: 1, fsw });
      } catch {}
    }
    Atomics.add(ack, 0, 1);
    Atomics.notify(ack, 0);
  } else if (m.unwatch !== undefined) {
    const w = watchers.get(m.unwatch);
    if (w && --w.n === 0) { w.fsw.close(); watchers.delete(m.unwatch); }
  }
});
`;

/** The helper thread of this thread's sync waits, and how many watches it holds. */
let helper: { worker: Worker; watches: number } | undefined;
const ackCell = new Int32Array(wakeBuffer, 8, 1);

function helperWatch(path: string): void {
  if (!helper) {
    const worker = new Worker(HELPER_SOURCE, { eval: true, workerData: wakeBuffer, stdout: false, stderr: false });
    worker.unref();
    worker.on('error', () => undefined);
    helper = { worker, watches: 0 };
  }
  helper.watches++;
  const before = Atomics.load(ackCell, 0);
  helper.worker.postMessage({ watch: path });
  // Once the watch is set, no wake-up is missed; until then polls stand in. Waiting here blocks only a sync class,
  // which is about to sleep anyway.
  Atomics.wait(ackCell, 0, before, HELPER_START_MS);
}

function helperUnwatch(path: string): void {
  if (!helper) return;
  helper.worker.postMessage({ unwatch: path });
  if (--helper.watches === 0) {
    void helper.worker.terminate();
    helper = undefined;
  }
}

/** The `wake` file of one queue folder, as this thread uses it. */
export class WakeChannel {
  private fd = -1;
  private watcher: FSWatcher | undefined;
  private helperWatching = false;

  /** @param onWake - called on this thread's event loop when another process rings (Promise classes) */
  constructor(
    readonly path: string,
    private readonly onWake: () => void,
  ) {}

  /** Wakes every process that watches the folder (best effort: a failure only means they poll). */
  ring(): void {
    try {
      if (this.fd < 0) this.fd = openSync(this.path, fsc.O_WRONLY | fsc.O_CREAT, 0o644);
      writeSync(this.fd, BYTE, 0, 1, 0);
    } catch {
      // polls stand in
    }
  }

  /** Starts watching: on this thread's event loop (`sync` false) or from the helper thread (`sync` true). */
  watch(sync: boolean): void {
    if (sync ? this.helperWatching : this.watcher) return;
    if (!this.exists()) return;
    if (sync) {
      this.helperWatching = true;
      helperWatch(this.path);
      return;
    }
    try {
      this.watcher = watch(this.path, { persistent: false }, () => this.onWake());
      this.watcher.on('error', () => this.unwatchLoop());
    } catch {
      this.watcher = undefined;
    }
  }

  /** Stops watching and closes the file. */
  close(): void {
    this.unwatchLoop();
    if (this.helperWatching) {
      this.helperWatching = false;
      helperUnwatch(this.path);
    }
    if (this.fd >= 0) {
      try {
        closeSync(this.fd);
      } catch {
        // closed
      }
      this.fd = -1;
    }
  }

  private unwatchLoop(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  /** Creates the file if needed (it must exist to be watched). */
  private exists(): boolean {
    if (this.fd >= 0) return true;
    try {
      this.fd = openSync(this.path, fsc.O_WRONLY | fsc.O_CREAT, 0o644);
      return true;
    } catch {
      return false;
    }
  }
}
