/**
 * Tables, indexes and the schema version, created on first open under a transaction-level advisory lock (many hosts
 * may open at the same moment; `CREATE … IF NOT EXISTS` alone races on the catalog).
 *
 * Every queue table:
 *   id bigserial primary key, data bytea, priority int, status smallint (1 ready, 2 taken, 5 acked, 9 failed),
 *   attempts int, owner uuid (holder of a taken row), lease timestamptz (visibility deadline, server clock),
 *   ukey bytea (sha256 of the item for unique queues), created timestamptz.
 * Holders (`pq_holders`): one row per open queue instance, `expires` pushed forward by a heartbeat; a taken row whose
 * holder row is missing or expired (the process died) is ready again.
 *
 * @module
 */
import type { Db } from './db.js';

/** Version of the layout below; a later release migrates from it. */
export const SCHEMA_VERSION = 1;

/** Quotes an identifier (already checked to be [A-Za-z0-9_]). @internal */
export const ident = (s: string): string => `"${s}"`;

/** The LISTEN channel of a schema. @internal */
export const channelOf = (schema: string): string => `pq_${schema}`.slice(0, 63);

/** Creates the schema, the shared tables and the queue table with its indexes, once. @internal */
export async function ensureSchema(db: Db, schema: string, table: string): Promise<void> {
  const s = ident(schema);
  const t = `${s}.${ident(table)}`;
  const exists = await db.run<{ ok: boolean }>(
    `SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL AS ok`,
    [`${s}.pq_holders`, t],
    'open failed',
  );
  if (exists[0]?.ok) return;
  await db.tx(async (q) => {
    await q(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`persist_queue:${schema}`]);
    await q(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await q(`CREATE TABLE IF NOT EXISTS ${s}.pq_meta (key text PRIMARY KEY, value text NOT NULL)`);
    await q(`INSERT INTO ${s}.pq_meta (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO NOTHING`, [String(SCHEMA_VERSION)]);
    await q(
      `CREATE TABLE IF NOT EXISTS ${s}.pq_holders (id uuid PRIMARY KEY, tbl text NOT NULL, taken bigint NOT NULL DEFAULT 0, expires timestamptz NOT NULL)`,
    );
    await q(
      `CREATE TABLE IF NOT EXISTS ${t} (` +
        'id bigserial PRIMARY KEY, data bytea NOT NULL, priority bigint NOT NULL DEFAULT 0, ' +
        'status smallint NOT NULL DEFAULT 1, attempts integer NOT NULL DEFAULT 0, owner uuid, lease timestamptz, ' +
        'ukey bytea, created timestamptz NOT NULL DEFAULT now())',
    );
    await q(`CREATE INDEX IF NOT EXISTS ${ident(`${table}_ready`)} ON ${t} (priority, id) WHERE status = 1`);
    await q(`CREATE INDEX IF NOT EXISTS ${ident(`${table}_taken`)} ON ${t} (owner) WHERE status = 2`);
    await q(`CREATE UNIQUE INDEX IF NOT EXISTS ${ident(`${table}_ukey`)} ON ${t} (ukey) WHERE status IN (1, 2)`);
  }, 'open failed');
}
