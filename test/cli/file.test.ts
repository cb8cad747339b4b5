import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, lines, snapshot, tmp } from './helpers.js';

describe('persist-queue CLI on file-queue folders', () => {
  it('put, peek, info, export, get; reading commands leave every byte alone', () => {
    const q = join(tmp(), 'fq');
    let r = cli(['put', q, '{"a":1}', '"two"', '3']);
    expect(r.code, r.stderr).toBe(0);
    r = cli(['put', q], '[4]\n');
    expect(r.code, r.stderr).toBe(0);
    const before = snapshot(q);
    r = cli(['info', q, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ backend: 'file', format: 1, queues: [{ name: 'default', kind: 'fifo', size: 4 }] });
    // oldest: the birth time of the first segment file (a bound: no item was put before it), where the file system keeps one
    const born = statSync(join(q, readdirSync(q).find((n) => n.startsWith('seg-'))!)).birthtimeMs;
    expect(doc.queues[0].oldest).toBe(born > 0 ? Math.round(born) : null);
    expect(cli(['info', q]).stdout).toMatch(born > 0 ? /default\s+fifo\s+4\s+(just now|≤ \d+ s ago)\n/ : /default\s+fifo\s+4\s+-\n/);
    r = cli(['peek', q, '-n', '2', '--json']);
    expect(lines(r.stdout).map((x: any) => x.data)).toEqual([{ a: 1 }, 'two']);
    expect(lines(cli(['export', q]).stdout).map((x: any) => x.data)).toEqual([{ a: 1 }, 'two', 3, [4]]);
    r = cli(['verify', q]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ok: \d+ records in 1 segment/);
    expect(snapshot(q)).toBe(before);
    expect(lines(cli(['get', q, '-n', '3']).stdout)).toEqual([{ a: 1 }, 'two', 3]);
    expect(cli(['info', q, '--json']).stdout).toMatch(/"size":1/);
    expect(cli(['get', q]).code).toBe(0);
    expect(JSON.parse(cli(['info', q, '--json']).stdout).queues[0]).toMatchObject({ size: 0, oldest: null });
    expect(cli(['get', q, '--kind', 'ack']).code).toBe(2);
  });

  it('verify reports a bit flip and a truncation with their positions; exit 1', () => {
    const q = join(tmp(), 'fq');
    expect(cli(['put', q, ...Array.from({ length: 6 }, (_, i) => JSON.stringify({ i, pad: 'x'.repeat(40) }))]).code).toBe(0);
    for (let i = 0; i < 3; i++) expect(cli(['put', q, `"more${i}"`]).code).toBe(0);
    const seg = join(q, readdirSync(q).find((n) => n.startsWith('seg-'))!);
    const buf = readFileSync(seg);
    const at = buf.indexOf('"i":3');
    buf[at + 1] ^= 0x04;
    writeFileSync(seg, buf);
    let r = cli(['verify', q, '--json']);
    expect(r.code).toBe(1);
    const d = JSON.parse(r.stdout).damaged;
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({ problem: 'body checksum mismatch', type: 'put' });
    expect(d[0].offset).toBeLessThan(at);
    expect(at - d[0].offset).toBeLessThan(200);
    // peek and export read a private copy: their error names the user's segment file, not the copy's
    for (const cmd of ['peek', 'export']) {
      r = cli([cmd, q, '-n', '10'].slice(0, cmd === 'peek' ? 4 : 2));
      expect(r.code, cmd).toBe(1);
      expect(r.stderr, cmd).toContain(`corrupt item record in ${seg} at byte ${d[0].offset}`);
    }
    writeFileSync(seg, buf.subarray(0, buf.length - 3));
    r = cli(['verify', q]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/torn record/);
    expect(r.stdout).toMatch(/2 damaged record\(s\)/);
  });

  it('bad folders: random files are not a queue (2), random segment bytes are damage (1); nothing written', () => {
    const d = join(tmp(), 'junk');
    mkdirSync(d);
    writeFileSync(join(d, 'a.bin'), Buffer.from([1, 2, 3]));
    const before = snapshot(d);
    let r = cli(['info', d]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not a queue folder/);
    expect(cli(['put', d, '1']).code).toBe(2);
    writeFileSync(join(d, 'seg-0000000001.log'), Buffer.alloc(200, 7));
    const before2 = snapshot(d);
    r = cli(['info', d]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(cli(['verify', d]).code).toBe(1);
    expect(cli(['peek', d]).code).toBe(1);
    expect(snapshot(d)).toBe(before2);
    expect(before).not.toBe(before2);
  });
});
