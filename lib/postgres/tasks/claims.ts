/**
 * The hot path of the PostgreSQL task store: settling outcomes and claiming due jobs inside one transaction.
 *
 * A claim is one statement per group of tasks, on the server's clock, skipping rows other workers are claiming:
 *
 * ```sql
 * UPDATE pq_tasks_<name> j SET status = 1, owner = $1, lease_until = <now> + $2, attempts = attempts + 1,
 *        started_at = <now>, max_attempts = COALESCE(max_attempts, <per-task default>, 3)
 *  WHERE id IN (SELECT id FROM pq_tasks_<name> WHERE status = 0 AND run_at <= <now> AND task = ANY($3)
 *               AND NOT EXISTS (paused) ORDER BY priority, run_at, id LIMIT $4 FOR UPDATE SKIP LOCKED)
 * RETURNING ...
 * ```
 *
 * Every outcome write is fenced by `id, status = 1, attempts, owner`: a worker whose lease was taken over changes
 * nothing.
 *
 * @module
 * @internal
 */
import { CANCELLED, FAILED, READY, SUCCEEDED, type ClaimRequest, type FollowUp, type JobRow, type NewJob, type Outcome, type Retention, type StatusCode } from '../../tasks/store.js';
import { insertArrays, insertSql, jobRow, UNSHIFTED, type Clock, type Q } from './rows.js';
import { NOW_MS, type PgTaskTables } from './schema.js';

const CLAIM_COLS = 'id, task, data, priority, run_at, attempts, max_attempts, backoff, timeout, key, created_at, started_at';
const RET = 'RETURNING id, task, status, on_complete';
const FENCE = 'WHERE id = $1 AND status = 1 AND attempts = $2 AND owner = $3';

type Ret = { id: string; task: string; status: number; on_complete: Buffer | null };

/** The claim/settle logic of one task queue (statements run through the caller's transaction). */
export class PgClaims {
  constructor(
    private readonly t: PgTaskTables,
    private readonly retention: Retention,
    private readonly followUp: FollowUp,
    private readonly clock: () => Clock,
  ) {}

  /** Inserts jobs; a job whose key an unfinished job holds returns that job's id. */
  async insert(q: Q, jobs: readonly NewJob[]): Promise<number[]> {
    if (jobs.every((j) => j.key === null)) {
      const rows = await q(insertSql(this.t.jobs, NOW_MS), insertArrays(jobs, this.clock().ahead));
      // ids come from one sequence in row order: sorted, they follow the input order.
      return rows.map((r: { id: string }) => Number(r.id)).sort((a: number, b: number) => a - b);
    }
    const ids: number[] = [];
    const conflict = 'ON CONFLICT (key) WHERE key IS NOT NULL AND status < 2 DO NOTHING ';
    for (const job of jobs) {
      for (let tries = 0; ; tries++) {
        const rows = await q(insertSql(this.t.jobs, NOW_MS, job.key === null ? '' : conflict), insertArrays([job], this.clock().ahead));
        if (rows.length > 0) {
          ids.push(Number(rows[0].id));
          break;
        }
        const held = await q(`SELECT id FROM ${this.t.jobs} WHERE key = $1 AND status < 2`, [job.key]);
        if (held.length > 0) {
          ids.push(Number(held[0].id));
          break;
        }
        if (tries > 5) throw new Error(`enqueue: the key ${job.key} keeps changing hands`);
      }
    }
    return ids;
  }

  /** After a job reached a final status: its `onComplete` job is enqueued, and with a retention of 0 it is deleted. */
  async finished(q: Q, row: Ret, result: Buffer | null, error: string | null): Promise<void> {
    const status = Number(row.status) as StatusCode;
    if (row.on_complete) {
      const r = { ...jobRow({ ...row, priority: 0, run_at: 0, attempts: 0, created_at: 0, data: null }, UNSHIFTED), status };
      await this.insert(q, [this.followUp(r as JobRow, status, result, error)]);
    }
    const keep = status === SUCCEEDED ? this.retention.succeeded : status === FAILED ? this.retention.failed : this.retention.cancelled;
    if (keep === 0) await q(`DELETE FROM ${this.t.jobs} WHERE id = $1`, [row.id]);
  }

  /** Cancels a ready job at once. */
  async cancelIfReady(q: Q, id: number): Promise<boolean> {
    const rows = (await q(`UPDATE ${this.t.jobs} SET status = 4, finished_at = ${NOW_MS} WHERE id = $1 AND status = 0 ${RET}`, [id])) as Ret[];
    if (rows.length === 0) return false;
    await this.finished(q, rows[0]!, null, null);
    return true;
  }

  /**
   * Writes outcomes; per outcome the status written, or null when the claim was lost. Successes of one owner are
   * written by one statement over `unnest` arrays.
   */
  async settleAll(q: Q, outcomes: readonly Outcome[]): Promise<(StatusCode | null)[]> {
    const out: (StatusCode | null)[] = new Array<StatusCode | null>(outcomes.length).fill(null);
    const wins: number[] = [];
    for (let i = 0; i < outcomes.length; i++) {
      const o = outcomes[i]!;
      if (o.kind === 'succeeded' && o.owner === outcomes[0]!.owner) wins.push(i);
      else out[i] = await this.settle(q, o);
    }
    if (wins.length === 0) return out;
    const won = wins.map((i) => outcomes[i] as Extract<Outcome, { kind: 'succeeded' }>);
    const j = this.t.jobs;
    const rows = (await q(
      `UPDATE ${j} SET status = 2, finished_at = ${NOW_MS}, result = v.result, owner = NULL, lease_until = NULL ` +
        `FROM unnest($1::bigint[], $2::int[], $3::bytea[]) AS v(id, attempt, result) ` +
        `WHERE ${j}.id = v.id AND ${j}.status = 1 AND ${j}.attempts = v.attempt AND ${j}.owner = $4 ` +
        `RETURNING ${j}.id, ${j}.task, ${j}.status, ${j}.on_complete`,
      [won.map((o) => o.id), won.map((o) => o.attempt), won.map((o) => o.result), won[0]!.owner],
    )) as Ret[];
    const byId = new Map<number, number>();
    for (const i of wins) byId.set((outcomes[i] as Outcome).id, i);
    for (const row of rows) {
      const i = byId.get(Number(row.id))!;
      out[i] = SUCCEEDED;
      if (row.on_complete || this.retention.succeeded === 0) await this.finished(q, row, (outcomes[i] as Extract<Outcome, { kind: 'succeeded' }>).result, null);
    }
    return out;
  }

  /** Writes one outcome; the status written, or null when the claim was lost. */
  async settle(q: Q, o: Outcome): Promise<StatusCode | null> {
    const j = this.t.jobs;
    const fence = [o.id, o.attempt, o.owner];
    const cancelled = (then: string): string => `CASE WHEN cancel_requested = 1 THEN ${then} ELSE NULL END`;
    let row: Ret | undefined;
    switch (o.kind) {
      case 'succeeded':
        row = (await q(`UPDATE ${j} SET status = 2, finished_at = ${NOW_MS}, result = $4, owner = NULL, lease_until = NULL ${FENCE} ${RET}`, [...fence, o.result]))[0];
        if (row) await this.finished(q, row, o.result, null);
        break;
      case 'retry':
        row = (
          await q(
            `UPDATE ${j} SET status = CASE WHEN cancel_requested = 1 THEN 4 ELSE 0 END, run_at = ${NOW_MS} + $4, error = $5, ` +
              `owner = NULL, lease_until = NULL, finished_at = ${cancelled(NOW_MS)} ${FENCE} ${RET}`,
            [...fence, Math.round(o.runAt - o.now), o.error],
          )
        )[0];
        if (row && Number(row.status) === CANCELLED) await this.finished(q, row, null, o.error);
        break;
      case 'failed':
        row = (
          await q(
            `UPDATE ${j} SET status = CASE WHEN cancel_requested = 1 THEN 4 ELSE 3 END, finished_at = ${NOW_MS}, error = $4, ` +
              `owner = NULL, lease_until = NULL ${FENCE} ${RET}`,
            [...fence, o.error],
          )
        )[0];
        if (row) await this.finished(q, row, null, o.error);
        break;
      case 'release':
        row = (
          await q(
            `UPDATE ${j} SET status = CASE WHEN cancel_requested = 1 THEN 4 ELSE 0 END, attempts = attempts - 1, owner = NULL, ` +
              `lease_until = NULL, finished_at = ${cancelled(NOW_MS)} ${FENCE} ${RET}`,
            fence,
          )
        )[0];
        if (row && Number(row.status) === CANCELLED) await this.finished(q, row, null, null);
        break;
    }
    return row ? (Number(row.status) as StatusCode) : null;
  }

  /** Claims due jobs for `req`. */
  async claim(q: Q, req: ClaimRequest): Promise<{ claimed: JobRow[]; rateWaitUntil: number | null }> {
    const lease = Math.max(0, Math.round(req.leaseUntil - req.now));
    const dTasks = Object.keys(req.maxAttempts);
    const dMax = dTasks.map((x) => Math.trunc(req.maxAttempts[x]!));
    let remaining = req.limit;
    let rateWaitUntil: number | null = null;
    let claimed: JobRow[] = [];
    for (const g of req.groups) {
      if (remaining <= 0) break;
      let n = Math.min(remaining, g.limit);
      let rate: { window: number; used: number } | undefined;
      if (g.rate) {
        const r = await this.rateAllowance(q, g.tasks[0]!, g.rate);
        if (r.allowance <= 0) {
          if (r.due) rateWaitUntil = Math.min(rateWaitUntil ?? Infinity, r.window + g.rate.perMs - this.clock().skew);
          continue;
        }
        n = Math.min(n, r.allowance);
        rate = { window: r.window, used: r.used };
      }
      if (n <= 0) continue;
      const raw = await q(this.claimSql(), [req.owner, lease, g.tasks, n, dTasks, dMax]);
      const rows = raw.map((r: Record<string, unknown>) => {
        const row = jobRow(r, this.clock());
        row.owner = req.owner;
        return row;
      });
      if (rate && rows.length > 0) {
        await q(`UPDATE ${this.t.rate} SET window_start = $2, count = $3 WHERE task = $1`, [g.tasks[0], rate.window, rate.used + rows.length]);
      }
      remaining -= rows.length;
      claimed = claimed.length === 0 ? rows : claimed.concat(rows);
    }
    if (claimed.length > 1) claimed.sort((a, b) => a.priority - b.priority || a.run_at - b.run_at || a.id - b.id);
    return { claimed, rateWaitUntil };
  }

  /** The claim statement (parameters: owner, lease ms, tasks, limit, default-attempt tasks, their max attempts). */
  claimSql(): string {
    const j = this.t.jobs;
    return (
      `UPDATE ${j} SET status = 1, owner = $1, lease_until = ${NOW_MS} + $2, attempts = attempts + 1, started_at = ${NOW_MS}, ` +
      `max_attempts = COALESCE(max_attempts, (SELECT d.m FROM unnest($5::text[], $6::int[]) AS d(t, m) WHERE d.t = ${j}.task), 3) ` +
      `WHERE id IN (SELECT id FROM ${j} WHERE status = 0 AND run_at <= ${NOW_MS} AND task = ANY($3::text[]) ` +
      `AND NOT EXISTS (SELECT 1 FROM ${this.t.paused} p WHERE p.task = ${j}.task OR p.task = '*') ` +
      `ORDER BY priority, run_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING ${CLAIM_COLS}`
    );
  }

  /**
   * Successes of one owner and a claim of one group without a rate limit, in ONE statement (no BEGIN/COMMIT): the
   * hot path of a busy worker. Jobs with an `onComplete` follow-up are left out (`AND on_complete IS NULL`): the
   * caller settles those, and lost claims, in a transaction. Returns the ids settled and the rows claimed.
   */
  async settleAndClaim(
    run: Q,
    wins: readonly Extract<Outcome, { kind: 'succeeded' }>[],
    req: ClaimRequest | null,
    notify: [string, string],
  ): Promise<{ settled: Set<number>; claimed: JobRow[] }> {
    const j = this.t.jobs;
    const group = req?.groups[0];
    const dTasks = req ? Object.keys(req.maxAttempts) : [];
    const sql =
      `WITH s AS (UPDATE ${j} SET status = 2, finished_at = ${NOW_MS}, result = v.result, owner = NULL, lease_until = NULL ` +
      `FROM unnest($7::bigint[], $8::int[], $9::bytea[]) AS v(id, attempt, result) WHERE ${j}.id = v.id AND ${j}.status = 1 ` +
      `AND ${j}.attempts = v.attempt AND ${j}.owner = $10 AND ${j}.on_complete IS NULL RETURNING ${j}.id), ` +
      `c AS (${this.claimSql()}) ` +
      `SELECT c.*, (SELECT array_agg(id) FROM s) AS settled_ids, ` +
      `(SELECT pg_notify($11, $12) WHERE EXISTS (SELECT 1 FROM s)) AS n FROM (SELECT 1) AS one LEFT JOIN c ON true`;
    const rows = await run(sql, [
      req?.owner ?? null,
      req ? Math.max(0, Math.round(req.leaseUntil - req.now)) : 0,
      group ? group.tasks : [],
      group ? Math.min(req!.limit, group.limit) : 0,
      dTasks,
      dTasks.map((x) => Math.trunc(req!.maxAttempts[x]!)),
      wins.map((o) => o.id),
      wins.map((o) => o.attempt),
      wins.map((o) => o.result),
      wins[0]?.owner ?? null,
      ...notify,
    ]);
    const settled = new Set<number>(((rows[0]?.settled_ids ?? []) as string[]).map(Number));
    const claimed: JobRow[] = [];
    for (const r of rows) {
      if (r.id === null || r.id === undefined) continue;
      const row = jobRow(r, this.clock());
      row.owner = req!.owner;
      claimed.push(row);
    }
    if (claimed.length > 1) claimed.sort((a, b) => a.priority - b.priority || a.run_at - b.run_at || a.id - b.id);
    return { settled, claimed };
  }

  /** Returns running jobs whose lease ran out (charging the attempt) and deletes finished jobs past retention. */
  async sweep(run: Q, tx: (notify: boolean, fn: (q: Q) => Promise<void>) => Promise<void>): Promise<void> {
    const j = this.t.jobs;
    const keep: [number, number][] = [];
    for (const [status, ms] of [[SUCCEEDED, this.retention.succeeded], [FAILED, this.retention.failed], [CANCELLED, this.retention.cancelled]] as const) {
      if (Number.isFinite(ms)) keep.push([status, ms]);
    }
    const staleSql = keep.map((_, i) => `EXISTS (SELECT 1 FROM ${j} WHERE status = $${2 * i + 1}::smallint AND finished_at <= ${NOW_MS} - $${2 * i + 2}::bigint)`);
    const probe = await run(
      `SELECT EXISTS (SELECT 1 FROM ${j} WHERE status = 1 AND lease_until < ${NOW_MS}) AS expired` + (staleSql.length ? `, (${staleSql.join(' OR ')}) AS stale` : ''),
      keep.flat(),
    );
    const p = probe[0] as { expired: boolean; stale?: boolean };
    if (!p.expired && !p.stale) return;
    await tx(p.expired, async (q) => {
      if (p.expired) {
        const lost = (await q(
          `SELECT id, task, attempts, max_attempts, cancel_requested, on_complete FROM ${j} WHERE status = 1 AND lease_until < ${NOW_MS} FOR UPDATE SKIP LOCKED`,
        )) as { id: string; task: string; attempts: number; max_attempts: number | null; cancel_requested: number; on_complete: Buffer | null }[];
        for (const row of lost) {
          const error = JSON.stringify({ name: 'TaskLostError', message: `attempt ${row.attempts} was lost: its lease ran out` });
          const status = row.cancel_requested ? CANCELLED : row.attempts >= (row.max_attempts ?? 3) ? FAILED : 0;
          await q(
            `UPDATE ${j} SET status = $2::smallint, owner = NULL, lease_until = NULL, error = $3, run_at = ${NOW_MS}, ` +
              `finished_at = CASE WHEN $2::smallint = 0 THEN NULL ELSE ${NOW_MS} END WHERE id = $1 AND status = 1`,
            [row.id, status, error],
          );
          if (status !== 0) await this.finished(q, { ...row, status }, null, error);
        }
      }
      for (const [s, ms] of keep) {
        await q(`DELETE FROM ${j} WHERE id IN (SELECT id FROM ${j} WHERE status = $1 AND finished_at <= ${NOW_MS} - $2::bigint LIMIT 5000)`, [s, ms]);
      }
    });
  }

  /** The rate window of `task` on the server's clock, locked for this transaction. */
  private async rateAllowance(q: Q, task: string, rate: { max: number; perMs: number }): Promise<{ allowance: number; window: number; used: number; due: boolean }> {
    const rows = await q(
      `WITH n AS (SELECT (${NOW_MS} / $2) * $2 AS w), ` +
        `ins AS (INSERT INTO ${this.t.rate} (task, window_start, count) SELECT $1, w, 0 FROM n ON CONFLICT (task) DO NOTHING) ` +
        `SELECT n.w AS w FROM n`,
      [task, rate.perMs],
    );
    const window = Number(rows[0].w);
    const cur = (await q(`SELECT window_start, count FROM ${this.t.rate} WHERE task = $1 FOR UPDATE`, [task]))[0] as { window_start: string; count: number } | undefined;
    const used = cur && Number(cur.window_start) === window ? Number(cur.count) : 0;
    const allowance = rate.max - used;
    let due = false;
    if (allowance <= 0) {
      due = (await q(`SELECT 1 FROM ${this.t.jobs} WHERE status = 0 AND run_at <= ${NOW_MS} AND task = $1 LIMIT 1`, [task])).length > 0;
    }
    return { allowance, window, used, due };
  }
}

export { READY };
