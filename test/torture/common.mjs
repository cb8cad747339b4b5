// Shared by the torture tests (test/torture/*.test.ts), their child processes (test/torture/workers/) and the soak
// runner (scripts/soak.mjs): a seeded PRNG, self-checking payloads and log parsing. Plain JavaScript so that child
// processes can import it without a TypeScript loader.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';

/** mulberry32: a small, fast, seedable PRNG (32-bit state). */
export function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    seed: seed >>> 0,
    /** A float in [0, 1). */
    next,
    /** An integer in [lo, hi] (both included). */
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    /** One element of a non-empty array. */
    pick: (arr) => arr[Math.floor(next() * arr.length)],
    /** true with probability p. */
    chance: (p) => next() < p,
    /** A new independent generator derived from this one. */
    fork: () => prng(Math.floor(next() * 4294967296)),
  };
}

/**
 * The run's seed: TORTURE_SEED if set (decimal or 0x hex), else a fresh random one. Each test file derives its own
 * generators from it with {@link subSeed}, so one seed reproduces a whole run (up to OS scheduling).
 */
export function runSeed() {
  const env = process.env.TORTURE_SEED;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`TORTURE_SEED must be a non-negative integer, got ${env}`);
    return n >>> 0;
  }
  return Math.floor(Math.random() * 4294967296) >>> 0;
}

/** A seed for one named part of a run (stable for a given run seed and name). */
export function subSeed(seed, name) {
  const h = createHash('sha256').update(`${seed}:${name}`).digest();
  return h.readUInt32LE(0);
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.é✓😀';

/** sha256 of key and body, hex: what a payload carries to prove it is intact. */
export function payloadHash(key, body) {
  return createHash('sha256').update(key).update('\n').update(body).digest('hex');
}

/** A self-checking item: `{ k: key, b: body, h: sha256(key, body) }` with a random body of 0..maxLen characters. */
export function makePayload(key, rng, maxLen = 200) {
  const chars = [...ALPHABET];
  const len = rng.int(0, maxLen);
  let body = '';
  for (let i = 0; i < len; i++) body += chars[rng.int(0, chars.length - 1)];
  return { k: key, b: body, h: payloadHash(key, body) };
}

/** The key of an intact payload, or undefined when `v` is not one (corrupt, invented, wrong shape). */
export function checkPayload(v) {
  if (v === null || typeof v !== 'object') return undefined;
  if (typeof v.k !== 'string' || typeof v.b !== 'string' || typeof v.h !== 'string') return undefined;
  return payloadHash(v.k, v.b) === v.h ? v.k : undefined;
}

/** Complete lines of a log file (a line cut short by a kill has no newline and is ignored). */
export function readLines(file) {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  const end = text.lastIndexOf('\n');
  return end < 0 ? [] : text.slice(0, end).split('\n');
}

/** Whether an error is one of the library's typed errors (QueueError subclass, or a coded TypeError/RangeError). */
export function isTypedError(lib, err) {
  if (err instanceof lib.QueueError) return typeof err.code === 'string' && err.code.startsWith('ERR_QUEUE');
  if (err instanceof TypeError || err instanceof RangeError) {
    return ['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE', 'ERR_OUT_OF_RANGE'].includes(err.code);
  }
  return false;
}

/**
 * A call recorder for the hostile-bytes workers: `record(what, fn)` runs `fn`, appends `{ what, ok }` or the error
 * (typed or not, with its stack when untyped and `withStack`) to `events`, and returns `{ r }` or `{ err }`.
 */
export function recorder(lib, events, withStack = false) {
  return async (what, fn) => {
    try {
      const r = await fn();
      events.push({ what, ok: true });
      return { r };
    } catch (err) {
      const typed = isTypedError(lib, err);
      events.push({ what, typed, ...errInfo(err), ...(withStack && !typed ? { stack: String(err?.stack).slice(0, 1500) } : {}) });
      return { err };
    }
  };
}

/** A short, JSON-friendly description of an error. */
export function errInfo(err) {
  return {
    name: err?.name ?? typeof err,
    code: err?.code,
    message: String(err?.message ?? err).slice(0, 300),
    cause: err?.cause ? { name: err.cause.name, code: err.cause.code, message: String(err.cause.message).slice(0, 200) } : undefined,
  };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Checks the logs of one torture run against the guarantees and returns what it found.
 *
 * @param {object} run
 * @param {{ log: string }[]} run.producers - producer logs (I before a put, P after it returned)
 * @param {{ log: string, mode: 'ack'|'manual'|'auto', killed: boolean }[]} run.consumers - consumer logs
 * @param {unknown[]} run.drained - what a final drain of the queue returned (raw values)
 * @returns {{ stats: object, violations: string[] }}
 *
 * Rules (SPEC.md guarantees 2 and 3):
 * - every value received or drained is an intact payload (its hash checks) whose key some producer meant to put;
 * - every key whose put returned (P) is received or drained; the only exception is the in-flight batch of a killed
 *   autoCommit:true consumer: its get() removed the items durably, and the kill came before it logged them. Each such
 *   consumer excuses at most (max asked for in that last get) - (items it logged from it) missing keys;
 * - a key is received more than once only when an at-least-once consumer (autoCommit:false, or an ack queue) that was
 *   killed had received it without logging D (taskDone()/ack() returned): each such receipt excuses one repeat.
 */
export function analyzeRun({ producers, consumers, drained }) {
  const violations = [];
  const intents = new Set();
  const puts = new Set();
  const batches = [];
  for (const p of producers) {
    for (const line of readLines(p.log)) {
      if (line.startsWith('I ')) intents.add(line.slice(2));
      else if (line.startsWith('M ')) batches.push(line.slice(2).split(','));
      else if (line.startsWith('P ')) puts.add(line.slice(2));
      else if (line.startsWith('ERR ')) violations.push(`producer ${p.log}: ${line}`);
    }
  }
  const receipts = new Map(); // key -> [{ excuse: boolean }]
  const addReceipt = (key, r) => {
    if (!receipts.has(key)) receipts.set(key, []);
    receipts.get(key).push(r);
  };
  let inFlightAllowance = 0;
  let killedInFlight = 0;
  for (const c of consumers) {
    let batch = null;
    const mine = new Map(); // key -> receipt (latest) of this consumer
    for (const line of readLines(c.log)) {
      const tag = line.slice(0, line.indexOf(' ') < 0 ? line.length : line.indexOf(' '));
      const arg = line.slice(tag.length + 1);
      if (tag === 'T') batch = { max: Number(arg), got: 0 };
      else if (tag === 'R') {
        const r = { done: false, atLeastOnce: c.mode !== 'auto', killed: c.killed };
        addReceipt(arg, r);
        mine.set(arg, r);
        if (batch) batch.got++;
      } else if (tag === 'X') violations.push(`consumer ${c.log} received a value that is not an intact payload: ${arg}`);
      else if (tag === 'D') {
        const r = mine.get(arg);
        if (r) r.done = true;
      } else if (tag === 'E') batch = null;
      else if (tag === 'ERR') violations.push(`consumer ${c.log}: ${line}`);
    }
    if (c.killed && c.mode === 'auto' && batch) {
      inFlightAllowance += Math.max(0, batch.max - batch.got);
      killedInFlight++;
    }
  }
  for (const v of drained) {
    const k = checkPayload(v);
    if (k === undefined) violations.push(`drain returned a value that is not an intact payload: ${JSON.stringify(v)?.slice(0, 200)}`);
    else addReceipt(k, { done: true, atLeastOnce: false, killed: false, drain: true });
  }
  let repeats = 0;
  let excused = 0;
  for (const [key, rs] of receipts) {
    if (!intents.has(key)) violations.push(`key ${key} was received but never put (invented)`);
    if (rs.length > 1) {
      const allowed = rs.filter((r) => r.atLeastOnce && r.killed && !r.done).length;
      repeats += rs.length - 1;
      if (rs.length - 1 > allowed) violations.push(`key ${key} delivered ${rs.length} times, only ${allowed} repeat(s) excused by a killed at-least-once consumer`);
      else excused += rs.length - 1;
    }
  }
  const lost = [...puts].filter((k) => !receipts.has(k));
  if (lost.length > inFlightAllowance) {
    violations.push(
      `${lost.length} returned put(s) neither delivered nor in the queue (${lost.slice(0, 5).join(', ')}...), ` +
        `but killed autoCommit:true consumers had at most ${inFlightAllowance} item(s) in flight`,
    );
  }
  // putMany() is all or nothing (SPEC.md): a batch whose call was cut short by a kill shows all of its keys or none.
  // Keys missing from a batch can only be excused as the in-flight loss of a killed autoCommit:true consumer.
  let partialBatches = 0;
  let partialMissing = 0;
  for (const keys of batches) {
    const present = keys.filter((k) => receipts.has(k)).length;
    if (present > 0 && present < keys.length) {
      partialBatches++;
      partialMissing += keys.length - present;
    }
  }
  if (partialMissing > inFlightAllowance) {
    violations.push(`${partialBatches} putMany() batch(es) partly present (${partialMissing} key(s) missing), more than the in-flight allowance ${inFlightAllowance}`);
  }
  const stats = {
    putManyBatches: batches.length,
    partialBatches,
    intents: intents.size,
    putsReturned: puts.size,
    putsUnconfirmedButDelivered: [...receipts.keys()].filter((k) => intents.has(k) && !puts.has(k)).length,
    deliveredKeys: receipts.size,
    drained: drained.length,
    repeats,
    repeatsExcused: excused,
    lostInFlight: lost.length,
    inFlightAllowance,
    killedAutoConsumersMidGet: killedInFlight,
  };
  return { stats, violations };
}
