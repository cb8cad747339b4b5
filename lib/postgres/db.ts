/**
 * The connection layer: loads `pg` on first use (a clear error naming it when it is not installed), owns or borrows a
 * pool, runs statements with the queue's durability, turns connection failures into typed errors, and keeps one
 * dedicated LISTEN client per pool and process, shared by every queue on that pool.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { QueueError } from '../common/errors.js';
import type { CheckedTarget, PgPoolLike, PostgresDurability } from './options.js';

/** `pg` (node-postgres) is not installed. Code `ERR_QUEUE_CLIENT_MISSING`. */
export class PostgresClientMissingError extends QueueError {
  constructor(cause: unknown) {
    super("persist-queue/postgres needs the 'pg' package (node-postgres): npm install pg", 'ERR_QUEUE_CLIENT_MISSING', { cause });
  }
}

/**
 * A statement failed because the connection to the server failed (server restart, `pg_terminate_backend`, network).
 * Whether a write in flight committed is unknown to the client; the queue's statements are single transactions, so it
 * either fully happened or not at all. Code `ERR_QUEUE_CONNECTION`.
 */
export class PostgresConnectionError extends QueueError {
  constructor(message: string, cause: unknown) {
    super(message, 'ERR_QUEUE_CONNECTION', { cause });
  }
}

/* eslint-disable @typescript-eslint/no-explicit-any */
type Pg = any;
let pgModule: Pg | undefined;

/** Loads `pg`, or throws {@link PostgresClientMissingError}. @internal */
export function loadPg(): Pg {
  if (pgModule) return pgModule;
  const req = createRequire(__filename);
  try {
    pgModule = req('pg');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && /'pg'/.test(String((err as Error).message))) {
      throw new PostgresClientMissingError(err);
    }
    throw err;
  }
  return pgModule;
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004']);

/** Whether `err` is a lost or refused connection. @internal */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  if (!e) return false;
  if (e.code && CONNECTION_CODES.has(e.code)) return true;
  return /Connection terminated|terminating connection|Client has encountered a connection error|not queryable|connection timeout/i.test(e.message ?? '');
}

/** Turns a driver error into the library's: connection problems become {@link PostgresConnectionError}. @internal */
export function translate(err: unknown, what: string): Error {
  if (err instanceof QueueError) return err;
  if (isConnectionError(err)) return new PostgresConnectionError(`${what}: the connection to PostgreSQL failed (${(err as Error).message})`, err);
  if (err instanceof Error) return new QueueError(`${what}: ${err.message}`, 'ERR_QUEUE_IO', { cause: err });
  return new QueueError(`${what}: ${String(err)}`, 'ERR_QUEUE_IO', { cause: err });
}

const statementNames = new Map<string, string>();
/** A name per statement text (the client refuses one name for two texts). */
function statementName(sql: string): string {
  let name = statementNames.get(sql);
  if (name === undefined) {
    name = `pq_${createHash('sha1').update(sql).digest('hex').slice(0, 24)}`;
    if (statementNames.size > 10_000) statementNames.clear();
    statementNames.set(sql, name);
  }
  return name;
}

interface Shared {
  refs: number;
  listener: Listener;
}
const listeners = new WeakMap<object, Shared>();
const poolIds = new WeakMap<object, number>();
let nextPoolId = 1;

/** One pool as a queue uses it. @internal */
export class Db {
  readonly pool: Pg;
  private readonly owned: boolean;
  private readonly sessionDurability: boolean;
  readonly listener: Listener;
  /** Names the server in this process's signal keys: the URL, or `pool<n>` for a pool (ours or the caller's). */
  readonly identity: string;
  private ended = false;

  constructor(target: CheckedTarget, readonly durability: PostgresDurability) {
    const pg = loadPg();
    if (target.kind === 'pool') {
      this.pool = target.pool as PgPoolLike;
      this.owned = false;
    } else {
      const config: Record<string, unknown> = target.kind === 'url' ? { connectionString: target.url } : { ...target.config };
      if (durability === 'normal') config.options = `${config.options ?? ''} -c synchronous_commit=off`.trim();
      config.max ??= 10;
      this.pool = new pg.Pool(config);
      this.pool.on('error', () => undefined); // an idle client's lost connection: the pool drops it; the next call reconnects
      this.owned = true;
    }
    this.sessionDurability = this.owned || durability === 'full';
    let shared = listeners.get(this.pool);
    if (!shared) {
      shared = { refs: 0, listener: new Listener(this.pool.options ?? {}) };
      listeners.set(this.pool, shared);
    }
    shared.refs++;
    this.listener = shared.listener;
    if (target.kind === 'url') this.identity = target.url;
    else {
      if (!poolIds.has(this.pool)) poolIds.set(this.pool, nextPoolId++);
      this.identity = `pool${poolIds.get(this.pool)}`;
    }
  }

  /**
   * One statement in its own transaction (with `synchronous_commit = off` for 'normal' on a caller's pool).
   * `prepared`: send it as a named (prepared) statement, parsed once per connection: for the hot statements (put, get).
   */
  async run<R = any>(sql: string, params: unknown[], what: string, prepared = false): Promise<R[]> {
    try {
      if (this.sessionDurability) {
        const r = prepared ? await this.pool.query({ name: statementName(sql), text: sql, values: params }) : await this.pool.query(sql, params);
        return r.rows as R[];
      }
      return await this.tx(async (q) => q(sql, params), what);
    } catch (err) {
      throw translate(err, what);
    }
  }

  /** Several statements in one transaction. */
  async tx<R>(fn: (q: (sql: string, params?: unknown[]) => Promise<any[]>) => Promise<R>, what: string): Promise<R> {
    let client: Pg;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw translate(err, what);
    }
    let broken: unknown;
    try {
      await client.query('BEGIN');
      if (this.durability === 'normal' && !this.owned) await client.query('SET LOCAL synchronous_commit = off');
      const r = await fn(async (sql, params) => (await client.query(sql, params)).rows);
      await client.query('COMMIT');
      return r;
    } catch (err) {
      broken = isConnectionError(err) ? err : undefined;
      try {
        if (!broken) await client.query('ROLLBACK');
      } catch (e) {
        broken = e;
      }
      throw translate(err, what);
    } finally {
      client.release(broken instanceof Error ? broken : undefined);
    }
  }

  /** Drops this queue's reference; ends an owned pool. */
  async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    const shared = listeners.get(this.pool);
    if (shared && --shared.refs <= 0) {
      listeners.delete(this.pool);
      await shared.listener.close();
    }
    if (this.owned) await this.pool.end().catch(() => undefined);
  }
}

/**
 * The dedicated LISTEN connection of one pool: one per pool and process, shared. Reconnects with backoff after a
 * lost connection and then reports `''` to every subscriber (waiters re-check, covering notifications sent meanwhile);
 * a channel whose LISTEN becomes active reports `''` too (a write committed before it was active is found by that
 * re-check). Connects on the first subscription.
 * @internal
 */
export class Listener {
  private client: Pg | undefined;
  private readonly channels = new Map<string, Set<(payload: string) => void>>();
  /** Channels whose LISTEN is active on the current connection. */
  private active = new Set<string>();
  private connecting: Promise<void> | undefined;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  /** True while the connection is up and LISTEN is active on every channel it had when it connected. */
  live = false;

  constructor(private readonly config: Record<string, unknown>) {}

  /** Whether notifications on `channel` arrive now (its LISTEN is active on a live connection). */
  isActive(channel: string): boolean {
    return this.live && this.active.has(channel);
  }

  /** Subscribes to `channel`; resolves once LISTEN is active (or the attempt failed: it is retried). */
  async listen(channel: string, fn: (payload: string) => void): Promise<void> {
    let set = this.channels.get(channel);
    const fresh = set === undefined;
    if (!set) {
      set = new Set();
      this.channels.set(channel, set);
    }
    set.add(fn);
    const client = this.client;
    if (fresh && client && this.live) {
      try {
        await client.query(`LISTEN "${channel}"`);
      } catch {
        return; // the connection is lost: the reconnect listens again and reports '' to every subscriber
      }
      if (this.client !== client || this.channels.get(channel) !== set) return;
      this.active.add(channel);
      for (const f of set) f(''); // re-check: a write may have committed before LISTEN was active
      return;
    }
    await this.ensure();
  }

  unlisten(channel: string, fn: (payload: string) => void): void {
    const set = this.channels.get(channel);
    if (!set) return;
    set.delete(fn);
    if (set.size === 0) {
      this.channels.delete(channel);
      this.active.delete(channel);
      if (this.client && this.live) this.client.query(`UNLISTEN "${channel}"`).catch(() => undefined);
    }
  }

  private ensure(): Promise<void> {
    if (this.closed || this.client) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<void> {
    const pg = loadPg();
    const client = new pg.Client(this.config);
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    client.on('notification', (msg: { channel: string; payload?: string }) => {
      for (const fn of this.channels.get(msg.channel) ?? []) fn(msg.payload ?? '');
    });
    try {
      await client.connect();
      (client as { connection?: { stream?: { unref?(): void } } }).connection?.stream?.unref?.();
      // channels subscribed while this loop awaits are listened to as well, before the connection goes live
      const done = new Set<string>();
      for (;;) {
        const todo = [...this.channels.keys()].filter((c) => !done.has(c));
        if (todo.length === 0) break;
        for (const ch of todo) {
          await client.query(`LISTEN "${ch}"`);
          done.add(ch);
        }
      }
      if (this.closed) {
        await client.end().catch(() => undefined);
        return;
      }
      this.client = client;
      this.active = done;
      this.live = true;
      for (const set of this.channels.values()) for (const fn of set) fn(''); // re-check after a gap
    } catch {
      client.end().catch(() => undefined);
      this.scheduleRetry();
    }
  }

  private lost(client: Pg): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.live = false;
    this.active = new Set();
    client.end().catch(() => undefined);
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer || this.channels.size === 0) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.ensure();
    }, 250);
    this.retryTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.live = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.connecting;
    const c = this.client;
    this.client = undefined;
    if (c) await c.end().catch(() => undefined);
  }
}
