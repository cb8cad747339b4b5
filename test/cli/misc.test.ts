import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packedConsumer } from '../helpers/consumer.js';
import { cli, lines, PY, snapshot, tmp } from './helpers.js';

const I = [2, 3, 4, 5, 6].map((i) => ({ i, payload: 'xxxxx', u: 'é' }));

describe('persist-queue CLI: import-python, demo', () => {
  it('import-python moves the 5 items left in the Python file queue into a SQLite and a file queue, in order', () => {
    const src = join(tmp(), 'py');
    cpSync(join(PY, 'fileq-json'), src, { recursive: true });
    const before = snapshot(src);
    const db = join(tmp(), 'q.db');
    let r = cli(['import-python', db, src]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/imported 5 item/);
    expect(lines(cli(['get', db, '-n', '10']).stdout)).toEqual(I);
    const fq = join(tmp(), 'fq');
    expect(cli(['import-python', fq, src, '--json']).stdout).toBe('{"imported":5}\n');
    expect(lines(cli(['export', fq]).stdout).map((x: any) => x.data)).toEqual(I);
    expect(snapshot(src)).toBe(before);
    writeFileSync(join(src, 'q00001'), 'garbage\n');
    const db2 = join(tmp(), 'q2.db');
    r = cli(['import-python', db2, src]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/q00001: item 2 is not a JSON line/);
    expect(cli(['info', db2]).code).toBe(2); // nothing was created
    expect(cli(['import-python', db2, tmp()]).code).toBe(2);
  });

  it('npx persist-queue demo runs from the npm-packed package installed in a temp project, on both backends, exactly once', () => {
    // as a user gets it: `npm pack` of the built package in node_modules (test/helpers/consumer.ts), the bin linked
    // into node_modules/.bin as npm install does; `npx --no` never asks the registry
    const c = packedConsumer('pq-cli-demo-');
    try {
      const bin = join(c.dir, 'node_modules', '.bin');
      mkdirSync(bin, { recursive: true });
      symlinkSync('../persist-queue/bin/persist-queue.cjs', join(bin, 'persist-queue'));
      chmodSync(join(c.dir, 'node_modules', 'persist-queue', 'bin', 'persist-queue.cjs'), 0o755);
      const npx = (args: string[]) => spawnSync('npx', ['--no', 'persist-queue', ...args], { cwd: c.dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });
      for (const backend of ['sqlite', 'file']) {
        const r = npx(['demo', '--items', '400', '--backend', backend, '--json']);
        expect(r.status, r.stderr).toBe(0);
        expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, items: 400, backend, missing: 0, duplicated: 0, unknown: 0 });
      }
      const r = npx(['demo', '--items', '200']);
      expect(r.stdout).toMatch(/OK: every item arrived exactly once/);
    } finally {
      c.cleanup();
    }
    expect(cli(['demo', '--backend', 'redis']).code).toBe(2);
  }, 90_000);
});
