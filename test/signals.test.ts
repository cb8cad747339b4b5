/**
 * Importing the library installs no signal handler (SPEC guarantee 10): Ctrl-C, `kill` and `docker stop` end a
 * process whose thread is blocked in a sync `get()`, and one whose Promise `get()` waits, by Node's default action.
 * (Before: proper-lockfile's signal-exit listened to SIGINT/SIGTERM/SIGHUP from import on; its handler can never run
 * while a sync get blocks the thread, so only SIGKILL ended such a process.)
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ALL_CLASSES, tempDir } from './helpers/classes.js';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const ENTRIES = ['esm/index.js', 'esm/file.js', 'esm/sqlite.js', 'cjs/index.js', 'cjs/file.js', 'cjs/sqlite.js'];
const { dir, cleanup } = tempDir('pq-signals-');
afterAll(cleanup);

function run(src: string): { ready: Promise<string>; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>; pid: number; err(): string } {
  const child = spawn(process.execPath, ['--input-type=module', '-e', src], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += String(d)));
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += String(d);
      if (out.includes('\n')) resolve(out.trim());
    });
    child.on('exit', (code, signal) => reject(new Error(`child ended (${code ?? signal}) before it was ready: ${err}`)));
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { ready, exit, pid: child.pid!, err: () => err };
}

describe('signals', () => {
  it('importing any entry point (ESM or CommonJS) adds no signal listener', async () => {
    const names = Object.keys(constants.signals);
    const src = `import { createRequire } from 'node:module';
      const require = createRequire(import.meta.url);
      const names = ${JSON.stringify(names)};
      const before = names.map((n) => process.listenerCount(n));
      for (const e of ${JSON.stringify(ENTRIES)}) {
        const p = ${JSON.stringify(DIST)} + e;
        if (e.startsWith('esm/')) await import(p); else require(p);
      }
      const added = names.filter((n, i) => process.listenerCount(n) !== before[i]);
      process.stdout.write(JSON.stringify(added) + '\\n');`;
    const c = run(src);
    expect(JSON.parse(await c.ready)).toEqual([]);
    expect((await c.exit).code).toBe(0);
  });

  for (const cls of ALL_CLASSES) {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      it(`${cls.name} blocked in get() ends on ${sig}`, async () => {
        const loc = cls.location(join(dir, `${cls.name}-${sig}`));
        const src = `import { mkdirSync } from 'node:fs';
          import * as lib from ${JSON.stringify(join(DIST, `esm/${cls.entry}.js`))};
          mkdirSync(${JSON.stringify(join(dir, `${cls.name}-${sig}`))}, { recursive: true });
          const q = await lib.${cls.name}.open(...${JSON.stringify(cls.openArgs(loc))});
          const got = q.get(); // ${cls.flavour === 'sync' ? 'blocks this thread: the line below never runs' : 'waits on timers'}
          process.stdout.write('waiting\\n');
          await got;`;
        // The sync child cannot say "I am in get()" from inside it: it says so just before. A signal that arrives
        // first is handled the same way (the default action ends the process at once; a JS handler could only run
        // once the event loop turns, which a blocked get() never lets it do).
        const c = run(cls.flavour === 'sync' ? src.replace("const got = q.get();", "process.stdout.write('waiting\\n'); const got = q.get();") : src);
        await c.ready;
        process.kill(c.pid, sig);
        const end = await c.exit;
        expect(end, c.err()).toEqual({ code: null, signal: sig });
      });
    }
  }
});
