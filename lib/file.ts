/**
 * `persist-queue/file`: the file-segment queues only (does not load the native SQLite addon).
 *
 * @module
 */
export * from './common/index.js';
export * from './file-queue/index.js';
