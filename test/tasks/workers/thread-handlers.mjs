// Handlers run by the Worker's piscina thread pool (option `threads`): one export per task name, called with the data.
import { threadId } from 'node:worker_threads';

export function fib(n) {
  const f = (k) => (k < 2 ? k : f(k - 1) + f(k - 2));
  return { value: f(n), threadId };
}

export function spin(ms) {
  const end = Date.now() + ms;
  while (Date.now() < end);
  return 'spun';
}

export function fails() {
  throw new Error('thread says no');
}

// ctx crosses the thread boundary: id, task, attempt, progress() and an abort signal.
export function whoAmI(data, ctx) {
  return { id: ctx.id, task: ctx.task, attempt: ctx.attempt, threadId, aborted: ctx.signal.aborted };
}

export async function untilAborted(data, ctx) {
  await ctx.progress('waiting');
  await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
  await ctx.progress(`aborted ${ctx.signal.reason.name} ${ctx.signal.reason.code}`);
  throw ctx.signal.reason;
}
