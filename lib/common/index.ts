/**
 * What every backend shares and exports: errors, serializer types, call options.
 *
 * @module
 */
export {
  QueueError,
  QueueEmptyError,
  QueueFullError,
  QueueClosedError,
  QueueCorruptError,
  QueueLockedError,
  SerializationError,
  ForeignMessageError,
  type QueueErrorCode,
  type ArgumentCode,
} from './errors.js';
export type { Serializer, SerializerOption } from './serializer.js';
export type { BaseQueueOptions } from './options.js';
export type { PutOptions, PutManyOptions, GetOptions, JoinOptions } from './shell.js';
