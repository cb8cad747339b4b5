#!/usr/bin/env node
// The long torture run, by hand: `npm run soak -- --minutes N [--seed S] [--rounds R] [--load-ms MS] [--trials T]`.
// Repeats the kill -9 rounds, the power-loss rounds (file backend; --rounds per scenario), the load test and the
// hostile-bytes trials of test/torture/ (over every class in test/helpers/classes.js ALL_CLASSES, so new backends join
// by themselves) with a fresh seed per iteration until N
// minutes have passed, then prints a summary. A failing iteration prints its seed: replay it with
// `TORTURE_SEED=<seed> npx vitest run test/torture/<file>`. Exit code 1 if any iteration failed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v < 0) {
    console.error(`--${name} needs a non-negative number`);
    process.exit(2);
  }
  return v;
};
const minutes = arg('minutes', 10);
const rounds = arg('rounds', 8);
const loadMs = arg('load-ms', 10_000);
const trials = arg('trials', 40);
let seed = arg('seed', Math.floor(Math.random() * 2 ** 32));

const vitest = createRequire(import.meta.url).resolve('vitest/vitest.mjs');
const files = ['test/torture/kill.test.ts', 'test/torture/powerloss.test.ts', 'test/torture/load.test.ts', 'test/torture/hostile.test.ts'];
const dir = mkdtempSync(join(tmpdir(), 'pq-soak-'));
const end = Date.now() + minutes * 60_000;
const t0 = Date.now();
const totals = { iterations: 0, failed: [], kill: {}, powerloss: {}, load: {}, hostile: {} };
const add = (into, entry) => {
  for (const [k, v] of Object.entries(entry)) if (typeof v === 'number' && k !== 'seed') into[k] = (into[k] ?? 0) + v;
};

console.log(`soak: ${minutes} min, ${rounds} kill rounds, ${loadMs} ms load, ${trials} hostile trials per iteration; first seed ${seed}`);
do {
  const summary = join(dir, `summary-${seed}.jsonl`);
  const started = Date.now();
  const r = spawnSync(process.execPath, [vitest, 'run', ...files], {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    env: {
      ...process.env,
      TORTURE_SEED: String(seed),
      TORTURE_SUMMARY: summary,
      TORTURE_ROUNDS: String(rounds),
      TORTURE_PL_ROUNDS: String(rounds),
      TORTURE_LOAD_MS: String(loadMs),
      TORTURE_HOSTILE_TRIALS: String(trials),
    },
    maxBuffer: 256 * 1024 * 1024,
  });
  totals.iterations++;
  let entries = [];
  try {
    entries = readFileSync(summary, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  } catch {
    /* no summary: the run failed early */
  }
  for (const e of entries) if (totals[e.part]) add(totals[e.part], e);
  const ok = r.status === 0;
  const secs = ((Date.now() - started) / 1000).toFixed(0);
  const kill = entries.filter((e) => e.part === 'kill');
  console.log(
    `#${totals.iterations} seed ${seed}: ${ok ? 'ok' : 'FAILED'} in ${secs} s` +
      (kill.length ? `; kill: ${kill.map((e) => `${e.family} ${e.putsReturned} puts, ${e.repeats} repeats, ${e.lostInFlight} lost in flight`).join('; ')}` : ''),
  );
  if (!ok) {
    totals.failed.push(seed);
    const out = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /FAIL|AssertionError|Error|×|→/.test(l));
    console.log(out.slice(0, 40).join('\n'));
  }
  seed = (seed + 0x9e3779b9) >>> 0;
} while (Date.now() < end);

rmSync(dir, { recursive: true, force: true });
console.log('\nsoak summary');
console.log(`  ${totals.iterations} iteration(s) in ${((Date.now() - t0) / 60_000).toFixed(1)} min; failed seeds: ${totals.failed.length ? totals.failed.join(', ') : 'none'}`);
const show = (name, t, keys) => console.log(`  ${name}: ${keys.map((k) => `${k} ${t[k] ?? 0}`).join(', ')}`);
show('kill -9', totals.kill, ['children', 'putsReturned', 'deliveredKeys', 'repeats', 'repeatsExcused', 'lostInFlight', 'inFlightAllowance', 'violations']);
show('power loss', totals.powerloss, ['rounds', 'putsReturned', 'delivered', 'repeats', 'repeatsExcused', 'lostInWindowNormal', 'lostOther', 'inFlightAllowance', 'violations']);
show('load', totals.load, ['putsReturned', 'deliveredKeys', 'repeats', 'violations']);
show('hostile', totals.hostile, ['trials', 'recovered']);
process.exitCode = totals.failed.length ? 1 : 0;
