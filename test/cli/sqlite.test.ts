import { copyFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { cli, lines, PY, snapshot, tmp } from './helpers.js';

describe('persist-queue CLI on SQLite', () => {
  it('put (arguments and stdin), peek, info, get, export; reading commands leave the bytes alone', () => {
    const db = join(tmp(), 'q.db');
    let r = cli(['put', db, '{"a":1}', '"two"']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/put 2 item\(s\): ids 1 2/);
    r = cli(['put', db, '--json'], '3\n[4]\n');
    expect(JSON.parse(r.stdout)).toEqual({ ids: [3, 4] });
    const before = snapshot(db);
    r = cli(['peek', db, '-n', '3', '--json']);
    expect(lines(r.stdout).map((x: any) => x.data)).toEqual([{ a: 1 }, 'two', 3]);
    r = cli(['peek', db]);
    expect(r.stdout).toMatch(/^#\s+id\s+age\s+data/);
    r = cli(['info', db, '--json']);
    const info = JSON.parse(r.stdout);
    expect(info.backend).toBe('sqlite');
    expect(info.queues).toEqual([expect.objectContaining({ name: 'default', kind: 'fifo', size: 4 })]);
    expect(typeof info.queues[0].oldest).toBe('number');
    r = cli(['info', db]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/default\s+fifo\s+4\s+waiting 4/);
    expect(r.stdout).toMatch(/just now|s ago/);
    r = cli(['export', db]);
    expect(lines(r.stdout).map((x: any) => x.data)).toEqual([{ a: 1 }, 'two', 3, [4]]);
    expect(cli(['verify', db]).code).toBe(0);
    expect(snapshot(db)).toBe(before);
    r = cli(['get', db, '-n', '2']);
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual([{ a: 1 }, 'two']);
    r = cli(['get', db, '-n', '5']);
    expect(lines(r.stdout)).toEqual([3, [4]]);
    r = cli(['get', db]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('persist-queue: the queue is empty');
  });

  it('reads the Python fixtures: every table with its counts, order per kind, --kind needed when names clash', () => {
    const dir = tmp();
    const db = join(dir, 'data.db');
    copyFileSync(join(PY, 'sqlite-json/data.db'), db);
    const before = snapshot(db);
    let r = cli(['info', db, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const q = Object.fromEntries(JSON.parse(r.stdout).queues.map((x: any) => [x.table, x]));
    expect(Object.keys(q).sort()).toEqual(
      ['ack_filo_queue_default', 'ack_queue_default', 'ack_unique_queue_default', 'filo_queue_default', 'priority_queue_default', 'queue_default', 'queue_nocommit', 'unique_queue_default'].sort(),
    );
    expect(q.queue_default.size).toBe(8);
    expect(q.queue_nocommit.size).toBe(3);
    expect(q.ack_queue_default.counts).toEqual({ ready: 3, unack: 1, acked: 1, failed: 1 });
    r = cli(['peek', db, '--kind', 'priority', '--json']);
    expect(lines(r.stdout).map((x: any) => x.data)).toEqual(['high', 'mid', 'low']);
    r = cli(['peek', db, '--kind', 'filo', '--json']);
    expect(lines(r.stdout).map((x: any) => x.data)).toEqual([{ filo: 2 }, { filo: 1 }]);
    r = cli(['peek', db, '--kind', 'ack', '--json']);
    expect(lines(r.stdout).map((x: any) => [x.data, x.status])).toEqual([['a2', 'unack'], ['a4', 'ready'], ['a5', 'ready'], ['a6', 'ready']]);
    r = cli(['peek', db]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/several queues are named "default".*--kind/);
    expect(cli(['verify', db]).code).toBe(0);
    expect(snapshot(db)).toBe(before);
    // a2 was taken by a Python process that is gone: the library gives it back, so it comes first, then is acked
    r = cli(['get', db, '--kind', 'ack', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: 2, data: 'a2' });
    r = cli(['info', db, '--json']);
    expect(JSON.parse(r.stdout).queues.find((x: any) => x.table === 'ack_queue_default').counts).toEqual({ ready: 3, unack: 0, acked: 2, failed: 1 });
  });

  it('verify names each damaged row and exits 1; priority put and export/import keep order', () => {
    const db = join(tmp(), 'd.db');
    expect(cli(['put', db, '1', '2', '3', '4']).code).toBe(0);
    const h = new Database(db);
    h.prepare('UPDATE queue_default SET data = ? WHERE _id IN (2, 4)').run(Buffer.from('9'));
    h.close();
    let r = cli(['verify', db, '--json']);
    expect(r.code).toBe(1);
    const v = JSON.parse(r.stdout);
    expect(v.damaged.map((d: any) => d.id)).toEqual([2, 4]);
    r = cli(['verify', db]);
    expect(r.stdout).toMatch(/row id 2: checksum mismatch/);

    const p = join(tmp(), 'p.db');
    expect(cli(['put', p, '--kind', 'priority', '--priority', '5', '"mid"']).code).toBe(0);
    expect(cli(['put', p, '--priority', '1', '"high"']).code).toBe(0);
    const exp = cli(['export', p]).stdout;
    const f = join(tmp(), 'fq');
    r = cli(['import', f], exp);
    expect(r.code, r.stderr).toBe(0);
    expect(lines(cli(['export', f]).stdout).map((x: any) => x.data)).toEqual(['high', 'mid']);
    const p2 = join(tmp(), 'p2.db');
    expect(cli(['import', p2, '--kind', 'priority'], exp.split('\n').reverse().join('\n')).code).toBe(0);
    expect(lines(cli(['peek', p2, '--json']).stdout).map((x: any) => [x.data, x.priority])).toEqual([['high', 1], ['mid', 5]]);
  });

  it('bad input: one line, exit 2, nothing written', () => {
    const dir = tmp();
    const db = join(dir, 'x.db');
    let r = cli(['info', db]);
    expect([r.code, r.stderr.split('\n').length]).toEqual([2, 2]);
    expect(r.stderr).toMatch(/no such file/);
    r = cli(['put', db], '1\n{bad\n3\n');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/stdin line 2: malformed JSON/);
    expect(existsSync(db)).toBe(false);
    expect(cli(['put', db, '1']).code).toBe(0);
    const before = snapshot(db);
    r = cli(['import', db], '{"data":1}\n[not json\n');
    expect(r.code).toBe(2);
    r = cli(['import', db], '{"data":1}\n{"x":2}\n');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/line 2: not an export record/);
    expect(snapshot(db)).toBe(before);
    r = cli(['info', db, '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Unknown option '--bogus'/);
    r = cli(['peek', db, '-n', '-1']); // parseArgs calls this "ambiguous": say what happened instead
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/-n needs a value, and a value starting with "-" \(a negative number\?\) is taken for an option; write -n<value>/);
    expect(cli(['peek', db, '-n-1']).stderr).toMatch(/-n must be an integer >= 1 \(got "-1"\)/);
    expect(snapshot(db)).toBe(before);
    expect(cli(['frobnicate', db]).code).toBe(2);
    const notq = join(dir, 'notes.txt');
    writeFileSync(notq, 'hello');
    r = cli(['info', notq]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/neither a SQLite database nor a file-queue folder/);
    expect(cli(['peek', db, '--queue', 'nope']).code).toBe(1);
    expect(cli([]).code).toBe(2);
    expect(cli(['--help']).stdout).toMatch(/usage: persist-queue/);
  });
});
