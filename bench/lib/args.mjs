// Command-line flags of bench/run.mjs. Every flag has a default that makes the
// full run; --quick swaps in a short smoke run (small N, short time caps, 1M pass
// shrunk). Flags given explicitly always win over --quick.
const HELP = `usage: node bench/run.mjs [flags]
  --quick                 short smoke run (N=1000, 3 runs, small memory pass)
  --n 10000,100000        item counts per workload (comma list)
  --runs 3                runs per figure (median is reported; at least 3 for the published table)
  --full-n 500            cap on N for single-item rows at durability 'full' (one fsync per item);
                          batched rows use 20x, multi-process rows 4x this cap
  --phase-seconds 2.5      wall-time cap per timed phase; a capped phase reports the items it did
  --mem-n 1000000         items in the memory / open-time pass (1 KiB each)
  --only a,b,c,d,conc,wake,mem,tasks,postgres,python,peers,raw,lib   run only these parts (default: all;
                          'tasks' = the task-layer part, reported in docs/benchmarks-tasks.md; 'postgres' = the
                          PostgreSQL part, reported in docs/benchmarks-postgres.md; '--only tasks' or '--only
                          postgres' runs just it; 'wake' = put wake-up latency of the library's classes, with 'lib')
  --wake-samples 200      puts per wake-up latency row (same process and cross-process each)
  --systems LIST          only these system ids (see README), e.g. SqliteQueueSync,raw-sqlite
  --out docs/benchmarks.md  where to write the report ('-' = stdout only)
  --tasks-n 20000         jobs per end-to-end run of the tasks part (also the raw ceiling's N)
  --lat-samples 100       jobs per latency row of the tasks part
  --task-systems LIST     tasks part: only these of persist-queue,plainjob,liteque,bullmq,raw
  --tasks-out docs/benchmarks-tasks.md  where the tasks part's report goes ('-' = stdout)
  --pg-n 1000             PostgreSQL part: single puts/gets and jobs per row (batches: 10x)
  --pg-systems LIST       PostgreSQL part: task systems, of persist-queue,pg-boss,graphile-worker
  --postgres-out docs/benchmarks-postgres.md  where the PostgreSQL part's report goes ('-' = stdout)
  --no-install            do not install bench/peers/node_modules (or bench/postgres/peers) when missing
  --json FILE             also dump all raw results as JSON
  -h, --help`;

export function parseArgs(argv) {
  const o = {
    quick: false, n: null, runs: null, fullN: null, phaseSeconds: null, memN: null,
    only: null, systems: null, out: 'docs/benchmarks.md', install: true, json: null,
    tasksN: null, latSamples: null, taskSystems: null, tasksOut: null, wakeSamples: null, pgN: null, pgSystems: null,
    postgresOut: null,
  };
  const list = (v) => v.split(',').map((s) => s.trim()).filter(Boolean);
  const num = (flag, v) => {
    const x = Number(String(v).replace(/_/g, ''));
    if (!Number.isFinite(x) || x <= 0) throw new RangeError(`${flag} needs a positive number, got ${v}`);
    return x;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const val = () => {
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) throw new TypeError(`${flag} needs a value`);
      return argv[++i];
    };
    switch (flag) {
      case '--quick': o.quick = true; break;
      case '--n': o.n = list(val()).map((v) => Math.round(num('--n', v))); break;
      case '--runs': o.runs = Math.round(num('--runs', val())); break;
      case '--full-n': o.fullN = Math.round(num('--full-n', val())); break;
      case '--phase-seconds': o.phaseSeconds = num('--phase-seconds', val()); break;
      case '--mem-n': o.memN = Math.round(num('--mem-n', val())); break;
      case '--only': o.only = new Set(list(val())); break;
      case '--systems': o.systems = new Set(list(val())); break;
      case '--out': o.out = val(); break;
      case '--tasks-n': o.tasksN = Math.round(num('--tasks-n', val())); break;
      case '--wake-samples': o.wakeSamples = Math.round(num('--wake-samples', val())); break;
      case '--lat-samples': o.latSamples = Math.round(num('--lat-samples', val())); break;
      case '--task-systems': o.taskSystems = new Set(list(val())); break;
      case '--tasks-out': o.tasksOut = val(); break;
      case '--pg-n': o.pgN = Math.round(num('--pg-n', val())); break;
      case '--pg-systems': o.pgSystems = new Set(list(val())); break;
      case '--postgres-out': o.postgresOut = val(); break;
      case '--no-install': o.install = false; break;
      case '--json': o.json = val(); break;
      case '-h': case '--help': console.log(HELP); process.exit(0);
      default: throw new TypeError(`unknown flag ${a}\n${HELP}`);
    }
  }
  const d = o.quick
    ? { n: [1000], runs: 3, fullN: 100, phaseSeconds: 1, memN: 20000, wakeSamples: 50 }
    : { n: [10000, 100000], runs: 3, fullN: 500, phaseSeconds: 2.5, memN: 1000000, wakeSamples: 200 };
  for (const k of Object.keys(d)) if (o[k] == null) o[k] = d[k];
  o.n.sort((x, y) => x - y);
  o.tasksOut ??= o.out === '-' ? '-' : 'docs/benchmarks-tasks.md';
  o.postgresOut ??= o.out === '-' ? '-' : 'docs/benchmarks-postgres.md';
  return o;
}

export function wants(opts, part) {
  return !opts.only || opts.only.has(part);
}

/** Whether any part of the queue report (docs/benchmarks.md) runs. */
export function wantsQueueReport(opts) {
  return ['a', 'b', 'c', 'd', 'conc', 'wake', 'mem'].some((p) => wants(opts, p));
}
