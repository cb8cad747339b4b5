/**
 * `persist-queue/postgres`: the queues on a PostgreSQL server, shared by processes on many hosts. Needs the `pg`
 * package (an optional peer dependency); nothing else in persist-queue loads it.
 *
 * @module
 */
export * from './common/index.js';
export { PostgresQueue, PostgresAckQueue } from './postgres/queue.js';
// The task layer runs on a PostgreSQL target too (the same classes as persist-queue/tasks, re-exported here).
export { TaskQueue, Worker } from './tasks.js';
export { PostgresClientMissingError, PostgresConnectionError } from './postgres/db.js';
export type { PostgresQueueOptions, PostgresAckQueueOptions, PostgresDurability, PostgresTarget, PgPoolLike } from './postgres/options.js';
export type { AckMessage, AckQueueItem, AckQueueItemBase, AckStatus, ClearAckedOptions } from './sqlite-queue/ack-types.js';
