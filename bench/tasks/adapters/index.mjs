// Task-layer systems of the tasks benchmark. Each module exports:
//   describe(ctx) -> { id, kind: 'lib'|'peer'|'beside', label, version, skip: null|'reason', settings }
//   open({ dir, durability, redisPort, setup }) -> {
//     enqueueMany(datas), enqueueOne(data),                 (may return Promises)
//     prepareWorker?({ ...workArgs }),                        (optional, untimed: connect before 'go')
//     work({ concurrency, handler(data), onCompleted(), onError(err), pollMs }) -> { stop() },
//     runUntilIdle?({ ...workArgs }),                         (the library only)
//     close() }
// handler(data) is the job's no-op body; `data` is what the system hands its handler (plainjob: the JSON string).
export const TASK_MODULES = {
  'persist-queue': './persist-queue.mjs',
  plainjob: './plainjob.mjs',
  liteque: './liteque.mjs',
  bullmq: './bullmq.mjs',
};

export async function loadTaskModule(name) {
  const rel = TASK_MODULES[name];
  if (!rel) throw new Error(`unknown task system ${name}`);
  return import(new URL(rel, import.meta.url).href);
}
