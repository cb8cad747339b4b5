import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
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

  it('demo runs producers and consumers from the built package on both backends, exactly once', () => {
    for (const backend of ['sqlite', 'file']) {
      const r = cli(['demo', '--items', '400', '--backend', backend, '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, items: 400, backend, missing: 0, duplicated: 0, unknown: 0 });
    }
    const r = cli(['demo', '--items', '200']);
    expect(r.stdout).toMatch(/OK: every item arrived exactly once/);
    expect(cli(['demo', '--backend', 'redis']).code).toBe(2);
  });
});
