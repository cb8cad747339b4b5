/**
 * Options of the PostgreSQL queues, their checks and defaults, and the check of the connection target.
 *
 * @module
 */
import { argTypeError, argValueError, describe } from '../common/errors.js';
import { tableName } from '../common/table-name.js';
import { validateOptions, type OptionSchema } from '../common/options.js';
import type { SerializerOption } from '../common/serializer.js';

/**
 * How durable a returned write is. `'full'`: the commit waits for the server's WAL flush (`synchronous_commit = on`).
 * `'normal'`: `synchronous_commit = off` for the queue's own transactions: a server crash may lose the last commits
 * (never corrupt the tables); a killed client loses nothing it was told was written.
 */
export type PostgresDurability = 'full' | 'normal';

/**
 * Where the queue lives: a connection string (`postgres://…` or `postgresql://…`), a `pg.Pool` the caller owns (never
 * ended by `close()`), or a `pg.PoolConfig` (the queue makes and ends its own pool).
 */
export type PostgresTarget = string | PgPoolLike | Record<string, unknown>;

/** The part of a `pg.Pool` the queue uses (any `pg.Pool` fits). */
export interface PgPoolLike {
  /** See `pg.Pool.query`. */
  query(...args: never[]): unknown;
  /** See `pg.Pool.connect`. */
  connect(...args: never[]): unknown;
  /** See `pg.Pool.end`. */
  end(...args: never[]): unknown;
}

/** Options of {@link PostgresQueue.open}. */
export interface PostgresQueueOptions<T = unknown> {
  /**
   * Queue name: 1 to 40 letters, digits or underscores; with the order and `unique` it names the table.
   * @default 'default'
   */
  name?: string | undefined;
  /**
   * PostgreSQL schema holding the queue tables (created on first open).
   * @default 'persist_queue'
   */
  schema?: string | undefined;
  /**
   * `'fifo'`, `'filo'` or `'priority'` (lower `priority` number first, then FIFO).
   * @default 'fifo'
   */
  order?: 'fifo' | 'filo' | 'priority' | undefined;
  /**
   * A put equal to a waiting (or taken, not yet done) item is ignored and returns `null`. Only with order `'fifo'`.
   * @default false
   */
  unique?: boolean | undefined;
  /**
   * Number of waiting items at which a put waits; 0 = unbounded.
   * @default 0
   */
  maxSize?: number | undefined;
  /**
   * `'json'`, `'v8'` or `{ encode, decode }`.
   * @default 'json'
   */
  serializer?: SerializerOption<T> | undefined;
  /**
   * See {@link PostgresDurability}.
   * @default 'full'
   */
  durability?: PostgresDurability | undefined;
  /**
   * true: `get()` removes the item at once. false: `taskDone()` removes it; items taken and not done return to the
   * queue when the instance closes or its holder lease runs out (the process died).
   * @default true
   */
  autoCommit?: boolean | undefined;
}

/** Options of {@link PostgresAckQueue.open}. */
export interface PostgresAckQueueOptions<T = unknown> {
  /** @default 'default' — see {@link PostgresQueueOptions.name}. */
  name?: string | undefined;
  /** @default 'persist_queue' — see {@link PostgresQueueOptions.schema}. */
  schema?: string | undefined;
  /**
   * `'fifo'` or `'filo'`.
   * @default 'fifo'
   */
  order?: 'fifo' | 'filo' | undefined;
  /** @default false — see {@link PostgresQueueOptions.unique}; an acked item may be put again. */
  unique?: boolean | undefined;
  /** @default 0 — see {@link PostgresQueueOptions.maxSize}; counts ready items. */
  maxSize?: number | undefined;
  /** @default 'json' — see {@link PostgresQueueOptions.serializer}. */
  serializer?: SerializerOption<T> | undefined;
  /** @default 'full' — see {@link PostgresDurability}. */
  durability?: PostgresDurability | undefined;
  /**
   * Milliseconds (server clock) a taken message stays reserved; not acked by then, it is ready again and an ack from
   * the first taker changes nothing. 0 = no time limit (the message stays reserved while its holder lives).
   * @default 0
   */
  visibilityTimeout?: number | undefined;
}

const IDENT = /^[A-Za-z0-9_]{1,40}$/;
const SCHEMA_IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,40}$/;
const COMMON: OptionSchema = {
  name: { kind: 'string', pattern: IDENT, patternText: '1 to 40 letters, digits or underscores' },
  schema: { kind: 'string', pattern: SCHEMA_IDENT, patternText: 'a letter or underscore, then up to 40 letters, digits or underscores' },
  unique: { kind: 'boolean' },
  maxSize: { kind: 'integer', min: 0 },
  serializer: { kind: 'custom', check: () => undefined }, // resolveSerializer checks it
  durability: { kind: 'enum', values: ['full', 'normal'] },
};
const PLAIN: OptionSchema = { ...COMMON, order: { kind: 'enum', values: ['fifo', 'filo', 'priority'] }, autoCommit: { kind: 'boolean' } };
const ACK: OptionSchema = {
  ...COMMON,
  order: { kind: 'enum', values: ['fifo', 'filo'] },
  visibilityTimeout: { kind: 'integer', min: 0, max: 2_147_483_647 },
};

/** Options after checks and defaults. @internal */
export interface ResolvedPgOptions {
  ack: boolean;
  name: string;
  schema: string;
  order: 'fifo' | 'filo' | 'priority';
  unique: boolean;
  maxSize: number;
  serializer: unknown;
  durability: PostgresDurability;
  autoCommit: boolean;
  visibilityTimeout: number;
}

/** Checks the options and fills in defaults. @internal */
export function resolvePgOptions(options: unknown, ack: boolean, where: string): ResolvedPgOptions {
  const o = validateOptions<PostgresQueueOptions & PostgresAckQueueOptions>(options, ack ? ACK : PLAIN, where);
  const r: ResolvedPgOptions = {
    ack,
    name: o.name ?? 'default',
    schema: o.schema ?? 'persist_queue',
    order: o.order ?? 'fifo',
    unique: o.unique ?? false,
    maxSize: o.maxSize ?? 0,
    serializer: o.serializer,
    durability: o.durability ?? 'full',
    autoCommit: o.autoCommit ?? true,
    visibilityTimeout: o.visibilityTimeout ?? 0,
  };
  if (r.unique && r.order !== 'fifo') {
    throw argValueError(`The "unique" option works only with order 'fifo'. Received order '${r.order}'`);
  }
  return r;
}

/** The queue's table name (without schema), as the SQLite backend names its tables. @internal */
export function pgTableName(o: ResolvedPgOptions): string {
  return tableName(o).toLowerCase();
}


/** What kind of target was given. @internal */
export type CheckedTarget = { kind: 'url'; url: string } | { kind: 'pool'; pool: PgPoolLike } | { kind: 'config'; config: Record<string, unknown> };

/** Checks the `target` argument. @internal */
export function checkTarget(target: unknown, where: string): CheckedTarget {
  if (typeof target === 'string') {
    if (!/^postgres(ql)?:\/\//.test(target)) {
      throw argValueError(`The "target" argument of ${where} must be a postgres:// or postgresql:// connection string, a pg.Pool or a pg.PoolConfig. Received a string that is neither`);
    }
    return { kind: 'url', url: target };
  }
  if (target !== null && typeof target === 'object' && !Array.isArray(target)) {
    const t = target as Record<string, unknown>;
    if (typeof t.query === 'function' && typeof t.connect === 'function') return { kind: 'pool', pool: t as unknown as PgPoolLike };
    return { kind: 'config', config: t };
  }
  throw argTypeError(`The "target" argument of ${where} must be a connection string, a pg.Pool or a pg.PoolConfig. ${describe(target)}`);
}
