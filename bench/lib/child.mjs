// Fork a bench worker, wait for its single result message, kill it after a timeout.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export function workerPath(name) {
  return fileURLToPath(new URL(`../workers/${name}`, import.meta.url));
}

export function runWorker(name, arg, { timeoutMs = 300000, execArgv = [] } = {}) {
  return new Promise((resolve) => {
    const child = fork(workerPath(name), [JSON.stringify(arg)], {
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      execArgv: ['--no-warnings', ...execArgv],
    });
    let result = null;
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
      if (stderr.length > 20000) stderr = stderr.slice(-10000);
    });
    child.on('message', (m) => {
      result ??= m;
    });
    const timer = setTimeout(() => {
      result ??= { ok: false, error: `timed out after ${Math.round(timeoutMs / 1000)} s` };
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (!result) {
        const tail = stderr.trim().split('\n').slice(-3).join(' | ');
        result = { ok: false, error: `worker exited (${signal ?? code}) without a result${tail ? `: ${tail}` : ''}` };
      }
      resolve(result);
    });
  });
}
