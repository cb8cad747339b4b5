/**
 * How the task layer opens a PostgreSQL target: the target check (a `postgres://` URL, a `pg.Pool` or a
 * `pg.PoolConfig`), the options that differ from SQLite, and the store.
 *
 * @module
 * @internal
 */
import { argTypeError, argValueError, rangeError } from '../../common/errors.js';
import type { ResolvedTaskOptions } from '../../tasks/options.js';
import type { FollowUp } from '../../tasks/store.js';
import { PostgresTaskStore } from './store.js';

/** Whether `target` names a PostgreSQL server rather than a SQLite file. */
export function isPostgresTarget(target: unknown): boolean {
  if (typeof target === 'string') return /^postgres(ql)?:\/\//.test(target);
  return target !== null && typeof target === 'object' && !Array.isArray(target) && !(target instanceof URL);
}

/** Throws the typed error of a blocking class given a PostgreSQL target. */
export function refuseSync(where: string): never {
  throw argValueError(
    `${where}: a PostgreSQL target needs the Promise class TaskQueue (a blocking API over a network connection is not offered). ` +
      'Use TaskQueue.open() with the same target',
  );
}

/** Opens the PostgreSQL store of a task queue; rejects the SQLite-only options. */
export function openPgTaskStore(target: unknown, raw: unknown, o: ResolvedTaskOptions, followUp: FollowUp, where: string): Promise<PostgresTaskStore> {
  const given = (raw ?? {}) as Record<string, unknown>;
  if (given.busyTimeout !== undefined) throw argTypeError(`The "busyTimeout" option of ${where} is for SQLite files only (PostgreSQL waits on row locks)`);
  if (o.durability === 'off') throw rangeError(`The "durability" option of ${where} must be 'full' or 'normal' on PostgreSQL. Received 'off'`);
  if (o.name.length > 40) throw rangeError(`The "name" option of ${where} must be at most 40 characters on PostgreSQL (table names). Received '${o.name}'`);
  return PostgresTaskStore.open(target, { name: o.name, schema: o.schema ?? 'persist_queue', durability: o.durability, retention: o.retention, followUp }, where);
}
