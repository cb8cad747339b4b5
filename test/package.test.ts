/** The package as users load it: ESM and CommonJS entry points, declarations, and `./file` without the SQLite addon. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
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

  it('persist-queue/file does not load the native SQLite addon', () => {
    const loaded = run(
      "require('persist-queue/file'); console.log(Object.keys(require.cache).some((k) => k.includes('better-sqlite3')))",
      'commonjs',
    ).trim();
    expect(loaded).toBe('false');
  });
});
