/** The package as users load it: ESM and CommonJS entry points, declarations, and `./file` without the SQLite addon. */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const run = (code: string, type: 'module' | 'commonjs'): string =>
  execFileSync(process.execPath, [type === 'module' ? '--input-type=module' : '--input-type=commonjs', '-e', code], { cwd: root, encoding: 'utf8' });

describe('package entry points', () => {
  it('exports ., ./file, ./sqlite and ./tasks with types first, for import and require', () => {
    for (const entry of ['.', './file', './sqlite', './tasks']) {
      const target = pkg.exports[entry];
      for (const cond of ['import', 'require']) {
        expect(Object.keys(target[cond])[0]).toBe('types');
        expect(existsSync(new URL(`../${target[cond].types}`, import.meta.url)), target[cond].types).toBe(true);
        expect(existsSync(new URL(`../${target[cond].default}`, import.meta.url)), target[cond].default).toBe(true);
      }
    }
  });

  it('loads the same classes through import and require', () => {
    const names = (type: 'module' | 'commonjs', spec: string): string[] =>
      JSON.parse(
        run(
          type === 'module'
            ? `const m = await import('${spec}'); console.log(JSON.stringify(Object.keys(m).sort()))`
            : `console.log(JSON.stringify(Object.keys(require('${spec}')).sort()))`,
          type,
        ),
      );
    for (const spec of ['persist-queue', 'persist-queue/sqlite', 'persist-queue/file', 'persist-queue/tasks']) {
      const esm = names('module', spec);
      expect(esm).toEqual(names('commonjs', spec));
      expect(esm).toContain('QueueError');
    }
    expect(names('module', 'persist-queue')).toEqual(expect.arrayContaining(['SqliteQueue', 'SqliteQueueSync', 'SqliteAckQueue', 'SqliteAckQueueSync', 'TaskQueue', 'TaskQueueSync', 'Worker']));
  });

  it('exports ./postgres with types first, for import and require', () => {
    const target = pkg.exports['./postgres'];
    for (const cond of ['import', 'require']) {
      expect(Object.keys(target[cond])[0]).toBe('types');
      expect(existsSync(new URL(`../${target[cond].default}`, import.meta.url)), target[cond].default).toBe(true);
    }
    const names = (type: 'module' | 'commonjs'): string[] =>
      JSON.parse(
        run(
          type === 'module'
            ? `const m = await import('persist-queue/postgres'); console.log(JSON.stringify(Object.keys(m).sort()))`
            : `console.log(JSON.stringify(Object.keys(require('persist-queue/postgres')).sort()))`,
          type,
        ),
      ) as string[];
    expect(names('module')).toEqual(names('commonjs'));
    expect(names('module')).toEqual(expect.arrayContaining(['PostgresQueue', 'PostgresAckQueue', 'QueueError']));
    expect(pkg.peerDependencies.pg).toBeTypeOf('string');
    expect(pkg.peerDependenciesMeta.pg.optional).toBe(true);
  });

  it('persist-queue, persist-queue/sqlite and persist-queue/file do not load pg; persist-queue/postgres loads it only on open', () => {
    for (const spec of ['persist-queue', 'persist-queue/sqlite', 'persist-queue/file', 'persist-queue/postgres']) {
      const loaded = run(`require('${spec}'); console.log(Object.keys(require.cache).some((k) => /node_modules[\\/]pg[\\/]/.test(k)))`, 'commonjs').trim();
      expect(loaded, spec).toBe('false');
    }
  });

  it('persist-queue/postgres without pg installed: open() throws ERR_QUEUE_CLIENT_MISSING naming pg', () => {
    // a copy of the package whose node_modules has everything but pg
    const tmp = mkdtempSync(join(tmpdir(), 'pq-nopg-'));
    try {
      const app = join(tmp, 'node_modules', 'persist-queue');
      mkdirSync(app, { recursive: true });
      cpSync(join(root, 'dist'), join(app, 'dist'), { recursive: true });
      cpSync(join(root, 'package.json'), join(app, 'package.json'));
      for (const dep of readdirSync(join(root, 'node_modules'))) {
        if (dep !== 'pg' && !dep.startsWith('.')) symlinkSync(join(root, 'node_modules', dep), join(tmp, 'node_modules', dep));
      }
      const code =
        "const { PostgresQueue } = require('persist-queue/postgres');" +
        "PostgresQueue.open('postgres://127.0.0.1:1/none').then(() => console.log('opened'), (e) => console.log(JSON.stringify([e.name, e.code, e.message])));";
      const out = execFileSync(process.execPath, ['-e', code], { cwd: tmp, encoding: 'utf8' });
      const [name, code2, message] = JSON.parse(out) as string[];
      expect([name, code2]).toEqual(['PostgresClientMissingError', 'ERR_QUEUE_CLIENT_MISSING']);
      expect(message).toMatch(/'pg'/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('persist-queue/file does not load the native SQLite addon', () => {
    const loaded = run(
      "require('persist-queue/file'); console.log(Object.keys(require.cache).some((k) => k.includes('better-sqlite3')))",
      'commonjs',
    ).trim();
    expect(loaded).toBe('false');
  });
});
