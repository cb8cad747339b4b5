import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/persist-queue.cjs');
export const PY = '/work/shared/interop/persist-queue-py';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built command as a user would: a child process of node on the bin script. */
export function cli(args: string[], input?: string, env: NodeJS.ProcessEnv = {}): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    input: input ?? '',
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...env },
    timeout: 30000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'pq-cli-test-'));
}

export const lines = (s: string): unknown[] => s.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));

/**
 * A hash of every file (name, bytes) under `path`; for a SQLite file: the database and a non-empty -wal (a
 * read-only connection to a WAL database leaves an empty -wal and the -shm index behind when none existed: SQLite
 * needs them to read, and they hold no data; see docs/cli.md).
 */
export function snapshot(path: string): string {
  const h = createHash('sha256');
  const add = (p: string) => {
    const s = statSync(p, { throwIfNoEntry: false });
    if (s === undefined) return;
    if (s.isDirectory()) for (const n of readdirSync(p).sort()) add(join(p, n));
    else h.update(p).update(readFileSync(p));
  };
  if (statSync(path).isDirectory()) add(path);
  else {
    add(path);
    if ((statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0) > 0) add(`${path}-wal`);
  }
  return h.digest('hex');
}

const LIVE = fileURLToPath(new URL('./workers/live.mjs', import.meta.url));
/** Live children started by {@link live}; tests kill them (SIGKILL) in afterEach. */
export const children: ChildProcess[] = [];

/** Starts a live producer/consumer child (workers/live.mjs) and resolves when it has done its first batch. */
export function live(backend: 'sqlite' | 'file', path: string, role: 'produce' | 'consume'): Promise<ChildProcess> {
  const c = spawn(process.execPath, [LIVE, backend, path, role], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(c);
  return new Promise((resolve, reject) => {
    c.stdout!.once('data', () => resolve(c));
    c.once('exit', (code) => reject(new Error(`live ${role} exited with ${code}`)));
  });
}
