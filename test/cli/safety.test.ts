/**
 * Safety of the CLI: reading commands beside live producer and consumer processes; import is all or nothing and keeps
 * ack status; every bad input is one line with exit 2 (usage) or 1 (problem) and writes nothing.
 */
import { randomFillSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { children, cli, lines, live, snapshot, tmp } from './helpers.js';

afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

describe('persist-queue CLI safety', () => {
  for (const backend of ['sqlite', 'file'] as const) {
    it(`${backend}: info, peek, export and verify run beside a live producer and consumer in other processes`, async () => {
      const loc = join(tmp(), backend === 'sqlite' ? 'live.db' : 'live');
      await live(backend, loc, 'produce');
      await live(backend, loc, 'consume');
      for (const args of [['info', '--json'], ['peek', '-n', '3', '--json'], ['export'], ['verify', '--json']]) {
        const r = cli([args[0]!, loc, ...args.slice(1)]);
        expect([r.code, r.stderr], `${args.join(' ')}`).toEqual([0, '']);
        if (args[0] === 'export' || args[0] === 'peek') {
          // items come out whole and in order: the producer's counter n only grows (FIFO)
          const ns = lines(r.stdout).map((x: any) => x.data.n);
          expect(ns, args[0]).toEqual([...ns].sort((a, b) => a - b));
        }
      }
      for (const c of children) expect(c.exitCode, 'the live processes are still running').toBe(null);
    }, 40_000);
  }

  it('import is all or nothing and keeps ack status and attempts', () => {
    const dir = tmp();
    const src = join(dir, 'src.db');
    expect(cli(['put', src, '--kind', 'ack', '"a"', '"b"', '"c"', '"d"']).code).toBe(0);
    expect(cli(['get', src, '--kind', 'ack', '-n', '2']).code).toBe(0); // a, b acked
    const dump = cli(['export', src, '--kind', 'ack']).stdout;
    const dst = join(dir, 'dst.db');
    let r = cli(['import', dst, '--kind', 'ack'], dump);
    expect([r.code, r.stdout]).toEqual([0, 'imported 4 item(s)\n']);
    const back = lines(cli(['export', dst, '--kind', 'ack']).stdout) as any[];
    expect(back.map((x) => [x.data, x.status, x.attempts])).toEqual([['a', 'acked', 1], ['b', 'acked', 1], ['c', 'ready', 0], ['d', 'ready', 0]]);
    expect(lines(cli(['get', dst, '--kind', 'ack']).stdout)).toEqual(['c']);
    const before = snapshot(dst);
    for (const [input, code, msg] of [
      [`${dump}{"data": 1}\n{broken\n`, 2, /stdin line 6: malformed JSON/],
      ['{"data":1}\n[1,2]\n', 2, /stdin line 2: not an export record/],
      ['{"data":1,"status":"lost"}\n', 2, /stdin line 1: status must be one of/],
      ['', 2, /nothing to import/],
    ] as const) {
      r = cli(['import', dst, '--kind', 'ack'], input);
      expect([r.code, r.stdout], input).toEqual([code, '']);
      expect(r.stderr, input).toMatch(msg);
    }
    const uq = join(dir, 'u.db');
    expect(cli(['put', uq, '--kind', 'ack-unique', '"x"']).code).toBe(0);
    const ub = snapshot(uq);
    r = cli(['import', uq, '--kind', 'ack-unique'], '{"data":"y","status":"acked"}\n{"data":"x","status":"ready"}\n');
    expect([r.code, r.stderr]).toEqual([1, 'persist-queue: import: an item is already in this unique queue; nothing imported\n']);
    expect(snapshot(uq)).toBe(ub);
    // items are compared as a unique queue stores them (canonical JSON): key order and the path (with or without a
    // status) do not matter; the library's put of {"a":1} stores {"a": 1}
    expect(cli(['put', uq, '--kind', 'ack-unique', '{"a":1,"b":2}']).code).toBe(0);
    const ub2 = snapshot(uq);
    for (const input of ['{"data":{"b":2,"a":1}}\n', '{"data":{"b":2,"a":1},"status":"ready"}\n', '{"data":{"c":1}}\n{"data":{"c":1},"status":"ready"}\n']) {
      r = cli(['import', uq, '--kind', 'ack-unique'], input);
      expect([r.code, r.stderr], input).toEqual([1, 'persist-queue: import: an item is already in this unique queue; nothing imported\n']);
    }
    expect(snapshot(uq)).toBe(ub2);
    // a record with a status is stored canonical too: a later equal put is a duplicate, the queue holds it once
    expect(cli(['import', uq, '--kind', 'ack-unique'], '{"data":{"z":1,"y":2},"status":"ready"}\n').stdout).toBe('imported 1 item(s)\n');
    expect(cli(['put', uq, '--kind', 'ack-unique', '{"y":2,"z":1}']).stdout).toBe('put 1 item(s): ids duplicate\n');
    // an acked equal row makes way for an imported item, as for a put
    const got = cli(['get', uq, '--kind', 'ack-unique', '-n', '10']);
    expect(lines(got.stdout)).toHaveLength(3);
    expect(cli(['import', uq, '--kind', 'ack-unique'], '{"data":"x","status":"ready"}\n').stdout).toBe('imported 1 item(s)\n');
    // a plain unique queue leaves duplicates out, and the count says so
    const pu = join(dir, 'pu.db');
    expect(cli(['put', pu, '--kind', 'unique', '"x"']).code).toBe(0);
    r = cli(['import', pu, '--kind', 'unique'], '{"data":"x"}\n{"data":"w"}\n');
    expect([r.code, r.stdout]).toEqual([0, 'imported 1 item(s); 1 duplicate(s) already in the unique queue left out\n']);
    expect(JSON.parse(cli(['import', pu, '--kind', 'unique', '--json'], '{"data":"x"}\n').stdout)).toEqual({ imported: 0, skipped: 1 });
    expect(snapshot(dst)).toBe(before);
  }, 30_000);

  it('bad input: missing target, non-queue file, folder of random bytes, malformed stdin, unknown flag; one line, nothing written', () => {
    const dir = tmp();
    const junkFile = join(dir, 'notes.txt');
    writeFileSync(junkFile, 'hello, not a database\n');
    const junkDir = join(dir, 'random');
    mkdirSync(junkDir);
    for (const n of ['seg-0000000001.log', 'checkpoint', 'x.bin']) writeFileSync(join(junkDir, n), randomFillSync(Buffer.alloc(3000)));
    const db = join(dir, 'q.db');
    expect(cli(['put', db, '1']).code).toBe(0);
    const snaps = () => [snapshot(junkFile), snapshot(junkDir), snapshot(db)];
    const before = snaps();
    const cases: [string[], string | undefined, number, RegExp][] = [
      [['info', join(dir, 'missing.db')], undefined, 2, /no such file or folder/],
      [['peek'], undefined, 2, /peek: missing target/],
      [['info', junkFile], undefined, 2, /neither a SQLite database nor a file-queue folder/],
      [['put', junkFile, '1'], undefined, 2, /neither a SQLite database nor a file-queue folder/],
      [['info', junkDir], undefined, 1, /damaged segment header|cannot read the queue/],
      [['peek', junkDir], undefined, 1, /damaged segment header|cannot read the queue/],
      [['put', db], '1\n{"a":\n', 2, /stdin line 2: malformed JSON/],
      [['put', db, '{oops'], undefined, 2, /argument 1: malformed JSON/],
      [['info', db, '--colour'], undefined, 2, /Unknown option '--colour'/],
      [['frobnicate', db], undefined, 2, /unknown command "frobnicate"/],
      [['peek', db, '-n', '0'], undefined, 2, /-n must be an integer >= 1/],
      [['get', db, '--queue', 'nope'], undefined, 1, /no queue "nope"/],
    ];
    for (const [args, input, code, msg] of cases) {
      const r = cli(args, input);
      const label = args.join(' ');
      expect([r.code, r.stdout], label).toEqual([code, '']);
      expect(r.stderr.split('\n').filter(Boolean), label).toHaveLength(1);
      expect(r.stderr, label).toMatch(msg);
      expect(r.stderr, label).not.toMatch(/\n\s+at /);
    }
    expect(snaps()).toEqual(before);
  }, 40_000);
});
