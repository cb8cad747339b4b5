// Python persist-queue (the project this library is a port of), when
// `python3 -c "import persistqueue"` works here, or from its source vendored at ../shared/vendor/python-persist-queue. Its workloads run in a Python
// process (bench/python/persistqueue_bench.py); only a and b (it has no batch API).
// Durability: SQLiteQueue with auto_commit=True (its own pragmas; commit per
// put/get); file Queue with autosave=True (no fsync).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ITEM_SIZES } from '../lib/items.mjs';

const SCRIPT = fileURLToPath(new URL('../python/persistqueue_bench.py', import.meta.url));
/** The real Python persist-queue source beside the repository (standard library only), when it is there. */
const VENDORED = fileURLToPath(new URL('../../../shared/vendor/python-persist-queue', import.meta.url));
const ENV = existsSync(VENDORED) ? { ...process.env, PYTHONPATH: [VENDORED, process.env.PYTHONPATH].filter(Boolean).join(delimiter) } : process.env;

function probe() {
  try {
    const v = execFileSync('python3', ['-c', 'import persistqueue,sys; print(getattr(persistqueue, "__version__", "?"))'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 20000,
      env: ENV,
    });
    return { ok: true, version: v.toString().trim() };
  } catch (e) {
    const msg = (e.stderr?.toString() || e.message || '').trim().split('\n').pop();
    return { ok: false, reason: `python3 -c "import persistqueue" fails here (${msg || 'no python3'}; neither installed nor vendored at ../shared/vendor/python-persist-queue)` };
  }
}

let cached;
export async function listSystems() {
  cached ??= probe();
  return [
    ['sqlite', 'normal', 'SQLiteQueue(auto_commit=True): its default pragmas, one commit per put/get'],
    ['file', 'off', 'Queue(autosave=True): file chunks + info file, no fsync'],
  ].map(([kind, durability, note]) => ({
    id: `python-persistqueue/${kind}`,
    module: 'python-persistqueue',
    label: `Python persist-queue ${cached.version ?? ''} ${kind === 'sqlite' ? 'SQLiteQueue' : 'Queue (file)'}`,
    kind: 'peer',
    backend: kind,
    pyKind: kind,
    durability,
    durabilityNote: note,
    promise: false,
    multiProcess: false,
    skip: cached.ok ? null : cached.reason,
    version: cached.version ?? null,
  }));
}

export async function runExternal(sys, task) {
  const arg = { ...task, kind: sys.pyKind, template: ITEM_SIZES[task.size] };
  const r = spawnSync('python3', [SCRIPT, JSON.stringify(arg)], { encoding: 'utf8', timeout: 600000, env: ENV });
  if (r.status !== 0) throw new Error(`python exited ${r.status}: ${(r.stderr || '').trim().split('\n').pop()}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  if (out.unsupported) return { unsupported: out.unsupported };
  return out.runs;
}
