/**
 * The folder of a file queue: checking the path, creating the folder, refusing a folder that is not a queue.
 *
 * @module
 */
import { mkdirSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { argValueError, QueueError } from '../common/errors.js';
import { checkPath } from '../common/options.js';

/**
 * Checks the queue folder path: an existing folder, or a missing one whose parent exists (then it is created, one
 * level). Returns its real path.
 */
export function prepareFolder(dir: unknown, where: string): string {
  const full = resolve(checkPath(dir, 'dir', where));
  let isDir: boolean;
  try {
    isDir = statSync(full).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new QueueError(`cannot use queue folder ${full}: ${(err as Error).message}`, 'ERR_QUEUE_IO', { cause: err });
    }
    const parent = dirname(full);
    let parentIsDir = false;
    try {
      parentIsDir = statSync(parent).isDirectory();
    } catch {
      throw argValueError(`The folder that should contain the queue folder ${full} does not exist: ${parent}`);
    }
    if (!parentIsDir) throw argValueError(`The parent of the queue folder ${full} is not a folder: ${parent}`);
    try {
      mkdirSync(full);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new QueueError(`cannot create queue folder ${full}: ${(e as Error).message}`, 'ERR_QUEUE_IO', { cause: e });
      }
    }
    isDir = true;
  }
  if (!isDir) throw argValueError(`The queue path is not a folder: ${full} (a file queue is a folder of segment files)`);
  checkQueueFolder(full);
  return realpathSync(full);
}

/** Names a queue folder holds (docs/format.md, "Files"). */
const QUEUE_NAMES = /^(seg-\d{10}\.log|checkpoint|checkpoint\.\d+\.\d+\.tmp|lock|tokens|want|wake)$/;

/**
 * Refuses a folder that holds something but no queue: adopting it would mix queue files into someone's data (a
 * mistyped path). An empty folder, or one with a segment or checkpoint, is a queue folder.
 */
function checkQueueFolder(full: string): void {
  let names: string[];
  try {
    names = readdirSync(full);
  } catch (err) {
    throw new QueueError(`cannot read queue folder ${full}: ${(err as Error).message}`, 'ERR_QUEUE_IO', { cause: err });
  }
  if (names.length === 0 || names.some((n) => n.startsWith('seg-') || n === 'checkpoint')) return;
  const foreign = names.filter((n) => !QUEUE_NAMES.test(n));
  if (foreign.length === 0) return;
  const shown = foreign.slice(0, 3).map((n) => JSON.stringify(n)).join(', ') + (foreign.length > 3 ? ', ...' : '');
  throw argValueError(`The folder ${full} is not a file queue: it is not empty and holds no queue files (found ${shown})`);
}
