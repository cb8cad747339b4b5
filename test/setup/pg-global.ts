/**
 * Vitest global setup: a PostgreSQL server for the PostgreSQL classes (see scripts/pg-server.mjs). Sets `PG_URL`
 * for the test processes; when no server can be started, `PG_URL` stays unset and the PostgreSQL classes are skipped
 * (test/helpers/classes.ts), with a note on stderr.
 */
import { startPg } from '../../scripts/pg-server.mjs';

let server: { url: string; stop(): Promise<void> } | undefined;

export async function setup(): Promise<void> {
  if (process.env.PQ_NO_PG === '1') return;
  try {
    server = await startPg();
    process.env.PG_URL = server.url;
  } catch (err) {
    process.stderr.write(`persist-queue tests: no PostgreSQL server (${(err as Error).message}); PostgreSQL classes skipped\n`);
  }
}

export async function teardown(): Promise<void> {
  await server?.stop();
}
