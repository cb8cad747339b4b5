// Probe: where the time of one group commit goes, FileQueue at durability 'full' against its raw ceiling (the "of
// ceiling" column of the report's concurrency table). In one process, alternating blocks of `--block` windows
// (default 4): 64 FileQueue put() calls in flight (Promise.all), then 64 records framed as the raw ceiling frames them
// (raw-fs.mjs) in one fs.writeSync + fdatasync. With 4-window blocks at 4 KiB the queue idles ~6 ms while the raw side
// runs, gives its lock up after 3 ms and takes it again in the next block; `--block 16` shows the share without most
// of that. Every fdatasync is timed (node:fs is wrapped before the library is loaded), so each side's time per window
// splits into "in fdatasync" and "the rest" (CPU: encoding, framing, bookkeeping, promises, the event-loop turn the
// group commit waits for).
//
//   npm run build && node bench/probes/group-commit-budget.mjs [--windows 2000] [--bytes 80] [--block 4] [--runs 3]
//
// `--bytes` is the length of the string in each item ({ id, body }); 80 gives the report's ~120-byte items. Prints µs
// per window of 64 (median of `--runs`). See bench/README.md ("Probes").
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { frame } from '../adapters/raw-fs.mjs';

let inSync = 0;
const fdatasyncSync = fs.fdatasyncSync;
fs.fdatasyncSync = (fd) => {
  const t = performance.now();
  try {
    fdatasyncSync(fd);
  } finally {
    inSync += performance.now() - t;
  }
};
const { FileQueue } = await import('../../dist/esm/index.js');

const WIDTH = 64;

async function run(windows, bytes, block) {
  const dir = fs.mkdtempSync(join(tmpdir(), 'pq-probe-'));
  const q = await FileQueue.open(join(dir, 'queue'), { durability: 'full' });
  const rawFd = fs.openSync(join(dir, 'raw.log'), 'a');
  const body = 'x'.repeat(bytes);
  const lib = { ms: 0, sync: 0 };
  const raw = { ms: 0, sync: 0 };
  let seq = 0;
  const timed = async (side, fn) => {
    const s0 = inSync;
    const t0 = performance.now();
    for (let k = 0; k < block; k++) await fn();
    side.ms += performance.now() - t0;
    side.sync += inSync - s0;
  };
  try {
    for (let b = 0; b < windows / block; b++) {
      await timed(lib, () => {
        const w = [];
        for (let i = 0; i < WIDTH; i++) w.push(q.put({ id: seq++, body }));
        return Promise.all(w);
      });
      await timed(raw, () => {
        const parts = [];
        for (let i = 0; i < WIDTH; i++, seq++) parts.push(frame(seq, { id: seq, body }));
        fs.writeSync(rawFd, Buffer.concat(parts));
        fs.fdatasyncSync(rawFd);
      });
    }
  } finally {
    await q.close();
    fs.closeSync(rawFd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const per = (side) => ({ total: (side.ms / windows) * 1000, sync: (side.sync / windows) * 1000 });
  return { lib: per(lib), raw: per(raw) };
}

const { values } = parseArgs({ options: { windows: { type: 'string', default: '2000' }, bytes: { type: 'string', default: '80' }, runs: { type: 'string', default: '3' }, block: { type: 'string', default: '4' } } });
const [windows, bytes, runs, block] = [values.windows, values.bytes, values.runs, values.block].map(Number);
const got = [];
for (let r = 0; r < runs; r++) got.push(await run(windows, bytes, block));
const med = (f) => {
  const xs = got.map(f).sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)];
};
const row = (label, side) => {
  const total = med((g) => g[side].total);
  const sync = med((g) => g[side].sync);
  return `| ${label} | ${Math.round(total)} | ${Math.round(sync)} | ${Math.round(total - sync)} |`;
};
console.log(`| one window of ${WIDTH} puts, \`full\` (median of ${runs}, ${windows} windows each) | µs per window | in fdatasync | the rest |`);
console.log('| --- | --- | --- | --- |');
console.log(row(`FileQueue, ${WIDTH} put() in flight`, 'lib'));
console.log(row(`raw fs, ${WIDTH} framed records, one write + fdatasync`, 'raw'));
console.log(`\nshare (raw µs ÷ FileQueue µs): ${Math.round((100 * med((g) => g.raw.total / g.lib.total)))} %`);
