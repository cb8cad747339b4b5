/** The README's graceful-shutdown examples end cleanly on SIGTERM and SIGINT, blocked in get() or not. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import * as lib from '../dist/esm/index.js';
import { tempDir } from './helpers/classes.js';

const { dir, cleanup } = tempDir('pq-shutdown-');
afterAll(cleanup);

describe('README graceful shutdown examples', () => {
  for (const example of ['shutdown-sync.mjs', 'shutdown-async.mjs']) {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      it(`${example} handles what was put, then ends on ${sig} with exit code 0`, async () => {
        const file = join(dir, `${example}-${sig}.db`);
        const q = lib.SqliteQueueSync.open(file);
        q.putMany([{ n: 1 }, { n: 2 }, { n: 3 }]);
        const child = spawn(process.execPath, [fileURLToPath(new URL(`../examples/${example}`, import.meta.url)), file], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stderr.on('data', (d) => (err += String(d)));
        const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
        await new Promise<void>((resolve) => child.stdout.on('data', (d) => { out += String(d); if (out.includes('ready')) resolve(); }));
        expect(q.join({ timeout: 10_000 })).toBe(true); // the three items were handled: the child now waits in get()
        child.kill(sig);
        expect(await exit, err).toBe(0);
        expect(out).toContain('handled 6');
        q.close();
      });
    }
  }
});
