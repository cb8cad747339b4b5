// Installs the peer libraries into bench/peers/node_modules (never into the library's
// own dependencies). `npm ci` when a lockfile is there, else `npm install`. Install
// scripts are allowed per package by "allowScripts" in bench/peers/package.json (npm 11
// blocks the others); the native addons (better-sqlite3, sqlite3, fs-ext) build from
// source here, which takes a few minutes the first time.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PEERS_DIR } from '../adapters/peers-common.mjs';

/** Peers only the tasks part uses: a queue-only run (`--only` without tasks) does not need them. */
const TASKS_ONLY = ['bullmq', 'ioredis'];

/** Installs the peers of the package in `dir` (default bench/peers; bench/postgres/peers for the PostgreSQL part). */
export function ensurePeers({ install, log, dir = PEERS_DIR, tasks = true }) {
  const PEERS = dir;
  const nm = path.join(PEERS, 'node_modules');
  const deps = Object.keys(JSON.parse(fs.readFileSync(path.join(PEERS, 'package.json'), 'utf8')).dependencies ?? {})
    .filter((d) => tasks || !TASKS_ONLY.includes(d));
  const missing = deps.filter((d) => !fs.existsSync(path.join(nm, d, 'package.json')));
  if (fs.existsSync(nm) && missing.length === 0) return { ok: true, note: 'already installed' };
  if (fs.existsSync(nm)) log(`peers missing from ${path.relative(process.cwd(), nm)}: ${missing.join(', ')}`);
  if (!install) return { ok: false, note: `${path.relative(process.cwd(), nm)} missing and --no-install given` };
  const hasLock = fs.existsSync(path.join(PEERS, 'package-lock.json'));
  const args = [hasLock ? 'ci' : 'install', '--prefix', PEERS, '--no-audit', '--no-fund'];
  log(`installing peers: npm ${args.join(' ')} (native addons build from source; a few minutes)`);
  const t0 = Date.now();
  const r = spawnSync('npm', args, { cwd: PEERS, encoding: 'utf8', timeout: 20 * 60 * 1000 });
  const secs = Math.round((Date.now() - t0) / 1000);
  if (r.status !== 0) {
    const tail = `${r.stderr || ''}${r.stdout || ''}`.trim().split('\n').filter((l) => !/Unknown user config/.test(l)).slice(-4).join(' | ');
    return { ok: false, note: `npm ${args[0]} failed after ${secs} s: ${tail || r.error?.message || `exit ${r.status}`}` };
  }
  return { ok: true, note: `installed with npm ${args[0]} in ${secs} s` };
}
