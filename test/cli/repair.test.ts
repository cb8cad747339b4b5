/**
 * verify and repair on queues damaged by the hostile-bytes torture's helpers (test/torture/damage.ts): every damaged
 * record is reported, repair keeps a byte-exact backup and every intact item in its order.
 */
import { copyFileSync, cpSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileQueueSync } from '../../dist/esm/file.js';
import { SqliteQueueSync } from '../../dist/esm/sqlite.js';
import { damage, damageSegments, flipBits, segNames, segRecords, type SegDamage } from '../torture/damage.js';
import { prng } from '../torture/helpers.js';
import { cli, lines, snapshot, tmp } from './helpers.js';

const SEED = Number(process.env.TORTURE_SEED ?? 0x5eed);
const item = (i: number) => ({ i, pad: `item-${String(i).padStart(4, '0')}-${'x'.repeat(90)}` });

/** [segment, start, end] of every PUT record of a folder, in log order (one per item put, no takes). */
function putRecords(q: string): { seg: string; start: number; end: number }[] {
  return segNames(q).flatMap((seg) => segRecords(join(q, seg)).filter((r) => r.type === 1).map((r) => ({ seg, start: r.start, end: r.end })));
}

describe('verify and repair on damaged queues', () => {
  for (const order of ['fifo', 'filo'] as const) {
    // FILO: the items below a damaged item come back too (test/file-filo-skip.test.ts for the library's side).
    it(`file queue (${order}): torture damage of segments; every damaged record found, every intact item kept in order`, () => {
      const base = tmp();
      const tpl = join(base, 'tpl');
      const N = 80;
      const q = FileQueueSync.open(tpl, { order, segmentBytes: 4096 });
      for (let i = 0; i < N; i++) q.put(item(i));
      q.close();
      const recs = putRecords(tpl);
      expect(recs).toHaveLength(N);
      expect(segNames(tpl).length).toBeGreaterThan(2);
      const rng = prng(SEED + (order === 'filo' ? 1 : 0));
      const kinds: SegDamage[] = ['flip-body', 'flip-rec-header', 'zero', 'truncate'];
      for (const [t, kind] of kinds.entries()) {
        const loc = join(base, `t${t}`);
        cpSync(tpl, loc, { recursive: true });
        const what = damageSegments(loc, rng, kind);
        const label = `${order} trial ${t}: ${what} (TORTURE_SEED=${SEED})`;
        const damaged = snapshot(loc);
        const damagedFiles = new Map(readdirSync(loc).filter((n) => statSync(join(loc, n)).isFile()).map((n) => [n, readFileSync(join(loc, n))]));
        // the items whose PUT record is still byte for byte where it was
        const intact = recs.flatMap((r, i) => {
          const f = join(loc, r.seg);
          if (!existsSync(f)) return [];
          const b = readFileSync(f);
          return b.length >= r.end && b.subarray(r.start, r.end).equals(readFileSync(join(tpl, r.seg)).subarray(r.start, r.end)) ? [i] : [];
        });
        const touched = recs.filter((_, i) => !intact.includes(i));
        let r = cli(['verify', loc, '--json']);
        const v = JSON.parse(r.stdout);
        expect(r.code, label).toBe(v.damaged.length > 0 ? 1 : 0);
        // every damaged PUT record is reported: at its offset, or inside a reported torn/unreadable stretch of its segment
        for (const d of touched) {
          const hit = v.damaged.some((x: { segment: string; offset: number }) => x.segment === d.seg && x.offset <= d.start);
          expect(hit, `${label}: record at ${d.seg}:${d.start} not reported; verify said ${JSON.stringify(v.damaged)}`).toBe(true);
        }
        if (kind === 'flip-body' || kind === 'flip-rec-header') expect(v.damaged.length, label).toBeGreaterThan(0);
        if (t === 0) {
          r = cli(['repair', loc]);
          expect([r.code, r.stderr], label).toEqual([2, 'persist-queue: repair changes the queue: pass --yes (or --dry-run to see what it would drop) (usage: persist-queue --help)\n']);
        expect(cli(['repair', loc, '--dry-run']).code, label).toBe(0);
          expect(snapshot(loc), `${label}: refused and dry runs write nothing`).toBe(damaged);
        }
        r = cli(['repair', loc, '--yes', '--json']);
        expect(r.code, `${label}: ${r.stderr}`).toBe(0);
        const rep = JSON.parse(r.stdout);
        const want = (order === 'filo' ? [...intact].reverse() : intact).map(item);
        expect(rep.kept, label).toBe(intact.length);
        if (v.damaged.length > 0) {
          expect(rep.backup, label).toMatch(/\.backup-/);
          // the backup is the damaged folder, byte for byte
          expect(readdirSync(rep.backup).filter((n) => statSync(join(rep.backup, n)).isFile()).sort(), label).toEqual([...damagedFiles.keys()].sort());
          for (const [n, b] of damagedFiles) expect(readFileSync(join(rep.backup, n)).equals(b), `${label}: backup ${n}`).toBe(true);
          expect(cli(['verify', loc]).code, `${label}: repaired queue verifies`).toBe(0);
        }
        const got = lines(cli(['export', loc]).stdout).map((x: any) => x.data);
        expect(got, label).toEqual(want);
      }
    }, 60_000);
  }

  it('SQLite: flipped bits in three rows are reported by id, repair drops exactly them; random damage never crashes verify', () => {
    const base = tmp();
    const db = join(base, 'q.db');
    const q = SqliteQueueSync.open(db);
    q.putMany(Array.from({ length: 40 }, (_, i) => item(i)));
    q.close();
    expect(existsSync(`${db}-wal`) && readFileSync(`${db}-wal`).length > 0).toBe(false);
    const rng = prng(SEED);
    const hit = [4, 16, 29];
    for (const i of hit) {
      // a digit of the marker: still JSON, wrong checksum (in every copy: a page split leaves a stale one in free space)
      const marker = `item-${String(i).padStart(4, '0')}`;
      let n = 0;
      for (let at = readFileSync(db).indexOf(marker); at >= 0; at = readFileSync(db).indexOf(marker, at + 1), n++) flipBits(db, rng, at + 5, at + 9, 1);
      expect(n).toBeGreaterThan(0);
    }
    const damaged = snapshot(db);
    let r = cli(['verify', db, '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).damaged.map((d: { id: number }) => d.id)).toEqual(hit.map((i) => i + 1));
    expect(cli(['verify', db]).stdout).toMatch(/^damaged {2}queue default \(queue_default\) row id 5: checksum mismatch$/m);
    expect(cli(['repair', db]).code).toBe(2);
    expect(snapshot(db)).toBe(damaged);
    r = cli(['repair', db, '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.dropped.map((d: { id: number }) => d.id)).toEqual([5, 17, 30]);
    expect(cli(['verify', rep.backup]).code).toBe(1); // the backup is the damaged file
    expect(cli(['verify', db]).code).toBe(0);
    expect(lines(cli(['export', db]).stdout).map((x: any) => x.data)).toEqual(Array.from({ length: 40 }, (_, i) => i).filter((i) => !hit.includes(i)).map(item));
    // the torture's random damage of the database: verify ends with 0 or 1 and at most one line on stderr, never a crash
    for (let t = 0; t < 3; t++) {
      const loc = join(base, `r${t}.db`);
      copyFileSync(rep.backup, loc);
      const what = damage(loc, rng);
      const v = cli(['verify', loc]);
      expect([0, 1], `${what}: ${v.stderr}`).toContain(v.code);
      expect(v.stderr.split('\n').filter(Boolean).length, `${what}: ${v.stderr}`).toBeLessThanOrEqual(1);
    }
  }, 60_000);
});
