// Timed phases: a phase does up to `n` operations but stops early when its wall-time
// cap is spent, and reports how many it did. Throughput = done / seconds.
import { performance } from 'node:perf_hooks';

export const now = () => performance.now();

export class Phase {
  constructor(capMs) {
    this.capMs = capMs;
    this.t0 = now();
  }
  /** True once the cap is spent; checked every few ops by the loops. */
  over() {
    return now() - this.t0 > this.capMs;
  }
  end(done, n) {
    const ms = now() - this.t0;
    return { done, ms, rate: done / (ms / 1000), capped: done < n };
  }
}

export function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
