// This library, from its ESM build (../dist/esm/index.js, made by `npm run build`).
// One system per class x durability. A class the build does not export is listed as
// skipped (with the reason), never a crash.
import path from 'node:path';
import fs from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const DIST = fileURLToPath(new URL('../../dist/esm/index.js', import.meta.url));

export const CLASSES = [
  { name: 'SqliteQueue', backend: 'sqlite', promise: true, ack: false },
  { name: 'SqliteQueueSync', backend: 'sqlite', promise: false, ack: false },
  { name: 'SqliteAckQueue', backend: 'sqlite', promise: true, ack: true },
  { name: 'SqliteAckQueueSync', backend: 'sqlite', promise: false, ack: true },
  { name: 'FileQueue', backend: 'file', promise: true, ack: false },
  { name: 'FileQueueSync', backend: 'file', promise: false, ack: false },
];

let libPromise;
export function loadLib() {
  libPromise ??= (async () => {
    if (!fs.existsSync(DIST)) throw new Error('dist/esm/index.js is not built (run `npm run build`)');
    return import(pathToFileURL(DIST).href);
  })();
  return libPromise;
}

const isEmptyError = (e) => e && (e.code === 'ERR_QUEUE_EMPTY' || e.name === 'QueueEmptyError');
const isMessage = (m) => m && typeof m === 'object' && 'id' in m && 'data' in m && 'attempts' in m;

export async function listSystems() {
  let lib = null;
  let loadError = null;
  try {
    lib = await loadLib();
  } catch (e) {
    loadError = e.message.split('\n')[0];
  }
  const out = [];
  for (const c of CLASSES) {
    const durs = c.backend === 'file' ? ['full', 'normal', 'off'] : ['full', 'normal'];
    for (const durability of durs) {
      let skip = loadError;
      if (!skip && typeof lib[c.name]?.open !== 'function') skip = `${c.name} is not exported by dist/esm/index.js`;
      out.push({
        id: `${c.name}/${durability}`,
        module: 'persist-queue',
        cls: c.name,
        label: `${c.name} (${durability})`,
        kind: 'lib',
        backend: c.backend,
        durability,
        durabilityNote: `durability: '${durability}'`,
        promise: c.promise,
        ack: c.ack,
        multiProcess: true,
        skip,
      });
    }
  }
  return out;
}

/** Open one library queue and wrap it in the bench's adapter shape. */
export async function openSystem(sys, dir, extra = {}) {
  const lib = await loadLib();
  const C = lib[sys.cls];
  const where = sys.backend === 'sqlite' ? path.join(dir, 'queue.db') : path.join(dir, 'queue');
  const opts = { durability: sys.durability, ...extra };
  const q = sys.promise ? await C.open(where, opts) : C.open(where, opts);
  if (sys.promise) {
    const take = async (m) => {
      if (sys.ack && isMessage(m)) {
        await q.ack(m);
        return m.data;
      }
      return m;
    };
    return {
      sync: false,
      raw: q,
      put: (item) => q.put(item),
      get: async () => take(await q.get({ block: false })),
      // Ack queues: get and ack timed apart in workload (a).
      getOnly: sys.ack ? () => q.get({ block: false }) : undefined,
      ackOnly: sys.ack ? (m) => q.ack(m) : undefined,
      async tryGet(waitMs) {
        try {
          return await take(await q.get({ block: true, timeout: waitMs }));
        } catch (e) {
          if (isEmptyError(e)) return undefined;
          throw e;
        }
      },
      putMany: typeof q.putMany === 'function' ? (items) => q.putMany(items) : undefined,
      getMany:
        typeof q.getMany === 'function'
          ? async (max) => {
              const ms = await q.getMany(max, { block: false });
              if (sys.ack) for (let i = 0; i < ms.length; i++) ms[i] = await take(ms[i]);
              return ms;
            }
          : undefined,
      close: () => q.close(),
    };
  }
  const take = (m) => {
    if (sys.ack && isMessage(m)) {
      q.ack(m);
      return m.data;
    }
    return m;
  };
  return {
    sync: true,
    raw: q,
    put: (item) => q.put(item),
    get: () => take(q.get({ block: false })),
    getOnly: sys.ack ? () => q.get({ block: false }) : undefined,
    ackOnly: sys.ack ? (m) => q.ack(m) : undefined,
    tryGet(waitMs) {
      try {
        return take(q.get({ block: true, timeout: waitMs }));
      } catch (e) {
        if (isEmptyError(e)) return undefined;
        throw e;
      }
    },
    putMany: typeof q.putMany === 'function' ? (items) => q.putMany(items) : undefined,
    getMany:
      typeof q.getMany === 'function'
        ? (max) => {
            const ms = q.getMany(max, { block: false });
            if (sys.ack) for (let i = 0; i < ms.length; i++) ms[i] = take(ms[i]);
            return ms;
          }
        : undefined,
    close: () => q.close(),
  };
}
