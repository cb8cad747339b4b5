/**
 * One implementation behind both module systems: the packed package, imported by name with `import` and with
 * `require()` in one process, gives the very same class objects for every entry point, so `instanceof` holds across
 * them (no dual package hazard). `persist-queue/file` loads no SQLite through either.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packedConsumer, repoRoot, type Consumer } from './helpers/consumer.js';

/** Every top-level entry point: `persist-queue` for lib/index.ts, `persist-queue/<name>` for the others. */
const ENTRIES = readdirSync(join(repoRoot, 'lib'))
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .map((f) => (f === 'index.ts' ? 'persist-queue' : `persist-queue/${f.slice(0, -3)}`));

const CHECK = `
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const entries = JSON.parse(process.argv[2]);
const report = {};
for (const spec of entries) {
  const esm = await import(spec);
  const cjs = require(spec);
  const names = Object.keys(esm).sort();
  const differ = names.filter((n) => esm[n] !== cjs[n]);
  const missing = Object.keys(cjs).filter((n) => !(n in esm));
  let crossInstanceof = true;
  for (const n of names) {
    if (typeof esm[n] === 'function' && /Error$/.test(n)) {
      const made = n === 'QueueError' ? new cjs[n]('m', 'ERR_QUEUE_IO') : new cjs[n]('m');
      const madeEsm = n === 'QueueError' ? new esm[n]('m', 'ERR_QUEUE_IO') : new esm[n]('m');
      crossInstanceof &&= made instanceof esm[n] && madeEsm instanceof cjs[n] && made instanceof esm.QueueError;
    }
  }
  report[spec] = { names, differ, missing, crossInstanceof, hasDefault: 'default' in esm };
}
console.log(JSON.stringify(report));
`;

const FILE_ONLY = `
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const m = await import('persist-queue/file');
require('persist-queue/file');
const loaded = Object.keys(require.cache).filter((k) => k.includes('better-sqlite3'));
console.log(JSON.stringify({ loaded, hasFileQueue: typeof m.FileQueue === 'function' }));
`;

describe('one implementation for import and require', () => {
  let consumer: Consumer;
  beforeAll(() => {
    consumer = packedConsumer('pq-dual-');
    writeFileSync(join(consumer.dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
    writeFileSync(join(consumer.dir, 'check.mjs'), CHECK);
    writeFileSync(join(consumer.dir, 'file-only.mjs'), FILE_ONLY);
  });
  afterAll(() => consumer?.cleanup());

  it('gives the same class objects and cross-system instanceof for every entry point', () => {
    expect(ENTRIES).toEqual(expect.arrayContaining(['persist-queue', 'persist-queue/file', 'persist-queue/sqlite']));
    const report = JSON.parse(
      execFileSync(process.execPath, ['check.mjs', JSON.stringify(ENTRIES)], { cwd: consumer.dir, encoding: 'utf8' }),
    ) as Record<string, { names: string[]; differ: string[]; missing: string[]; crossInstanceof: boolean; hasDefault: boolean }>;
    for (const spec of ENTRIES) {
      const r = report[spec]!;
      expect(r.names, spec).toContain('QueueEmptyError');
      expect(r.differ, spec).toEqual([]);
      expect(r.missing, spec).toEqual([]);
      expect(r.crossInstanceof, spec).toBe(true);
      expect(r.hasDefault, spec).toBe(false);
    }
  });

  it('persist-queue/file loads no SQLite through import or require', () => {
    const out = JSON.parse(execFileSync(process.execPath, ['file-only.mjs'], { cwd: consumer.dir, encoding: 'utf8' }));
    expect(out).toEqual({ loaded: [], hasFileQueue: true });
  });
});
