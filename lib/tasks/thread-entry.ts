/**
 * What each thread of a {@link Worker}'s pool (option `threads`, a piscina pool) runs: it imports the user's module
 * (ESM or CommonJS, once per thread), and calls the export named after the job's task as `(data, ctx)`.
 *
 * `ctx` is what can cross a thread boundary: `{ id, task, attempt, signal, progress }`. `signal` is an AbortSignal of
 * this thread, aborted when the main thread sends an abort over the job's MessagePort (cancel, `stop()`, timeout, lost
 * claim) with a reason rebuilt from its `{ name, message, code }`; a handler that ignores it is terminated with its
 * thread after a grace period (see lib/tasks/attempt.ts). `progress(value)` posts the value (structured clone) to the
 * main thread, which stores it like `ctx.progress` of a handler on the event loop; it resolves once stored.
 *
 * @module
 * @internal
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { MessagePort } from 'node:worker_threads';

/** What the main thread sends per job. */
export interface ThreadJob {
  module: string;
  name: string;
  data: unknown;
  id: number;
  task: string;
  attempt: number;
  port: MessagePort;
}

/** An abort reason as it crosses the thread boundary. */
export interface ThreadAbort {
  name: string;
  message: string;
  code?: string;
}

/**
 * How a job's end crosses back: its value, or what it threw. An Error is sent as its fields (a structured clone of an
 * Error keeps neither a custom `name` nor `code`); anything else thrown is sent as is.
 */
export type ThreadOutcome = { value: unknown } | { error: { name: string; message: string; stack?: string; code?: string } } | { thrown: unknown };

/** Messages from the thread to the main thread. */
export type FromThread = { progress: number; value: unknown };
/** Messages from the main thread to the thread. */
export type ToThread = { abort: ThreadAbort } | { ack: number; error?: string };

// `import()` kept as is: tsc's CommonJS output would turn a plain `import()` into `require()`, which cannot load ESM
// (piscina does the same).
const importModule = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<Record<string, unknown>>;
const modules = new Map<string, Promise<Record<string, unknown>>>();

function load(module: string): Promise<Record<string, unknown>> {
  let m = modules.get(module);
  if (!m) {
    m = importModule(/^file:/.test(module) ? module : pathToFileURL(resolve(module)).href);
    modules.set(module, m);
  }
  return m;
}

function reason(a: ThreadAbort): Error {
  const e = new Error(a.message) as Error & { code?: string };
  e.name = a.name;
  if (a.code !== undefined) e.code = a.code;
  return e;
}

/** Runs one job in this thread. */
export async function runTask(job: ThreadJob): Promise<ThreadOutcome> {
  try {
    return { value: await runHandler(job) };
  } catch (err) {
    if (!(err instanceof Error)) return { thrown: err };
    const code = (err as { code?: unknown }).code;
    return {
      error: {
        name: err.name,
        message: err.message,
        ...(err.stack === undefined ? {} : { stack: err.stack }),
        ...(typeof code === 'string' || typeof code === 'number' ? { code: String(code) } : {}),
      },
    };
  }
}

async function runHandler(job: ThreadJob): Promise<unknown> {
  const { port } = job;
  try {
    const mod = await load(job.module);
    const dflt = mod.default as Record<string, unknown> | undefined;
    const fn = mod[job.name] ?? (dflt !== null && typeof dflt === 'object' ? dflt[job.name] : undefined);
    if (typeof fn !== 'function') throw new TypeError(`threads.module ${job.module} exports no function "${job.name}"`);
    const ac = new AbortController();
    const acks = new Map<number, { ok: () => void; no: (e: Error) => void }>();
    let seq = 0;
    port.on('message', (m: ToThread) => {
      if ('abort' in m) {
        if (!ac.signal.aborted) ac.abort(reason(m.abort));
        return;
      }
      const w = acks.get(m.ack);
      acks.delete(m.ack);
      if (w && m.error !== undefined) w.no(new Error(m.error));
      else w?.ok();
    });
    const ctx = {
      id: job.id,
      task: job.task,
      attempt: job.attempt,
      signal: ac.signal,
      progress: (value: unknown): Promise<void> =>
        new Promise<void>((ok, no) => {
          const s = seq++;
          acks.set(s, { ok, no });
          try {
            port.postMessage({ progress: s, value } satisfies FromThread);
          } catch (err) {
            acks.delete(s);
            no(err as Error);
          }
        }),
    };
    return await (fn as (data: unknown, ctx: unknown) => unknown)(job.data, ctx);
  } finally {
    port.close();
  }
}
