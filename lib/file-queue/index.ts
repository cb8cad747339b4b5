/**
 * The file-segment queues and their option types.
 *
 * @module
 */
export { FileQueue, FileQueueSync } from './queue.js';
export type { FileQueueOptions, FileDurability } from './options.js';
