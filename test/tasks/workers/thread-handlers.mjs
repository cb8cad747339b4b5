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
