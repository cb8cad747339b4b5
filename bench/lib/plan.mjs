// What to measure: workloads, their metrics, and the item count each row really uses.
export const WORKLOADS = {
  a: { title: '(a) put N, then get N', metrics: ['put', 'get'], unit: 'items/s' },
  b: { title: '(b) interleaved put / get', metrics: ['pair'], unit: 'put+get pairs/s' },
  c: { title: '(c) putMany / getMany, batches of 100', metrics: ['put', 'get'], unit: 'items/s' },
  d: { title: '(d) 4 producer + 4 consumer processes on one queue', metrics: ['items', 'put'], unit: 'items/s' },
  conc: { title: "Promise classes at durability 'full': 64 concurrent producers vs 1 (raw ceilings: 64 per transaction or write vs 1)", metrics: ['one', 'many', 'ratio'], unit: 'puts/s' },
};

export const METRIC_LABEL = {
  put: 'put/s', get: 'get/s', pair: 'pairs/s', items: 'end-to-end items/s', one: '1 producer puts/s', many: '64 producers puts/s', ratio: '64 / 1',
};

/** The item count a row really asks for (before the per-phase time cap). */
export function effectiveN(sys, workload, n, opts) {
  if (workload === 'conc') return Math.min(n, opts.fullN);
  if (sys.durability !== 'full') return n;
  if (workload === 'a' || workload === 'b') return Math.min(n, opts.fullN);
  if (workload === 'c') return Math.min(n, opts.fullN * 20);
  if (workload === 'd') return Math.min(n, opts.fullN * 4);
  return n;
}

export function durLevel(d) {
  return d === 'full' ? 2 : d === 'normal' ? 1 : 0;
}

/** The raw ceiling a row is compared with. */
export function rawIdFor(sys) {
  if (sys.backend === 'sqlite') return sys.durability === 'full' ? 'raw-sqlite/full' : 'raw-sqlite/normal';
  return sys.durability === 'full' ? 'raw-fs/full' : 'raw-fs/normal';
}

/**
 * Peers a library row is judged against: peers at the same durability; the library's
 * weakest setting of a backend (sqlite 'normal', file 'off') also faces weaker peers.
 */
export function comparablePeer(libSys, peerSys) {
  const l = durLevel(libSys.durability);
  const p = durLevel(peerSys.durability);
  if (p === l) return true;
  const weakest = libSys.backend === 'sqlite' ? 1 : 0;
  return l === weakest && p < l;
}
