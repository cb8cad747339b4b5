/**
 * `persist-queue`: every queue class. Import `persist-queue/file` to avoid loading the native SQLite addon.
 *
 * @module
 */
export * from './sqlite.js';
export * from './file-queue/index.js';
export * from './tasks.js';
