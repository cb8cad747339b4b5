// A private redis-server for the BullMQ rows: started by the bench on a free port of 127.0.0.1 with a temp dir, its
// persistence stated here (REDIS_ARGS), stopped at the end (and on exit). Debian's `redis-server` package; when it is
// missing or does not start, BullMQ is skipped with the reason.
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { freshDir } from '../lib/tmp.mjs';

/**
 * Persistence of the bench's Redis: append-only file with an fsync once a second (Redis' own "everysec", the usual
 * production setting; comparable to SQLite WAL + synchronous=NORMAL: nothing lost when a process dies, up to ~1 s
 * of writes lost on power loss), no RDB snapshots.
 */
export const REDIS_ARGS = ['--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec'];
export const REDIS_NOTE = 'redis-server --appendonly yes --appendfsync everysec --save "" (AOF fsynced once a second, no RDB snapshots), on 127.0.0.1, data dir in the bench temp dir';

export function redisVersion() {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  return /v=([\d.]+)/.exec(r.stdout)?.[1] ?? r.stdout.trim();
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Starts redis-server; resolves { port, version, stop() } or { error }. */
export async function startRedis(root) {
  const version = redisVersion();
  if (!version) return { error: 'redis-server is not installed (Debian: apt-get install redis-server)' };
  const dir = freshDir(root, 'redis');
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--daemonize', 'no', '--protected-mode', 'yes', ...REDIS_ARGS];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise((r) => child.on('exit', r));
  const ready = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), 10000);
    const on = (d) => {
      out += d;
      if (/Ready to accept connections/.test(out)) {
        clearTimeout(timer);
        resolve(true);
      }
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    child.on('error', (e) => {
      out += String(e.message);
      clearTimeout(timer);
      resolve(false);
    });
    child.on('exit', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.on('exit', kill);
  if (!ready) {
    kill();
    return { error: `redis-server did not start: ${out.trim().split('\n').slice(-2).join(' | ').slice(0, 200)}` };
  }
  child.stdout.resume();
  child.stderr.resume();
  return {
    port,
    version,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(kill, 5000);
        await exited;
        clearTimeout(t);
      }
      process.off('exit', kill);
    },
  };
}
