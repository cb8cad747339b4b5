/**
 * Helpers of the torture suite: the run seed, child processes with hard time limits, queue families (classes that
 * share one queue: same backend, plain or ack) taken from ALL_CLASSES, and a bounded drain.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import * as lib from '../../dist/esm/index.js';
import { ALL_CLASSES, type AnyQueue, type QueueClass } from '../helpers/classes.js';
// @ts-expect-error plain JavaScript module shared with the child processes
import * as common from './common.mjs';

export const { prng, runSeed, subSeed, makePayload, checkPayload, readLines, isTypedError, errInfo, analyzeRun, sleep } = common as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export const WORKER = fileURLToPath(new URL('./workers/worker.mjs', import.meta.url));
export const workerPath = (name: string): string => fileURLToPath(new URL(`./workers/${name}`, import.meta.url));

/** The run's seed, printed once per test file so a failure can be replayed with TORTURE_SEED. */
export function seedFor(file: string): number {
  const seed = runSeed() as number;
  console.log(`[torture] ${file}: TORTURE_SEED=${seed}`);
  return seed;
}

/** Appends a JSON line to $TORTURE_SUMMARY (the soak runner reads it). */
export function report(entry: Record<string, unknown>): void {
  console.log(`[torture] ${JSON.stringify(entry)}`);
  if (process.env.TORTURE_SUMMARY) appendFileSync(process.env.TORTURE_SUMMARY, JSON.stringify(entry) + '\n');
}

/** Classes that can share one queue: same backend, both plain or both ack. */
export interface Family {
  name: string;
  backend: QueueClass['backend'];
  ack: boolean;
  classes: QueueClass[];
}

export function families(): Family[] {
  const out: Family[] = [];
  for (const c of ALL_CLASSES) {
    let f = out.find((x) => x.backend === c.backend && x.ack === c.ack);
    if (!f) out.push((f = { name: `${c.backend} ${c.ack ? 'ack' : 'plain'}`, backend: c.backend, ack: c.ack, classes: [] }));
    f.classes.push(c);
  }
  return out;
}

export interface Child {
  child: ChildProcess;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; timedOut: boolean }>;
  stdout(): string;
  stderr(): string;
  killed: boolean;
}

/** Children still running; killed after the test file (and at exit), so a failed test leaves none behind. */
const running = new Set<ChildProcess>();
const killRunning = (): void => {
  for (const c of running) c.kill('SIGKILL');
};
afterAll(killRunning); // registered on the root suite of every test file that imports this module
process.on('exit', killRunning);

/**
 * Spawns `node script JSON(job)` (or any argv with `argv`), killing it with SIGKILL after `timeoutMs` (reported as
 * timedOut) so that no step of the suite can hang.
 */
export function spawnChild(
  job: Record<string, unknown> | null,
  opts: { script?: string; timeoutMs?: number; argv?: string[]; command?: string; cwd?: string } = {},
): Child {
  const command = opts.command ?? process.execPath;
  const argv = opts.argv ?? [opts.script ?? WORKER, JSON.stringify(job)];
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd });
  running.add(child);
  child.on('exit', () => running.delete(child));
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += String(d)));
  child.stderr!.on('data', (d) => (err += String(d)));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, opts.timeoutMs ?? 30_000);
  const c: Child = {
    child,
    killed: false,
    stdout: () => out,
    stderr: () => err,
    exit: new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, timedOut });
      }),
    ),
  };
  return c;
}

/** SIGKILLs a child (if still running) and waits for it to be gone. */
export async function kill9(c: Child): Promise<void> {
  if (c.child.exitCode === null && c.child.signalCode === null) {
    c.killed = true;
    c.child.kill('SIGKILL');
  }
  await c.exit;
}

/** Resolves when `pred(stdout)` holds, or rejects when the child exits first or `ms` pass. */
export async function waitForOutput(c: Child, pred: (out: string) => boolean, ms = 15_000): Promise<void> {
  const t0 = performance.now();
  while (!pred(c.stdout())) {
    if (c.child.exitCode !== null || c.child.signalCode !== null) throw new Error(`child exited before expected output: ${c.stdout()} ${c.stderr()}`);
    if (performance.now() - t0 > ms) throw new Error(`timed out waiting for child output: ${c.stdout()} ${c.stderr()}`);
    await sleep(5);
  }
}

/**
 * Takes every item out of a queue (acking ack messages), at most `limit`, and returns the raw values. Stops at an
 * empty queue.
 */
export async function drain(cls: QueueClass, q: AnyQueue, limit = 1_000_000): Promise<unknown[]> {
  const out: unknown[] = [];
  while (out.length < limit) {
    let got: unknown[];
    try {
      got = await q.getMany(100, { block: false });
    } catch (err) {
      if (err instanceof lib.QueueEmptyError) break;
      throw err;
    }
    for (const g of got) {
      if (cls.ack) await q.ack(g);
      else await q.taskDone();
      out.push(cls.ack ? (g as { data: unknown }).data : g);
    }
  }
  // A server queue gives back the rows of a killed holder (taken without autoCommit, or unacked) only when its lease
  // runs out, up to deadAfterMs after the kill (no process-liveness check across hosts): drain until join() says no
  // live or unexpired holder has anything left.
  if (cls.backend === 'postgres') {
    const end = Date.now() + cls.deadAfterMs + 5000;
    while (out.length < limit && Date.now() < end && !(await q.join({ timeout: 0 }))) {
      let got: unknown[] = [];
      try {
        got = await q.getMany(100, { timeout: 500 });
      } catch (err) {
        if (!(err instanceof lib.QueueEmptyError)) throw err;
      }
      for (const g of got) {
        if (cls.ack) await q.ack(g);
        else await q.taskDone();
        out.push(cls.ack ? (g as { data: unknown }).data : g);
      }
    }
  }
  return out;
}

export { lib };
