/**
 * Schedules: validating a definition, computing ticks (cron through croner, or a fixed interval), and turning the
 * ticks that are due into jobs according to `misfire`. Firing is a compare-and-set on the schedule row's
 * `next_run_at` in the store ({@link TaskStore.fireSchedule}), so any number of processes may fire the same schedule:
 * exactly one of them wins each tick.
 *
 * @module
 * @internal
 */
import { Cron } from 'croner';
import { argTypeError, argValueError, describe } from '../common/errors.js';
import { validateOptions, type OptionSchema } from '../common/options.js';
import type { TaskCore } from './core.js';
import { checkTask, SCHEDULE_JOB_SCHEMA } from './options.js';
import type { NewJob, ScheduleRow, TaskStore } from './store.js';
import type { ScheduleInfo, ScheduleJobOptions, ScheduleSpec } from './types.js';

/** A tick at most this late still runs under `misfire: 'skip'`. */
export const SKIP_GRACE_MS = 5000;
/** Most jobs one firing of `misfire: 'all'` enqueues. */
export const MAX_CATCH_UP = 1000;

const SPEC_SCHEMA: OptionSchema = {
  task: { kind: 'custom', check: (v) => void checkTask(v, 'task') },
  cron: { kind: 'string' },
  every: { kind: 'integer', min: 1, max: Number.MAX_SAFE_INTEGER },
  tz: { kind: 'string' },
  data: { kind: 'custom', check: () => undefined },
  options: {
    kind: 'custom',
    check: (v, l) => {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw argTypeError(`The "${l}" option must be an object. ${describe(v)}`);
      validateOptions(v, SCHEDULE_JOB_SCHEMA, `the schedule's "${l}"`, l);
    },
  },
  misfire: { kind: 'enum', values: ['skip', 'once', 'all'] },
};

/** Parses a cron expression (5 or 6 fields) in `tz`; throws a TypeError naming the problem. */
export function parseCron(expr: string, tz: string): Cron {
  const fields = expr.trim().split(/\s+/);
  if (fields.length === 1 && expr.trim().startsWith('@')) {
    // croner's nicknames: @yearly, @monthly, @weekly, @daily, @hourly
    try {
      return new Cron(expr.trim(), { timezone: tz, paused: true });
    } catch (err) {
      throw argValueError(`The "cron" option '${expr}' does not parse: ${(err as Error).message}`);
    }
  }
  if (fields.length !== 5 && fields.length !== 6) {
    throw argValueError(`The "cron" option must have 5 or 6 fields. Received '${expr}' (${fields.length} fields)`);
  }
  try {
    return new Cron(expr, { timezone: tz, paused: true, mode: fields.length === 5 ? '5-part' : '6-part' });
  } catch (err) {
    throw argValueError(`The "cron" option '${expr}' does not parse: ${(err as Error).message}`);
  }
}

function checkTz(tz: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw argValueError(`The "tz" option must be an IANA time zone. Received '${tz}'`);
  }
}

/** The first tick strictly after `after` (epoch ms), or null when the cron has no more. */
export function nextTick(row: Pick<ScheduleRow, 'cron' | 'every' | 'tz'>, after: number, cron?: Cron): number | null {
  if (row.every !== null) return after + row.every;
  const c = cron ?? parseCron(row.cron!, row.tz);
  const d = c.nextRun(new Date(after));
  return d ? d.getTime() : null;
}

/** Validates `schedule(id, spec)` and builds the row to store (next tick from `now`). */
export function prepareSchedule(core: TaskCore, id: unknown, spec: unknown, now: number): ScheduleRow {
  if (typeof id !== 'string') throw argTypeError(`The "id" argument of schedule() must be of type string. ${describe(id)}`);
  if (id.length === 0 || id.length > 200) throw argValueError(`The "id" argument of schedule() must be 1 to 200 characters long`);
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw argTypeError(`The "spec" argument of schedule() must be an object. ${describe(spec)}`);
  const s = validateOptions<ScheduleSpec>(spec, SPEC_SCHEMA, 'schedule()');
  if (s.task === undefined) throw argTypeError('schedule() needs a "task"');
  if ((s.cron === undefined) === (s.every === undefined)) throw argValueError('schedule() needs exactly one of "cron" and "every"');
  const tz = s.tz ?? 'UTC';
  checkTz(tz);
  let cron: Cron | undefined;
  if (s.cron !== undefined) cron = parseCron(s.cron, tz);
  const options: ScheduleJobOptions = s.options ?? {};
  const data = core.codec.encode(s.data === undefined ? null : s.data);
  const base = { cron: s.cron ?? null, every: s.every ?? null, tz };
  const next = nextTick(base, now, cron);
  if (next === null) throw argValueError(`The "cron" option '${s.cron}' never fires`);
  const optionsJson = JSON.stringify(options);
  const misfire = s.misfire ?? 'once';
  const def = JSON.stringify([s.task, base.cron, base.every, tz, data.toString('base64'), optionsJson, misfire]);
  return { id, task: s.task, ...base, data, options: optionsJson, misfire, def, next_run_at: next, last_run_at: null };
}

/** A row as `schedules()` shows it. */
export function scheduleInfo(row: ScheduleRow): ScheduleInfo {
  const info: ScheduleInfo = { id: row.id, task: row.task, tz: row.tz, nextRunAt: new Date(row.next_run_at) };
  if (row.cron !== null) info.cron = row.cron;
  if (row.every !== null) info.every = row.every;
  if (row.last_run_at !== null) info.lastRunAt = new Date(row.last_run_at);
  return info;
}

/**
 * The jobs due ticks of `row` become at `now`, and the schedule's next tick after `now`. `misfire`: `'all'` one job
 * per due tick (at most {@link MAX_CATCH_UP}), `'once'` one job, `'skip'` one job only if the latest due tick is at
 * most {@link SKIP_GRACE_MS} late.
 */
export function planTicks(core: TaskCore, row: ScheduleRow, now: number): { jobs: NewJob[]; next: number; last: number | null } {
  const cron = row.cron !== null ? parseCron(row.cron, row.tz) : undefined;
  const ticks: number[] = [];
  let t: number | null = row.next_run_at;
  while (t !== null && t <= now) {
    if (ticks.length < MAX_CATCH_UP) ticks.push(t);
    else ticks[ticks.length - 1] = t;
    if (row.every !== null && ticks.length >= MAX_CATCH_UP) {
      // Jump over the rest of a long outage arithmetically.
      t = row.next_run_at + Math.floor((now - row.next_run_at) / row.every + 1) * row.every;
      break;
    }
    t = nextTick(row, t, cron);
  }
  const next = t ?? Number.MAX_SAFE_INTEGER;
  if (ticks.length === 0) return { jobs: [], next, last: null };
  const latest = ticks[ticks.length - 1]!;
  let fire: number[];
  if (row.misfire === 'all') fire = ticks;
  else if (row.misfire === 'once') fire = [latest];
  else fire = now - latest <= SKIP_GRACE_MS ? [latest] : [];
  const options = JSON.parse(row.options) as ScheduleJobOptions;
  const jobs = fire.map((tick) => core.build(row.task, row.data, { ...options, runAt: Math.min(tick, now) }, now));
  return { jobs, next, last: latest };
}

/** Fires every due schedule tick (a compare-and-set per schedule: one process wins each tick). */
export async function fireDueSchedules(store: TaskStore, core: TaskCore, now: number): Promise<void> {
  for (const row of await store.listSchedules()) {
    if (row.next_run_at > now) continue;
    const plan = planTicks(core, row, now);
    await store.fireSchedule(row.id, row.next_run_at, plan.next, plan.last, plan.jobs);
  }
}
