/**
 * Owner tokens: who holds a taken item (an ack queue's unacked message, an `autoCommit: false` item not yet done, an
 * unfinished task counted by `join()`), and whether that holder is still alive.
 *
 * A token is `pid.starttime.threadId.instance`. `starttime` is the process start time in clock ticks from
 * `/proc/<pid>/stat` on Linux, so a recycled pid is not mistaken for the old holder. Elsewhere it is `0` and only the
 * pid is checked. Tokens of this process are alive exactly while their queue instance is open.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { threadId } from 'node:worker_threads';
import { errnoOf } from './errors.js';

/**
 * The start time of a process in clock ticks since boot, or undefined where /proc is not available or the process is
 * gone (a zombie counts as gone).
 */
export function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // Field 2 (comm) may contain spaces and parentheses: count fields after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (rest[0] === 'Z' || rest[0] === 'X') return undefined; // field 3: state
  return rest[19]; // field 22: starttime
}

const procAvailable = processStartTime(process.pid) !== undefined;
const selfStart = processStartTime(process.pid) ?? '0';
const selfPrefix = `${process.pid}.${selfStart}.${threadId}.`;
const openTokens = new Set<string>();

/** Makes a new token for a queue instance of this process and marks it alive until {@link retireOwner}. */
export function newOwner(): string {
  const token = selfPrefix + randomBytes(6).toString('hex');
  openTokens.add(token);
  return token;
}

/** Marks a token of this process as no longer alive (its instance closed). */
export function retireOwner(token: string): void {
  openTokens.delete(token);
}

/**
 * Whether the holder named by `token` may still be working. Unknown formats count as alive (never hand out an item
 * that might be held).
 */
export function isOwnerAlive(token: string): boolean {
  if (token.startsWith(selfPrefix)) return openTokens.has(token);
  const parts = token.split('.');
  if (parts.length !== 4) return true;
  const pid = Number(parts[0]);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  if (pid === process.pid && parts[1] === selfStart) return true; // another thread of this process
  if (procAvailable && parts[1] !== '0') {
    const start = processStartTime(pid);
    return start !== undefined && start === parts[1];
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoOf(err) === 'EPERM';
  }
}
