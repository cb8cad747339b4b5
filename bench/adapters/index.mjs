// Registry of adapter modules. Each module exports:
//   listSystems() -> [{ id, module, label, kind: 'lib'|'raw'|'peer', backend, durability,
//                       durabilityNote, promise, multiProcess, skip: null | 'reason', ... }]
//   openSystem(sys, dir) -> queue adapter:
//     { sync, put(item), get(), putMany?(items), getMany?(max), tryGet?(waitMs), close() }
//   (async methods when sync is false). get() returns the item's data (ack queues ack it).
// A module may instead export runExternal(sys, task) to run whole workloads itself
// (the Python adapter does).
export const MODULES = {
  'persist-queue': './persist-queue.mjs',
  'raw-sqlite': './raw-sqlite.mjs',
  'raw-fs': './raw-fs.mjs',
  'better-queue': './better-queue.mjs',
  plainjob: './plainjob.mjs',
  liteque: './liteque.mjs',
  'node-persistent-queue': './node-persistent-queue.mjs',
  'qlobber-fsq': './qlobber-fsq.mjs',
  'python-persistqueue': './python-persistqueue.mjs',
};

export async function loadModule(name) {
  const rel = MODULES[name];
  if (!rel) throw new Error(`unknown adapter module ${name}`);
  return import(new URL(rel, import.meta.url).href);
}

export async function findSystem(moduleName, id) {
  const m = await loadModule(moduleName);
  const sys = (await m.listSystems()).find((s) => s.id === id);
  if (!sys) throw new Error(`no system ${id} in ${moduleName}`);
  return { mod: m, sys };
}
