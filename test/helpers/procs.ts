/** Child-process helpers for the multi-process and crash tests. */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const WORKER = fileURLToPath(new URL('../workers/queue-worker.mjs', import.meta.url));

export interface Worker {
  child: ChildProcess;
  /** Resolves with the first message (from now or already received) that `pred` accepts. */
  next<M = Record<string, unknown>>(pred?: (m: M) => boolean): Promise<M>;
  /** Every message received so far. */
  messages: Record<string, unknown>[];
  /** Resolves with the exit code (or signal) once the child is gone. */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
}

/** Forks the queue worker with an IPC channel. */
export function startWorker(job: Record<string, unknown>, script = WORKER): Worker {
  const child = fork(script, [JSON.stringify(job)], { stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
  return wrap(child);
}

/** Spawns the queue worker without IPC (so that nothing but the queue can keep it alive). */
export function spawnWorker(job: Record<string, unknown>, script = WORKER): Worker {
  const child = spawn(process.execPath, [script, JSON.stringify(job)], { stdio: ['ignore', 'inherit', 'pipe'] });
  return wrap(child);
}

function wrap(child: ChildProcess): Worker {
  const messages: Record<string, unknown>[] = [];
  const waiters: { pred: (m: never) => boolean; resolve: (m: never) => void }[] = [];
  let err = '';
  child.stderr?.on('data', (d) => (err += String(d)));
  child.on('message', (m: Record<string, unknown>) => {
    messages.push(m);
    for (const w of [...waiters]) {
      if (w.pred(m as never)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m as never);
      }
    }
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    messages,
    exit,
    stderr: () => err,
    next<M>(pred: (m: M) => boolean = () => true): Promise<M> {
      const seen = messages.find((m) => pred(m as M));
      if (seen) return Promise.resolve(seen as M);
      return new Promise<M>((resolve, reject) => {
        waiters.push({ pred: pred as (m: never) => boolean, resolve: resolve as (m: never) => void });
        void exit.then(({ code, signal }) => reject(new Error(`worker exited (${code ?? signal}) before the message came: ${err}`)));
      });
    },
  };
}

/** SIGKILLs a worker and waits until it is gone (and reaped). */
export async function kill9(w: Worker): Promise<void> {
  w.child.kill('SIGKILL');
  await w.exit;
}
