/**
 * Torture 5: hostile bytes (SPEC.md guarantee 4, SQLite). A queue file and its un-checkpointed -wal are damaged with
 * a seeded PRNG — random bit flips, truncation, garbage appended, in the database, the WAL or both — and a child
 * process opens and drains every class of queue from the damaged copy. Every step must succeed or fail with a typed
 * error (QueueCorruptError, SerializationError, QueueError ERR_QUEUE_IO); every value returned must be an intact
 * payload that was put (payloads carry sha256(key, body); rows carry a CRC-32 in pq_crc); the child must neither
 * crash (a native fault would kill it by a signal) nor hang (it is killed after 20 s, which fails the test).
 *
 * TORTURE_SEED replays a run; TORTURE_HOSTILE_TRIALS sets the trials per family (default 16).
 */
import { appendFileSync, closeSync, copyFileSync, cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import zlib from 'node:zlib';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as format from '../../dist/esm/file-queue/format.js';
import * as bodies from '../../dist/esm/file-queue/records.js';
import { FILE_CLASSES, SQLITE_CLASSES, tempDir } from '../helpers/classes.js';
import { prng, report, seedFor, spawnChild, subSeed, workerPath } from './helpers.js';

const HOSTILE = workerPath('hostile-worker.mjs');
const SEED = seedFor('hostile.test.ts');
const TRIALS = Number(process.env.TORTURE_HOSTILE_TRIALS ?? 16);
const COUNT = 60;
const ALLOWED = new Set(['ERR_QUEUE_CORRUPT', 'ERR_QUEUE_SERIALIZATION', 'ERR_QUEUE_IO', 'ERR_QUEUE_EMPTY']);
/** File queues: damage is QueueCorruptError, nothing else. */
const FILE_ALLOWED = new Set(['ERR_QUEUE_CORRUPT']);
const { dir, cleanup } = tempDir('pq-torture-hostile-');
afterAll(() => cleanup());

type Rng = ReturnType<typeof prng>;

/** Damages `file` in place; returns a description. */
function damage(file: string, rng: Rng): string {
  if (!existsSync(file)) return `${file} missing`;
  const size = statSync(file).size;
  const kind = rng.pick(['flip', 'flip', 'flip', 'truncate', 'append', 'zero']);
  const name = file.endsWith('-wal') ? 'wal' : 'db';
  if (size === 0) return `${name} empty`;
  if (kind === 'flip') {
    const buf = readFileSync(file);
    const n = rng.int(1, 16);
    const at: number[] = [];
    for (let i = 0; i < n; i++) {
      const off = rng.int(0, size - 1);
      buf[off]! ^= 1 << rng.int(0, 7);
      at.push(off);
    }
    writeFileSync(file, buf);
    return `${name}: ${n} bit flip(s) at ${at.slice(0, 4).join(',')}${n > 4 ? ',…' : ''}`;
  }
  if (kind === 'truncate') {
    const to = rng.int(0, size - 1);
    truncateSync(file, to);
    return `${name}: truncated ${size} -> ${to}`;
  }
  if (kind === 'zero') {
    const from = rng.int(0, size - 1);
    const len = Math.min(size - from, rng.int(1, 8192));
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(len), 0, len, from);
    closeSync(fd);
    return `${name}: ${len} bytes zeroed at ${from}`;
  }
  const garbage = Buffer.alloc(rng.int(1, 20000));
  for (let i = 0; i < garbage.length; i++) garbage[i] = rng.int(0, 255);
  appendFileSync(file, garbage);
  return `${name}: ${garbage.length} garbage bytes appended`;
}

for (const ack of [false, true]) {
  const classes = SQLITE_CLASSES.filter((c) => c.ack === ack);
  describe(`hostile bytes: SQLite ${ack ? 'ack' : 'plain'} queues`, () => {
    it(`${TRIALS} damaged copies: typed errors only, no crash, no hang, no value that was never put`, async () => {
      const rng = prng(subSeed(SEED, `hostile:${ack}`));
      const base = join(dir, ack ? 'ack' : 'plain');
      mkdirSync(base);
      const tpl = join(base, 'tpl.db');
      const cls0 = classes[0]!;
      // Part of the items checkpointed into the database file, the rest only in the WAL of a killed process.
      for (const [i, die] of [[0, false], [1, true]] as const) {
        const c = spawnChild({ role: 'make', cls: cls0.name, location: tpl, prefix: `h-${i}`, count: COUNT / 2, take: 3, seed: rng.int(0, 2 ** 31) + i, die }, { script: HOSTILE });
        const ex = await c.exit;
        expect(ex.signal === 'SIGKILL' || ex.code === 0, c.stderr()).toBe(true);
      }
      expect(existsSync(`${tpl}-wal`)).toBe(true);
      const outcomes: Record<string, number> = {};
      let recovered = 0;
      for (let t = 0; t < TRIALS; t++) {
        const loc = join(base, `t${t}.db`);
        copyFileSync(tpl, loc);
        copyFileSync(`${tpl}-wal`, `${loc}-wal`);
        const target = rng.pick(['db', 'wal', 'both']);
        const what: string[] = [];
        if (target !== 'wal') what.push(damage(loc, rng));
        if (target !== 'db') what.push(damage(`${loc}-wal`, rng));
        const cls = rng.pick(classes);
        // A value was put if its hash checks and its key has the makers' prefix (h-0-<n>, h-1-<n>).
        const c = spawnChild({ role: 'drain', cls: cls.name, location: loc, prefix: 'h', count: COUNT, seed: rng.int(0, 2 ** 31) }, { script: HOSTILE, timeoutMs: 20_000 });
        const ex = await c.exit;
        const label = `trial ${t} (${cls.name}; ${what.join('; ')}; TORTURE_SEED=${SEED})`;
        expect(ex.timedOut, `${label}: hung`).toBe(false);
        expect(ex, `${label}: crashed: ${c.stderr()}`).toEqual({ code: 0, signal: null, timedOut: false });
        const res = JSON.parse(c.stdout().trim().split('\n').pop()!);
        expect(res.values.bad, `${label}: returned values that were never put`).toEqual([]);
        for (const e of res.events as { what: string; ok?: boolean; typed?: boolean; code?: string; name: string; message: string }[]) {
          if (e.ok) continue;
          expect(e.typed, `${label}: ${e.what} threw an untyped ${e.name}: ${e.message}`).toBe(true);
          expect(ALLOWED.has(e.code!), `${label}: ${e.what} threw ${e.name} ${e.code}: ${e.message}`).toBe(true);
          // A file that ends before its data (SQLite's short read) is damage: QueueCorruptError, not ERR_QUEUE_IO.
          if ((e as { cause?: { code?: string } }).cause?.code === 'SQLITE_IOERR_SHORT_READ') expect(e.code, `${label}: ${e.what}: ${e.message}`).toBe('ERR_QUEUE_CORRUPT');
          const key = `${e.what}:${e.code}${e.code === 'ERR_QUEUE_IO' ? `(${(e as { cause?: { code?: string } }).cause?.code})` : ''}`;
          outcomes[key] = (outcomes[key] ?? 0) + 1;
        }
        recovered += res.values.ok;
        console.log(`[torture] ${label}: ${res.values.ok} intact item(s), errors: ${res.events.filter((e: { ok?: boolean }) => !e.ok).map((e: { what: string; code: string; message: string }) => `${e.what}:${e.code}${e.code === 'ERR_QUEUE_IO' ? ` (${e.message})` : ''}`).join(' ') || 'none'}`);
      }
      report({ part: 'hostile', family: ack ? 'sqlite ack' : 'sqlite plain', seed: SEED, trials: TRIALS, recovered, outcomes });
    }, 180_000);
  });
}


// =====================================================================================================================
// File queues: segment and checkpoint files damaged (see docs/torture.md, part 5).

const FILE_HOSTILE = workerPath('file-hostile-worker.mjs');
const FILE_COUNT = 80;

interface FileTemplate {
  name: string;
  options: Record<string, unknown>;
  hold?: boolean;
}
/** Queues with known content; segmentBytes 4096 (the minimum) spreads every one over several segments. */
const FILE_TEMPLATES: FileTemplate[] = [
  { name: 'fifo', options: { order: 'fifo', segmentBytes: 4096 } },
  { name: 'filo', options: { order: 'filo', segmentBytes: 4096 } },
  { name: 'unique', options: { order: 'fifo', unique: true, segmentBytes: 4096 } },
  { name: 'held', options: { order: 'fifo', autoCommit: false, segmentBytes: 4096 }, hold: true },
];

interface DrainResult {
  label: string;
  events: { what: string; ok?: boolean; typed?: boolean; code?: string; name: string; message: string; stack?: string }[];
  values: { ok: number; bad: string[]; keys: string[] };
  drained: boolean;
  sizeAfter?: number;
  corruptSkipped?: number;
}

const segNames = (q: string): string[] => readdirSync(q).filter((n) => /^seg-\d{10}\.log$/.test(n)).sort();

/** [start, end, type] of every record of a segment file, up to the first damaged or incomplete one. */
/** Whether any byte of the last record of the template's last segment differs in the damaged copy. */
function lastRecordTouched(tplLoc: string, loc: string): boolean {
  const name = segNames(tplLoc).pop()!;
  const recs = segRecords(join(tplLoc, name));
  const last = recs[recs.length - 1];
  if (!last || !existsSync(join(loc, name))) return false;
  const a = readFileSync(join(tplLoc, name)).subarray(last.start, last.end);
  const b = readFileSync(join(loc, name)).subarray(last.start, last.end);
  return !a.equals(b);
}

function segRecords(file: string): { start: number; end: number; type: number }[] {
  const b = readFileSync(file);
  const out: { start: number; end: number; type: number }[] = [];
  for (let off = format.SEG_HEADER; off < b.length; ) {
    const h = format.checkHeader(b, off);
    if (!h.ok || off + format.REC_HEADER + h.len > b.length) break;
    out.push({ start: off, end: off + format.REC_HEADER + h.len, type: h.type });
    off += format.REC_HEADER + h.len;
  }
  return out;
}

function copyFolder(from: string, to: string): void {
  rmSync(to, { recursive: true, force: true });
  cpSync(from, to, { recursive: true });
}

function flipBits(file: string, rng: Rng, lo: number, hi: number, n: number): string {
  const buf = readFileSync(file);
  hi = Math.min(hi, buf.length);
  if (hi <= lo) return 'nothing to flip';
  const at: number[] = [];
  for (let i = 0; i < n; i++) {
    const off = rng.int(lo, hi - 1);
    buf[off]! ^= 1 << rng.int(0, 7);
    at.push(off);
  }
  writeFileSync(file, buf);
  return `${n} bit flip(s) at ${at.slice(0, 4).join(',')}${n > 4 ? ',…' : ''}`;
}

function randomBytes(rng: Rng, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(0, 255);
  return b;
}

/** Damages the checkpoint file of queue folder `q` (never a segment); returns a description. */
function damageCheckpoint(q: string, tplStale: string, rng: Rng, kind = rng.pick(['flip', 'truncate', 'append', 'empty', 'garbage', 'stale', 'delete'])): string {
  const ck = join(q, 'checkpoint');
  const size = statSync(ck).size;
  switch (kind) {
    case 'flip':
      return `checkpoint: ${flipBits(ck, rng, 0, size, rng.int(1, 8))}`;
    case 'truncate': {
      const to = rng.int(0, size - 1);
      truncateSync(ck, to);
      return `checkpoint: truncated ${size} -> ${to}`;
    }
    case 'append':
      appendFileSync(ck, randomBytes(rng, rng.int(1, 300)));
      return 'checkpoint: garbage appended';
    case 'empty':
      writeFileSync(ck, '');
      return 'checkpoint: empty';
    case 'garbage': {
      // Garbage behind a valid magic and version.
      const g = randomBytes(rng, rng.int(24, 600));
      readFileSync(ck).copy(g, 0, 0, 10);
      writeFileSync(ck, g);
      return 'checkpoint: garbage';
    }
    case 'stale':
      copyFileSync(tplStale, ck);
      return 'checkpoint: stale (an earlier position of the log)';
    default:
      rmSync(ck);
      return 'checkpoint: deleted';
  }
}

type SegDamage = 'flip-header' | 'flip-state' | 'flip-rec-header' | 'flip-length' | 'flip-body' | 'flip-any' | 'truncate' | 'append' | 'zero' | 'delete-middle' | 'swap';
const SEG_DAMAGE: SegDamage[] = ['flip-header', 'flip-state', 'flip-rec-header', 'flip-length', 'flip-body', 'flip-body', 'flip-any', 'flip-any', 'truncate', 'truncate', 'append', 'append', 'zero', 'delete-middle', 'swap'];

/** Damages the segment files of queue folder `q`; returns a description. */
function damageSegments(q: string, rng: Rng, kind: SegDamage): string {
  const segs = segNames(q);
  const name = kind === 'delete-middle' ? segs[rng.int(1, Math.max(1, segs.length - 2))]! : rng.pick(segs);
  const file = join(q, name);
  const size = statSync(file).size;
  const recs = segRecords(file);
  if (recs.length === 0) recs.push({ start: format.SEG_HEADER, end: Math.min(size, format.SEG_HEADER + 64), type: 0 });
  const rec = recs.length > 1 ? recs[rng.int(1, recs.length - 1)]! : recs[0]!;
  switch (kind) {
    case 'flip-header':
      return `${name}: segment header ${flipBits(file, rng, 0, format.SEG_HEADER, rng.int(1, 3))}`;
    case 'flip-state':
      return `${name}: STATE record ${flipBits(file, rng, recs[0]!.start, recs[0]!.end, rng.int(1, 3))}`;
    case 'flip-rec-header':
      return `${name}: header of record type ${rec.type} at ${rec.start}: ${flipBits(file, rng, rec.start, rec.start + format.REC_HEADER, 1)}`;
    case 'flip-length':
      return `${name}: length of record type ${rec.type} at ${rec.start}: ${flipBits(file, rng, rec.start + 4, rec.start + 8, rng.int(1, 2))}`;
    case 'flip-body':
      return `${name}: body of record type ${rec.type} at ${rec.start}: ${flipBits(file, rng, rec.start + format.REC_HEADER, rec.end, rng.int(1, 4))}`;
    case 'flip-any':
      return `${name}: ${flipBits(file, rng, 0, size, rng.int(1, 16))}`;
    case 'truncate': {
      const to = rng.int(0, size - 1);
      truncateSync(file, to);
      return `${name}: truncated ${size} -> ${to}`;
    }
    case 'append':
      appendFileSync(file, randomBytes(rng, rng.int(1, 5000)));
      return `${name}: garbage appended`;
    case 'zero': {
      const from = rng.int(0, size - 1);
      const len = Math.min(size - from, rng.int(1, 600));
      const fd = openSync(file, 'r+');
      writeSync(fd, Buffer.alloc(len), 0, len, from);
      closeSync(fd);
      return `${name}: ${len} bytes zeroed at ${from}`;
    }
    case 'delete-middle':
      if (segs.length < 3) return 'no middle segment';
      rmSync(file);
      return `${name} deleted`;
    default: {
      if (segs.length < 2) return 'one segment: nothing to swap';
      const other = rng.pick(segs.filter((s) => s !== name));
      const a = readFileSync(file);
      copyFileSync(join(q, other), file);
      writeFileSync(join(q, other), a);
      return `${name} and ${other} swapped`;
    }
  }
}

/** Runs a drain child over `jobs`; returns one result per job (a missing one fails, naming the job). */
async function drainFile(jobs: { loc: string; cls: string; options: Record<string, unknown>; label: string; seed?: number }[], prefix: string, rss = false): Promise<{ results: Map<string, DrainResult>; maxRssKiB?: number }> {
  const c = spawnChild({ role: 'drain', jobs, prefix, count: FILE_COUNT, rss }, { script: FILE_HOSTILE, timeoutMs: 20_000 + 300 * jobs.length });
  const ex = await c.exit;
  const lines = c.stdout().trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const results = new Map<string, DrainResult>();
  for (const l of lines) if (l.label !== undefined) results.set(l.label, l);
  const first = jobs.find((j) => !results.has(j.label));
  const where = first ? `at ${first.label}` : '';
  expect(ex.timedOut, `drain child hung ${where} (TORTURE_SEED=${SEED}): ${c.stderr()}`).toBe(false);
  expect(ex, `drain child crashed ${where} (TORTURE_SEED=${SEED}): ${c.stderr()}`).toEqual({ code: 0, signal: null, timedOut: false });
  return { results, maxRssKiB: lines.find((l) => l.maxRssKiB !== undefined)?.maxRssKiB };
}

/** The errors skipCorrupt does not skip: a segment's own header or STATE record is damaged. */
const SEGMENT_DAMAGE = /queue segment \S+ has (a corrupt header|a corrupt STATE record|an unreadable STATE record|no STATE record|format version)/;
const errorsOf = (r: DrainResult): DrainResult['events'] => r.events.filter((e) => !e.ok);
const describeErrors = (r: DrainResult): string => errorsOf(r).map((e) => `${e.what}:${e.code ?? e.name} ${e.message}`).join(' | ') || 'none';

describe('hostile bytes: file queues', () => {
  const base = join(dir, 'file');
  const templates = new Map<string, { loc: string; stale: string; baseline: string[]; lastKey: string }>();
  const outcomes: Record<string, number> = {};
  afterAll(() => report({ part: 'hostile', family: 'file plain', seed: SEED, trials: TRIALS * FILE_TEMPLATES.length, outcomes }));

  it('builds the template queues; an undamaged copy drains to what was put', async () => {
    mkdirSync(base, { recursive: true });
    const rng = prng(subSeed(SEED, 'hostile:file:make'));
    for (const t of FILE_TEMPLATES) {
      const loc = join(base, `tpl-${t.name}`);
      const c = spawnChild({ role: 'make', location: loc, options: t.options, prefix: 'h', count: FILE_COUNT, seed: rng.int(0, 2 ** 31), hold: t.hold }, { script: FILE_HOSTILE });
      const ex = await c.exit;
      expect(t.hold ? ex.signal === 'SIGKILL' : ex.code === 0, c.stderr()).toBe(true);
      const segs = segNames(loc);
      expect(segs.length, t.name).toBeGreaterThanOrEqual(3);
      const last = segRecords(join(loc, segs[segs.length - 1]!));
      expect(last[last.length - 1]!.type, `${t.name}: the last record is a PUT`).toBe(format.T_PUT);
      const lastRec = last[last.length - 1]!;
      const body = readFileSync(join(loc, segs[segs.length - 1]!)).subarray(lastRec.start + format.REC_HEADER, lastRec.end);
      const put = bodies.decodeBody(format.T_PUT, readFileSync(join(loc, segs[segs.length - 1]!))[lastRec.start + 3]!, body) as { data: Uint8Array };
      const lastKey = JSON.parse(Buffer.from(put.data).toString('utf8')).k as string;
      templates.set(t.name, { loc, stale: `${loc}.stale-checkpoint`, baseline: [], lastKey });
    }
    const jobs = FILE_TEMPLATES.flatMap((t) =>
      FILE_CLASSES.map((cls) => {
        const loc = join(base, `base-${t.name}-${cls.name}`);
        copyFolder(templates.get(t.name)!.loc, loc);
        return { loc, cls: cls.name, options: { ...t.options, durability: 'off' }, label: `${t.name}/${cls.name}` };
      }),
    );
    const { results } = await drainFile(jobs, 'h');
    for (const t of FILE_TEMPLATES) {
      const tpl = templates.get(t.name)!;
      for (const cls of FILE_CLASSES) {
        const r = results.get(`${t.name}/${cls.name}`)!;
        expect(describeErrors(r)).toBe('none');
        expect(r.drained && r.sizeAfter === 0 && r.corruptSkipped === 0).toBe(true);
        expect(r.values.bad).toEqual([]);
        if (cls === FILE_CLASSES[0]) tpl.baseline = r.values.keys;
        else expect(r.values.keys, `${t.name}: both classes drain the same`).toEqual(tpl.baseline);
      }
      expect(new Set(tpl.baseline).size).toBe(tpl.baseline.length);
      expect(tpl.baseline.length, t.name).toBeGreaterThan(20);
      expect(tpl.baseline).toContain(tpl.lastKey);
      console.log(`[torture] file template ${t.name}: ${segNames(tpl.loc).length} segments, ${tpl.baseline.length} waiting items`);
    }
  }, 60_000);

  it('damage confined to the checkpoint never loses or changes anything; a torn tail loses only its record', async () => {
    const rng = prng(subSeed(SEED, 'hostile:file:checkpoint'));
    const jobs: { loc: string; cls: string; options: Record<string, unknown>; label: string; expect: string[] }[] = [];
    let n = 0;
    for (const t of FILE_TEMPLATES) {
      const tpl = templates.get(t.name)!;
      for (const skipCorrupt of [false, true]) {
        for (const [k, kind] of ['flip', 'flip', 'truncate', 'append', 'empty', 'garbage', 'stale', 'delete'].entries()) {
          // Half the kinds per template and setting; across the four templates every kind runs with both settings.
          if ((k + FILE_TEMPLATES.indexOf(t) + Number(skipCorrupt)) % 2 === 1) continue;
          const loc = join(base, `ck-${n++}`);
          copyFolder(tpl.loc, loc);
          const what = damageCheckpoint(loc, tpl.stale, rng, kind);
          jobs.push({ loc, cls: rng.pick(FILE_CLASSES).name, options: { ...t.options, durability: 'off', skipCorrupt }, label: `${t.name} ${what} skipCorrupt ${skipCorrupt}`, expect: tpl.baseline });
        }
        // A torn tail: the last segment cut inside its last record (a PUT), with and without a checkpoint.
        for (const keepCk of [true, false]) {
          const loc = join(base, `ck-${n++}`);
          copyFolder(tpl.loc, loc);
          const segs = segNames(loc);
          const file = join(loc, segs[segs.length - 1]!);
          const recs = segRecords(file);
          const last = recs[recs.length - 1]!;
          const cut = rng.int(last.start, last.end - 1);
          truncateSync(file, cut);
          if (!keepCk) rmSync(join(loc, 'checkpoint'));
          jobs.push({ loc, cls: rng.pick(FILE_CLASSES).name, options: { ...t.options, durability: 'off', skipCorrupt }, label: `${t.name} torn tail at ${cut} (record ${last.start}..${last.end}) checkpoint ${keepCk} skipCorrupt ${skipCorrupt}`, expect: tpl.baseline.filter((k) => k !== tpl.lastKey) });
        }
      }
    }
    const { results } = await drainFile(jobs, 'h');
    for (const j of jobs) {
      const r = results.get(j.label)!;
      const label = `${j.label} (TORTURE_SEED=${SEED})`;
      expect(describeErrors(r), label).toBe('none');
      expect(r.values.bad, label).toEqual([]);
      expect(r.drained && r.sizeAfter === 0 && r.corruptSkipped === 0, label).toBe(true);
      expect(r.values.keys, label).toEqual(j.expect);
    }
  }, 60_000);

  it('a record length forged past the end of the file (valid header CRC) is never allocated', async () => {
    const tpl = templates.get('fifo')!;
    const jobs: { loc: string; cls: string; options: Record<string, unknown>; label: string }[] = [];
    for (const len of [0xfffffff0, 0x7fffffff, 512 * 1024 * 1024]) {
      for (const where of ['end', 'middle']) {
        const loc = join(base, `len-${len}-${where}`);
        copyFolder(tpl.loc, loc);
        rmSync(join(loc, 'checkpoint'));
        const segs = segNames(loc);
        const file = join(loc, segs[segs.length - 1]!);
        const b = readFileSync(file);
        const recs = segRecords(file);
        const at = where === 'end' ? b.length : recs[Math.floor(recs.length / 2)]!.start;
        const forged = Buffer.alloc(format.REC_HEADER + 64, 7);
        format.frameAt(forged, 0, format.T_PUT, 0, 64);
        forged.writeUInt32LE(len, 4);
        forged.writeUInt32LE(zlib.crc32(forged.subarray(0, 12)), 12);
        writeFileSync(file, Buffer.concat([b.subarray(0, at), forged]));
        jobs.push({ loc, cls: 'FileQueueSync', options: { ...FILE_TEMPLATES[0]!.options, durability: 'off' }, label: `length ${len} forged at the ${where}` });
      }
    }
    const { results, maxRssKiB } = await drainFile(jobs, 'h', true);
    for (const j of jobs) {
      const r = results.get(j.label)!;
      // Past the end of the file: a torn record, dropped like any torn tail (everything after it too). In the middle of
      // the segment that can cut off items the state (from the STATE record) still counts: reported, typed.
      if (j.label.endsWith('end')) expect(describeErrors(r), j.label).toBe('none');
      for (const e of errorsOf(r)) expect(e.code, `${j.label}: ${e.message}`).toBe('ERR_QUEUE_CORRUPT');
      expect(r.values.bad, j.label).toEqual([]);
    }
    console.log(`[torture] forged lengths: child max RSS ${Math.round(maxRssKiB! / 1024)} MiB`);
    expect(maxRssKiB! * 1024, 'the child allocated a forged length').toBeLessThan(256 * 1024 * 1024);
  }, 60_000);

  for (const t of FILE_TEMPLATES) {
    it(`${t.name}: ${TRIALS} damaged copies, skipCorrupt false and true: typed errors only, no crash, no hang, no value that was never put`, async () => {
      const tpl = templates.get(t.name);
      if (!tpl) throw new Error('the templates are built by the first test of this describe block: run the whole block');
      const rng = prng(subSeed(SEED, `hostile:file:${t.name}`));
      const trials: { what: string; plain: string; skip: string; lossless: boolean }[] = [];
      const jobs: { loc: string; cls: string; options: Record<string, unknown>; label: string; seed: number }[] = [];
      for (let i = 0; i < TRIALS; i++) {
        const loc = join(base, `${t.name}-t${i}`);
        copyFolder(tpl.loc, loc);
        const what: string[] = [];
        let lossless = true;
        for (let k = rng.chance(0.2) ? 2 : 1; k > 0; k--) {
          const kind = rng.pick(SEG_DAMAGE);
          // A cut or zeroed tail is a torn write, dropped silently (docs/format.md, Recovery); anything else that is
          // not reported must not change what the queue holds.
          if (kind === 'truncate' || kind === 'zero') lossless = false;
          what.push(damageSegments(loc, rng, kind));
        }
        // Damage to the last record of the log, with nothing valid after it, is indistinguishable from the unsynced tail
        // of a power loss and is dropped as a torn tail (docs/format.md, Recovery step 4): a silent loss of that item.
        if (lossless && lastRecordTouched(tpl.loc, loc)) lossless = false;
        if (rng.chance(0.3)) what.push(damageCheckpoint(loc, tpl.stale, rng));
        const loc2 = `${loc}-skip`;
        copyFolder(loc, loc2);
        const label = `${t.name} trial ${i}: ${what.join('; ')}`;
        const cls = rng.pick(FILE_CLASSES).name;
        const seed = rng.int(0, 2 ** 31);
        trials.push({ what: label, plain: `${label} [skipCorrupt false]`, skip: `${label} [skipCorrupt true]`, lossless });
        jobs.push({ loc, cls, options: { ...t.options, durability: 'off' }, label: `${label} [skipCorrupt false]`, seed });
        jobs.push({ loc: loc2, cls, options: { ...t.options, durability: 'off', skipCorrupt: true }, label: `${label} [skipCorrupt true]`, seed });
      }
      const { results } = await drainFile(jobs, 'h');
      for (const tr of trials) {
        const plain = results.get(tr.plain)!;
        const skip = results.get(tr.skip)!;
        const label = `${tr.what} (TORTURE_SEED=${SEED})`;
        for (const r of [plain, skip]) {
          expect(r.values.bad, `${r.label}: returned values that were never put (TORTURE_SEED=${SEED})`).toEqual([]);
          for (const e of errorsOf(r)) {
            expect(e.typed, `${r.label}: ${e.what} threw an untyped ${e.name}: ${e.message} (TORTURE_SEED=${SEED}) ${(e as { stack?: string }).stack ?? ''}`).toBe(true);
            expect(FILE_ALLOWED.has(e.code!), `${r.label}: ${e.what} threw ${e.name} ${e.code}: ${e.message} (TORTURE_SEED=${SEED})`).toBe(true);
            const key = `${r === plain ? 'strict' : 'skip'} ${e.what}:${e.code}`;
            outcomes[key] = (outcomes[key] ?? 0) + 1;
          }
        }
        // Damage that is neither reported nor a torn tail changes nothing (checksums, END records, the live count of
        // every segment): no silent loss, no silent change.
        if (tr.lossless && errorsOf(plain).length === 0) expect(plain.values.keys, `${label}: no error, but not what was put`).toEqual(tpl.baseline);
        // Without skipping, nothing is delivered twice: the process applies the log exactly, or stops.
        expect(new Set(plain.values.keys).size, `${label}: a key delivered twice without skipCorrupt`).toBe(plain.values.keys.length);
        if (skip.corruptSkipped === 0) {
          // Nothing skipped: the same as without skipCorrupt.
          expect(skip.values.keys, `${label}: nothing skipped but not what skipCorrupt false gave`).toEqual(plain.values.keys);
        }
        // skipCorrupt skips records and whole missing segments; a segment whose header or STATE record is damaged is
        // still reported (its records cannot be placed in the log), by open() or by the get that reaches it.
        for (const e of errorsOf(skip)) expect(e.message, `${label}: skipCorrupt did not skip`).toMatch(SEGMENT_DAMAGE);
        if (errorsOf(skip).length === 0) {
          expect(skip.drained && skip.sizeAfter === 0, `${label}: skipCorrupt drain did not complete (size ${skip.sizeAfter})`).toBe(true);
          if (errorsOf(plain).some((e) => e.code === 'ERR_QUEUE_CORRUPT')) expect(skip.corruptSkipped, `${label}: skipped records not counted`).toBeGreaterThan(0);
        }
        const kind = errorsOf(skip).length === 0 ? (skip.corruptSkipped! > 0 ? 'skipped' : errorsOf(plain).length === 0 ? 'clean' : 'other') : 'skip-error';
        outcomes[kind] = (outcomes[kind] ?? 0) + 1;
        console.log(`[torture] ${tr.what}: strict ${plain.values.ok} item(s), errors: ${describeErrors(plain)}; skip ${skip.values.ok} item(s), ${skip.corruptSkipped} skipped, errors: ${describeErrors(skip)}`);
      }
    }, 120_000);
  }
});
