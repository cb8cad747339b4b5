/**
 * `persist-queue` command: entry point. Parses arguments with `util.parseArgs` (strict: unknown flags are usage
 * errors), dispatches, and maps errors to exit codes: 0 done, 1 the command found a problem, 2 bad usage.
 * Never calls process.exit: it returns the exit code (the bin script sets `process.exitCode`).
 */
import { parseArgs } from 'node:util';
import * as C from './commands.js';
import { demo } from './demo.js';
import { repairFolder, repairSqlite } from './repair.js';
import { createInterface } from 'node:readline/promises';
import { runPg } from './pg-commands.js';
import { isPgUrl, pgTarget } from './pg-target.js';
import { tasksCmd } from './tasks.js';
import { watch } from './watch.js';
import { CliError, setColour, useColour, usageError } from './output.js';

export const USAGE = `usage: persist-queue <command> <target> [flags]
commands:
  info                 every queue and task queue in the target: kind, size, counts, bytes, oldest age
  peek [-n N]          the next N items without taking them (default 10)
  put [JSON...]        puts each argument, or each JSON line of stdin, in one transaction
  get [-n N] [--wait MS]  takes N items (default 1), prints them as JSON lines
  verify               checks every record or row; exit 1 if any is damaged
  export / import      all items as JSON lines on stdout / from stdin
  repair [--dry-run] [--yes]   backs up, drops damaged records/rows, keeps the rest in order
  import-python DIR    the items of a Python persist-queue file Queue folder (json serializer) into the target
  tasks list|show|counts|schedules|retry|cancel|purge <target> [ID...] [--status S] [--task T] [-n N] [--after ID]
                       the task queues of the target (purge: --status succeeded|failed|cancelled [--older-than MS])
  watch [--interval MS]  live view of every queue: size, puts/s, gets/s, oldest age (Ctrl-C ends it)
  demo [--items N] [--backend sqlite|file]   producer and consumer processes, exactly-once check (no target)
target: a SQLite file (.db), a file-queue folder, or a PostgreSQL connection string (postgres://user:pass@host/db)
       with --schema NAME (default "persist_queue"); verify, repair and watch do not apply to PostgreSQL
flags: --queue NAME (default "default"; tasks: the file's only task queue, else "default"), --kind fifo|filo|priority|unique|ack|ack-filo|ack-unique,
       --priority N (put into a priority queue), --json, -h/--help`;

const COMMANDS = ['info', 'peek', 'put', 'get', 'verify', 'export', 'import', 'import-python', 'repair'];

function int(v: string | undefined, flag: string, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  if (!/^-?\d+$/.test(v) || Number(v) < min) throw usageError(`${flag} must be an integer >= ${min} (got "${v}")`);
  return Number(v);
}

/** Runs the command line `argv` (without node and the script) and returns the exit code. */
export function main(argv: string[]): number | Promise<number> {
  setColour(useColour(process.stdout));
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: 'boolean', default: false },
        queue: { type: 'string' },
        status: { type: 'string' },
        task: { type: 'string' },
        after: { type: 'string' },
        'older-than': { type: 'string' },
        interval: { type: 'string' },
        kind: { type: 'string' },
        n: { type: 'string', short: 'n' },
        wait: { type: 'string' },
        priority: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
        items: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        yes: { type: 'boolean', short: 'y', default: false },
        backend: { type: 'string' },
        schema: { type: 'string' },
      },
    });
    const [cmd, target, ...rest] = positionals;
    if (values.help || cmd === 'help') {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (cmd === undefined) throw usageError('missing command');
    if (cmd === 'demo') {
      if (target !== undefined) throw usageError(`demo: unexpected argument "${target}"`);
      const backend = values.backend ?? 'sqlite';
      if (backend !== 'sqlite' && backend !== 'file') throw usageError(`--backend must be sqlite or file (got "${backend}")`);
      return demo({ items: int(values.items, '--items', 20000, 1), backend, json: values.json! }).catch(fail);
    }
    if (values.items !== undefined || values.backend !== undefined) throw usageError('--items and --backend are options of demo');
    if (cmd === 'tasks') {
      const [path, ...ids] = rest;
      if (target === undefined) throw usageError('tasks: missing subcommand (list, show, counts, schedules, retry, cancel, purge)');
      if (path === undefined) throw usageError(`tasks ${target}: missing target (a SQLite file or a PostgreSQL connection string)`);
      const pg = isPgUrl(path);
      if (!pg) {
        if (values.schema !== undefined) throw usageError('--schema is for PostgreSQL targets');
        const t = C.resolveTarget(path, false);
        if (t.type !== 'sqlite') throw usageError(`${path}: task queues live in SQLite files or PostgreSQL, not in queue folders`);
      }
      return tasksCmd(target, pg ? pgTarget(path, values.schema) : { type: 'sqlite', path }, {
        json: values.json!,
        queue: values.queue,
        status: values.status,
        task: values.task,
        n: int(values.n, '-n', 50, 1),
        after: int(values.after, '--after', 0, 0),
        olderThan: int(values['older-than'], '--older-than', 0, 0),
      }, ids).catch(fail);
    }
    if (values.status !== undefined || values.task !== undefined || values.after !== undefined || values['older-than'] !== undefined) {
      throw usageError('--status, --task, --after and --older-than are options of tasks');
    }
    if (cmd === 'watch') {
      if (target === undefined) throw usageError('watch: missing target (a SQLite file or a queue folder)');
      if (rest.length > 0) throw usageError(`watch: unexpected argument "${rest[0]}"`);
      if (isPgUrl(target)) throw usageError('watch: not available for PostgreSQL targets (use info)');
      if (values.schema !== undefined) throw usageError('--schema is for PostgreSQL targets');
      return watch(C.resolveTarget(target, false), { interval: int(values.interval, '--interval', 1000, 100), json: values.json! }).catch(fail);
    }
    if (values.interval !== undefined) throw usageError('--interval is an option of watch');
    if (!COMMANDS.includes(cmd)) throw usageError(`unknown command "${cmd}"`);
    if (target === undefined) throw usageError(`${cmd}: missing target (a SQLite file, a queue folder or a PostgreSQL connection string)`);
    if (cmd === 'import-python' && rest.length !== 1) throw usageError('import-python: give the target and the Python queue folder');
    if (rest.length > 0 && cmd !== 'put' && cmd !== 'import-python') throw usageError(`${cmd}: unexpected argument "${rest[0]}"`);
    const o: C.Opts = {
      json: values.json!,
      queue: values.queue ?? 'default',
      kind: values.kind,
      n: int(values.n, '-n', cmd === 'peek' ? 10 : 1, 1),
      wait: int(values.wait, '--wait', 0, 0),
      priority: values.priority === undefined ? undefined : int(values.priority, '--priority', 0, -(2 ** 53)),
    };
    if (isPgUrl(target)) return runPg(cmd, pgTarget(target, values.schema), o, rest).catch(fail);
    if (values.schema !== undefined) throw usageError('--schema is for PostgreSQL targets');
    const t = C.resolveTarget(target, cmd === 'put' || cmd === 'import' || cmd === 'import-python');
    switch (cmd) {
      case 'info':
        return C.info(t, o);
      case 'peek':
        return C.peek(t, o);
      case 'put':
        return C.put(t, o, rest);
      case 'get':
        return C.get(t, o);
      case 'verify':
        return C.verify(t, o);
      case 'export':
        return C.exportCmd(t, o);
      case 'repair': {
        const ro = { dryRun: values['dry-run']!, json: o.json };
        const run = () => (t.type === 'sqlite' ? repairSqlite(t, ro) : repairFolder(t, ro));
        if (ro.dryRun || values.yes) return run();
        if (!process.stdin.isTTY) throw usageError('repair changes the queue: pass --yes (or --dry-run to see what it would drop)');
        return confirm(`repair ${target}: back it up and drop its damaged items? [y/N] `).then((ok) => (ok ? run() : (process.stderr.write('not repaired\n'), 1))).catch(fail);
      }
      case 'import-python':
        return C.importPython(t, o, rest[0]!);
      default:
        return C.importCmd(t, o);
    }
  } catch (e) {
    return fail(e);
  }
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

/** Prints the error as one line and returns its exit code: 2 for bad usage or input, 1 for a problem found. */
function fail(e: unknown): 1 | 2 {
  const err = e as Error & { code?: string };
  let code: 1 | 2 = 1;
  if (e instanceof CliError) code = e.exitCode;
  else if (typeof err.code === 'string' && err.code.startsWith('ERR_PARSE_ARGS')) code = 2;
  else if (err instanceof TypeError || err instanceof RangeError) code = 2;
  let msg = String(err.message ?? e).split('\n')[0]!;
  // parseArgs takes "-n -1" for an option without its value; say what was meant rather than "ambiguous"
  const dash = /^Option '(-[^']+)' argument is ambiguous/.exec(msg);
  if (dash) {
    const opt = dash[1]!;
    msg = `${opt} needs a value, and a value starting with "-" (a negative number?) is taken for an option; write ${opt.startsWith('--') ? `${opt}=<value>` : `${opt}<value>`} if you mean it`;
  }
  process.stderr.write(`persist-queue: ${msg}${code === 2 ? ' (usage: persist-queue --help)' : ''}\n`);
  return code;
}
