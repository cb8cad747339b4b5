/**
 * The hot path of the SQLite task store: claiming due jobs and settling outcomes, in one `BEGIN IMMEDIATE`
 * transaction per worker round.
 *
 * A claim is one statement per group of tasks:
 *
 * ```sql
 * UPDATE pq_tasks_<name> SET status = 1, owner = ?, lease_until = ?, attempts = attempts + 1, started_at = ?,
 *        max_attempts = COALESCE(max_attempts, <per-task default>)
 *  WHERE id IN (SELECT id FROM pq_tasks_<name> WHERE status = 0 AND run_at <= ? AND task IN (...)
 *               ORDER BY priority, run_at, id LIMIT ?)
 * RETURNING ...
 * ```
 *
 * served by the partial index `(priority, run_at, id) WHERE status = 0`. Every outcome write is fenced by
 * `id, status = 1, attempts, owner`: a worker that lost its claim (lease taken over, dead-owner sweep) changes nothing.
 *
 * @module
 * @internal
 */
import type Database from 'better-sqlite3';
import {
  CANCELLED,
  FAILED,
  READY,
  SUCCEEDED,
  type ClaimRequest,
  type FollowUp,
  type JobRow,
  type NewJob,
  type Outcome,
  type Retention,
  type StatusCode,
} from '../store.js';
import type { TaskTables } from './schema.js';

/** What a worker needs of a claimed job (the rest of a {@link JobRow} is known: running, no outcome yet). */
const CLAIM_COLS = 'id, task, data, priority, run_at, attempts, max_attempts, backoff, timeout, key, created_at, started_at';

/** Prepared statements and the claim/settle logic over one connection. */
export class ClaimEngine {
  private readonly claimStmts = new Map<string, Database.Statement>();
  private lastClaim: { tasks: readonly string[]; maxAttempts: ClaimRequest['maxAttempts']; one: boolean; stmt: Database.Statement } | undefined;
  private readonly nextStmts = new Map<number, Database.Statement>();
  private readonly manyStmts = new Map<number, Database.Statement>();
  private readonly pausedStmt: Database.Statement;
  private readonly rateGet: Database.Statement;
  private readonly rateSet: Database.Statement;
  private readonly succeed: Database.Statement;
  private readonly retryStmt: Database.Statement;
  private readonly failStmt: Database.Statement;
  private readonly releaseStmt: Database.Statement;
  private readonly deleteStmt: Database.Statement;
  private readonly insertStmt: Database.Statement;
  private readonly keyStmt: Database.Statement;
  private readonly cancelReady: Database.Statement;

  constructor(
    private readonly db: Database.Database,
    private readonly t: TaskTables,
    private readonly retention: Retention,
    private readonly followUp: FollowUp,
  ) {
    const j = t.jobs;
    const fence = 'WHERE id = ? AND status = 1 AND attempts = ? AND owner = ?';
    const ret = 'RETURNING id, task, status, on_complete';
    this.pausedStmt = db.prepare(`SELECT task FROM ${t.paused}`).pluck();
    this.rateGet = db.prepare(`SELECT window_start AS start, count FROM ${t.rate} WHERE task = ?`);
    this.rateSet = db.prepare(`INSERT OR REPLACE INTO ${t.rate} (task, window_start, count) VALUES (?, ?, ?)`);
    this.succeed = db.prepare(
      `UPDATE ${j} SET status = 2, finished_at = ?, result = ?, owner = NULL, lease_until = NULL ${fence} ${ret}`,
    );
    this.retryStmt = db.prepare(
      `UPDATE ${j} SET status = CASE WHEN cancel_requested THEN 4 ELSE 0 END, run_at = ?, error = ?, owner = NULL, ` +
        `lease_until = NULL, finished_at = CASE WHEN cancel_requested THEN ? ELSE NULL END ${fence} ${ret}`,
    );
    this.failStmt = db.prepare(
      `UPDATE ${j} SET status = CASE WHEN cancel_requested THEN 4 ELSE 3 END, finished_at = ?, error = ?, owner = NULL, ` +
        `lease_until = NULL ${fence} ${ret}`,
    );
    this.releaseStmt = db.prepare(
      `UPDATE ${j} SET status = CASE WHEN cancel_requested THEN 4 ELSE 0 END, attempts = attempts - 1, owner = NULL, ` +
        `lease_until = NULL, finished_at = CASE WHEN cancel_requested THEN ? ELSE NULL END ${fence} ${ret}`,
    );
    this.deleteStmt = db.prepare(`DELETE FROM ${j} WHERE id = ?`);
    this.insertStmt = db.prepare(
      `INSERT INTO ${j} (task, status, priority, run_at, max_attempts, created_at, backoff, timeout, key, on_complete, data) ` +
        'VALUES (?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.keyStmt = db.prepare(`SELECT id FROM ${j} WHERE key = ? AND status < 2`).pluck();
    this.cancelReady = db.prepare(`UPDATE ${j} SET status = 4, finished_at = ? WHERE id = ? AND status = 0 ${ret}`);
  }

  /** Inserts jobs (inside the caller's transaction); a job whose key an unfinished job holds returns that job's id. */
  insert(jobs: readonly NewJob[], now: number): number[] {
    const ids: number[] = [];
    for (const job of jobs) {
      if (job.key !== null) {
        const existing = this.keyStmt.get(job.key) as number | undefined;
        if (existing !== undefined) {
          ids.push(existing);
          continue;
        }
      }
      const info = this.insertStmt.run(job.task, job.priority, job.runAt ?? now, job.maxAttempts, now, job.backoff, job.timeout, job.key, job.onComplete, job.data);
      ids.push(Number(info.lastInsertRowid));
    }
    return ids;
  }

  /**
   * What happens once a job reached a final status: its `onComplete` task is enqueued, and with a retention of 0 the
   * row is deleted.
   */
  finished(row: { id: number; task: string; status: number; on_complete: Buffer | null }, result: Buffer | null, error: string | null, now: number): void {
    if (row.on_complete) this.insert([this.followUp(row as JobRow, row.status as StatusCode, result, error)], now);
    const keep = row.status === SUCCEEDED ? this.retention.succeeded : row.status === FAILED ? this.retention.failed : this.retention.cancelled;
    if (keep === 0) this.deleteStmt.run(row.id);
  }

  /** Cancels a ready job at once (inside the caller's transaction). */
  cancelIfReady(id: number, now: number): boolean {
    const row = this.cancelReady.get(now, id) as { id: number; task: string; status: number; on_complete: Buffer | null } | undefined;
    if (!row) return false;
    this.finished(row, null, null, now);
    return true;
  }

  /**
   * Writes a round's outcomes; per outcome the status written, or null when the claim was lost. Successes of one
   * owner (the common case) are written by one `UPDATE ... FROM (VALUES ...)` per chunk of up to 64.
   */
  settleAll(outcomes: readonly Outcome[]): (StatusCode | null)[] {
    const out: (StatusCode | null)[] = new Array<StatusCode | null>(outcomes.length).fill(null);
    const wins: number[] = [];
    for (let i = 0; i < outcomes.length; i++) {
      const o = outcomes[i]!;
      if (o.kind === 'succeeded' && o.owner === outcomes[0]!.owner) wins.push(i);
      else out[i] = this.settle(o);
    }
    for (let start = 0; start < wins.length; start += 64) {
      const chunk = wins.slice(start, start + 64);
      if (chunk.length === 1) {
        out[chunk[0]!] = this.settle(outcomes[chunk[0]!]!);
        continue;
      }
      const args: unknown[] = [];
      const byId = new Map<number, number>();
      let now = 0;
      for (const i of chunk) {
        const o = outcomes[i] as Extract<Outcome, { kind: 'succeeded' }>;
        args.push(o.id, o.attempt, o.result);
        byId.set(o.id, i);
        now = Math.max(now, o.now);
      }
      const rows = this.succeedMany(chunk.length).all(now, ...args, outcomes[chunk[0]!]!.owner) as { id: number; task: string; status: number; on_complete: Buffer | null }[];
      for (const row of rows) {
        const i = byId.get(row.id)!;
        out[i] = SUCCEEDED;
        if (row.on_complete || this.retention.succeeded === 0) {
          this.finished(row, (outcomes[i] as Extract<Outcome, { kind: 'succeeded' }>).result, null, now);
        }
      }
    }
    return out;
  }

  private succeedMany(n: number): Database.Statement {
    let stmt = this.manyStmts.get(n);
    if (!stmt) {
      const values = new Array<string>(n).fill('(?, ?, ?)').join(', ');
      stmt = this.db.prepare(
        `UPDATE ${this.t.jobs} SET status = 2, finished_at = ?, result = v.column3, owner = NULL, lease_until = NULL ` +
          `FROM (VALUES ${values}) AS v WHERE ${this.t.jobs}.id = v.column1 AND ${this.t.jobs}.status = 1 ` +
          `AND ${this.t.jobs}.attempts = v.column2 AND ${this.t.jobs}.owner = ? ` +
          `RETURNING ${this.t.jobs}.id, ${this.t.jobs}.task, ${this.t.jobs}.status, ${this.t.jobs}.on_complete`,
      );
      this.manyStmts.set(n, stmt);
    }
    return stmt;
  }

  /** Writes one outcome; the status written, or null when the claim was lost. */
  settle(o: Outcome): StatusCode | null {
    type Ret = { id: number; task: string; status: number; on_complete: Buffer | null };
    let row: Ret | undefined;
    switch (o.kind) {
      case 'succeeded':
        row = this.succeed.get(o.now, o.result, o.id, o.attempt, o.owner) as Ret | undefined;
        if (row) this.finished(row, o.result, null, o.now);
        break;
      case 'retry':
        row = this.retryStmt.get(o.runAt, o.error, o.now, o.id, o.attempt, o.owner) as Ret | undefined;
        if (row && row.status === CANCELLED) this.finished(row, null, o.error, o.now);
        break;
      case 'failed':
        row = this.failStmt.get(o.now, o.error, o.id, o.attempt, o.owner) as Ret | undefined;
        if (row) this.finished(row, null, o.error, o.now);
        break;
      case 'release':
        row = this.releaseStmt.get(o.now, o.id, o.attempt, o.owner) as Ret | undefined;
        if (row && row.status === CANCELLED) this.finished(row, null, null, o.now);
        break;
    }
    return row ? (row.status as StatusCode) : null;
  }

  /** Claims due jobs for `req` (inside the caller's transaction). */
  claim(req: ClaimRequest): { claimed: JobRow[]; rateWaitUntil: number | null } {
    const paused = this.pausedStmt.all() as string[];
    if (paused.includes('*')) return { claimed: [], rateWaitUntil: null };
    let remaining = req.limit;
    let rateWaitUntil: number | null = null;
    let claimed: JobRow[] = [];
    for (const g of req.groups) {
      if (remaining <= 0) break;
      const tasks = paused.length === 0 ? g.tasks : g.tasks.filter((x) => !paused.includes(x));
      if (tasks.length === 0) continue;
      let n = Math.min(remaining, g.limit);
      let window = 0;
      let used = 0;
      if (g.rate) {
        window = Math.floor(req.now / g.rate.perMs) * g.rate.perMs;
        const r = this.rateGet.get(tasks[0]) as { start: number; count: number } | undefined;
        used = r && r.start === window ? r.count : 0;
        const allowance = g.rate.max - used;
        if (allowance <= 0) {
          if (this.nextDue(tasks, req.now)) {
            const end = window + g.rate.perMs;
            rateWaitUntil = rateWaitUntil === null ? end : Math.min(rateWaitUntil, end);
          }
          continue;
        }
        n = Math.min(n, allowance);
      }
      if (n <= 0) continue;
      // One job (a worker at concurrency 1): `id = (SELECT ... LIMIT 1)`, which SQLite runs as one index probe and one
      // row update; `id IN (SELECT ... LIMIT n)` first collects the ids in an ephemeral table (~30% slower per job).
      const rows = (n === 1
        ? this.claimStmt(tasks, req, true).all(req.owner, req.leaseUntil, req.now, req.now, ...tasks)
        : this.claimStmt(tasks, req, false).all(req.owner, req.leaseUntil, req.now, req.now, ...tasks, n)) as JobRow[];
      for (const r of rows) {
        r.status = 1;
        r.on_complete = r.finished_at = r.result = r.error = r.progress = null;
        r.owner = req.owner;
        r.cancel_requested = 0;
      }
      if (g.rate && rows.length > 0) this.rateSet.run(tasks[0], window, used + rows.length);
      remaining -= rows.length;
      claimed = claimed.length === 0 ? rows : claimed.concat(rows);
    }
    // RETURNING gives no order: hand jobs out in claim order.
    if (claimed.length > 1) claimed.sort((a, b) => a.priority - b.priority || a.run_at - b.run_at || a.id - b.id);
    return { claimed, rateWaitUntil };
  }

  private nextDue(tasks: readonly string[], now: number): boolean {
    let stmt = this.nextStmts.get(tasks.length);
    if (!stmt) {
      stmt = this.db.prepare(`SELECT 1 FROM ${this.t.jobs} WHERE status = 0 AND run_at <= ? AND task IN (${marks(tasks.length)}) LIMIT 1`).pluck();
      this.nextStmts.set(tasks.length, stmt);
    }
    return stmt.get(now, ...tasks) !== undefined;
  }

  private claimStmt(tasks: readonly string[], req: ClaimRequest, one: boolean): Database.Statement {
    // The per-task max_attempts defaults are literals in the statement (cached per task list and defaults; the last
    // statement is remembered by the identity of its task list and defaults, which a worker reuses round after round).
    const last = this.lastClaim;
    if (last && last.tasks === tasks && last.maxAttempts === req.maxAttempts && last.one === one) return last.stmt;
    const cases = tasks.filter((x) => req.maxAttempts[x] !== undefined && req.maxAttempts[x] !== 3);
    const key = `${one ? '=' : 'in'}|${tasks.length}|${cases.map((x) => `${x.length}:${x}=${req.maxAttempts[x]}`).join(',')}`;
    let stmt = this.claimStmts.get(key);
    if (!stmt) {
      const dflt =
        cases.length === 0
          ? '3'
          : `CASE task ${cases.map((x) => `WHEN ${quote(x)} THEN ${Math.trunc(req.maxAttempts[x]!)}`).join(' ')} ELSE 3 END`;
      stmt = this.db.prepare(
        `UPDATE ${this.t.jobs} SET status = 1, owner = ?, lease_until = ?, attempts = attempts + 1, started_at = ?, ` +
          `max_attempts = COALESCE(max_attempts, ${dflt}) WHERE id ${one ? '=' : 'IN'} (SELECT id FROM ${this.t.jobs} ` +
          `WHERE status = 0 AND run_at <= ? AND task IN (${marks(tasks.length)}) ORDER BY priority, run_at, id LIMIT ${one ? '1' : '?'}) ` +
          `RETURNING ${CLAIM_COLS}`,
      );
      if (this.claimStmts.size > 256) this.claimStmts.clear();
      this.claimStmts.set(key, stmt);
    }
    this.lastClaim = { tasks, maxAttempts: req.maxAttempts, one, stmt };
    return stmt;
  }
}

/** `?, ?, ?` for n parameters. */
export function marks(n: number): string {
  return new Array<string>(n).fill('?').join(', ');
}

function quote(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

export { READY };
