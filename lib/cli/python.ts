/**
 * `import-python`: reads the items of a Python persist-queue file `Queue` folder written with the json serializer:
 * `info` is `{"chunksize", "size", "tail": [chunk, n, offset], "head": [chunk, n, offset]}`, chunks `q00000...`
 * hold one JSON item per line; the items left are `size` lines read from chunk `tail[0]` at byte `tail[2]` on.
 * Internal to the CLI.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { problem, usageError } from './output.js';

export function readPythonQueue(dir: string): unknown[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw usageError(`${dir}: no such folder`);
  const infoPath = join(dir, 'info');
  if (!existsSync(infoPath)) throw usageError(`${dir}: not a Python persist-queue folder (no info file)`);
  let info: { size?: unknown; tail?: unknown };
  try {
    info = JSON.parse(readFileSync(infoPath, 'utf8')) as typeof info;
  } catch {
    throw usageError(`${infoPath}: not JSON (only queues written with persistqueue.serializers.json can be imported)`);
  }
  const tail = info.tail;
  const size = info.size;
  if (!Number.isInteger(size) || !Array.isArray(tail) || tail.length !== 3 || !tail.every((x) => Number.isInteger(x))) {
    throw usageError(`${infoPath}: not a Python persist-queue info file`);
  }
  const items: unknown[] = [];
  let chunk = tail[0] as number;
  let offset = tail[2] as number;
  while (items.length < (size as number)) {
    const file = join(dir, `q${String(chunk).padStart(5, '0')}`);
    if (!existsSync(file)) throw problem(`${file}: missing (info says ${size as number} items, found ${items.length})`);
    const text = readFileSync(file).subarray(offset).toString('utf8');
    for (const line of text.split('\n')) {
      if (line === '' || items.length === size) continue;
      try {
        items.push(JSON.parse(line));
      } catch {
        throw problem(`${file}: item ${items.length + 1} is not a JSON line (damaged, or not the json serializer)`);
      }
    }
    chunk++;
    offset = 0;
  }
  return items;
}
