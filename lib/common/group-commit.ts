/**
 * Group commit for the task layer's Promise classes: writes that arrive while a commit is being prepared or is in
 * flight share the next commit (one transaction, one fsync). (The queues' Promise shells use put-line.ts, which also
 * keeps call order across put() and putMany().)
 *
 * @module
 */
import { isThenable } from './put-line.js';
import type { Retry } from './wait.js';

interface Pending<E, R> {
  entry: E;
  resolve(value: R | Retry): void;
  reject(err: unknown): void;
}

/**
 * Collects entries and hands them to `commit` in batches. `commit` returns one result per entry, in order, or
 * {@link Retry} for an entry that could not be taken now (a full queue); it throws to fail the whole batch.
 */
export class GroupCommit<E, R> {
  private pending: Pending<E, R>[] = [];
  private running: Promise<void> | undefined;
  private scheduled = false;
  /** Entries submitted, and entries whose commit settled (commits settle in submission order). */
  private submitted = 0;
  private settledCount = 0;
  /** {@link GroupCommit.settled} calls waiting until `settledCount` reaches `upTo`. */
  private barriers: { upTo: number; resolve(): void }[] = [];

  /**
   * @param commit - writes a batch; sync or async
   * @param deferToImmediate - wait for `setImmediate` before committing (more callers join the batch; use when a
   *   commit costs an fsync), instead of a microtask
   */
  constructor(
    private readonly commit: (entries: E[]) => (R | Retry)[] | Promise<(R | Retry)[]>,
    private readonly deferToImmediate: boolean,
  ) {}

  /** Queues one entry for the next commit. */
  submit(entry: E): Promise<R | Retry> {
    this.submitted++;
    return new Promise<R | Retry>((resolve, reject) => {
      this.pending.push({ entry, resolve, reject });
      this.schedule();
    });
  }

  /**
   * For a call that must see the entries submitted before it: undefined when none is waiting to commit, else a
   * Promise that settles (never rejects) once they are committed or failed. Entries submitted later are not waited for.
   */
  settled(): Promise<void> | undefined {
    if (this.settledCount === this.submitted) return undefined;
    return new Promise<void>((resolve) => this.barriers.push({ upTo: this.submitted, resolve }));
  }

  /** `n` more entries have settled: releases the barriers they complete. */
  private passed(n: number): void {
    this.settledCount += n;
    if (this.barriers.length === 0) return;
    const keep: { upTo: number; resolve(): void }[] = [];
    for (const b of this.barriers) {
      if (b.upTo <= this.settledCount) b.resolve();
      else keep.push(b);
    }
    this.barriers = keep;
  }

  /** Resolves when nothing is pending or in flight. */
  async drain(): Promise<void> {
    while (this.running || this.pending.length > 0) {
      if (!this.running) this.start();
      await this.running;
    }
  }

  private schedule(): void {
    if (this.scheduled || this.running) return;
    this.scheduled = true;
    const go = (): void => {
      this.scheduled = false;
      if (!this.running) this.start();
    };
    if (this.deferToImmediate) setImmediate(go);
    // A plain Promise job, not queueMicrotask(): Node's queueMicrotask wraps every callback in a new AsyncResource
    // and a bound function, once per put of a Promise class.
    else void resolved.then(go);
  }

  /**
   * Commits what is pending. A commit that returns its results synchronously (no fsync to wait for) is settled at
   * once, without an async loop (fewer Promises and ticks per put); the first commit that returns a Promise continues
   * in {@link GroupCommit.loop}, which then also takes the batches that arrive meanwhile.
   */
  private start(): void {
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      let results: (R | Retry)[] | Promise<(R | Retry)[]>;
      try {
        results = this.commit(batch.map((p) => p.entry));
      } catch (err) {
        for (const p of batch) p.reject(err);
        this.passed(batch.length);
        continue;
      }
      if (isThenable(results)) {
        this.running = this.loop(batch, results).finally(() => {
          this.running = undefined;
        });
        return;
      }
      for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i]!);
      this.passed(batch.length);
    }
  }

  private async loop(first: Pending<E, R>[], firstResults: Promise<(R | Retry)[]>): Promise<void> {
    let batch = first;
    let pending: (R | Retry)[] | Promise<(R | Retry)[]> = firstResults;
    for (;;) {
      try {
        const results = await pending;
        for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i]!);
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
      this.passed(batch.length);
      if (this.pending.length === 0) return;
      batch = this.pending;
      this.pending = [];
      try {
        pending = this.commit(batch.map((p) => p.entry));
      } catch (err) {
        pending = Promise.reject(err);
      }
    }
  }
}

const resolved = Promise.resolve();
