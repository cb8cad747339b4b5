/**
 * `persist-queue/sqlite`: the SQLite queues only.
 *
 * @module
 */
export * from './common/index.js';
export { SqliteQueue, SqliteQueueSync } from './sqlite-queue/queue.js';
export { SqliteAckQueue, SqliteAckQueueSync } from './sqlite-queue/ack-queue.js';
export type { SqliteQueueOptions, SqliteAckQueueOptions } from './sqlite-queue/options.js';
export type { AckMessage, AckQueueItem, AckQueueItemBase, AckStatus, ClearAckedOptions } from './sqlite-queue/ack-types.js';
export type { Durability } from './sqlite-queue/connection.js';
