/**
 * The public types of the SQLite ack queues, and the check of an `idOrMessage` argument.
 *
 * @module
 */
import { argTypeError, describe, rangeError, type QueueCorruptError, type SerializationError } from '../common/errors.js';

/** A message taken from an ack queue. */
export interface AckMessage<T> {
  /** The row id; pass it (or the message) to `ack()`, `nack()` or `ackFailed()`. */
  id: number;
  /** The item. */
  data: T;
  /** How many times this message has been delivered, this delivery included (1 on the first). */
  attempts: number;
}

/** Status of a message in {@link AckQueueItem}. */
export type AckStatus = 'ready' | 'unack' | 'acked' | 'failed';

/** One row as {@link SqliteAckQueueSync.items} lists it. */
export type AckQueueItem<T> = AckQueueItemBase &
  (
    | {
        /** The item. */
        data: T;
        error?: undefined;
      }
    | {
        data?: undefined;
        /**
         * Why this row cannot be read: damaged bytes ({@link QueueCorruptError}) or bytes the serializer refuses
         * ({@link SerializationError}); `error.id` is the row id. Such a row does not stop the listing.
         */
        error: QueueCorruptError | SerializationError;
      }
  );

/** The fields every {@link AckQueueItem} has. */
export interface AckQueueItemBase {
  /** Row id. */
  id: number;
  /** `ready` (Python's inited or ready), `unack` (taken, not yet acked), `acked` or `failed`. */
  status: AckStatus;
  /** Deliveries so far. */
  attempts: number;
  /** When it was put, in ms since the epoch. */
  timestamp: number;
}

/** Options of `clearAcked()`. */
export interface ClearAckedOptions {
  /**
   * Keep this many of the most recent acked (and, with `includeFailed`, failed) rows.
   * @default 0
   */
  keepLatest?: number | undefined;
  /**
   * Delete at most this many rows (the oldest first); 0 = no limit.
   * @default 0
   */
  maxDelete?: number | undefined;
  /**
   * Also delete rows marked failed by `ackFailed()`.
   * @default false
   */
  includeFailed?: boolean | undefined;
}

/** Reads the id out of `ack(idOrMessage)` arguments. */
export function messageId(idOrMessage: unknown, method: string): number {
  const id =
    idOrMessage !== null && typeof idOrMessage === 'object' ? (idOrMessage as { id?: unknown }).id : idOrMessage;
  if (typeof id !== 'number') {
    throw argTypeError(`The argument of ${method}() must be a message id (number) or a message from get(). ${describe(idOrMessage)}`);
  }
  if (!Number.isSafeInteger(id) || id < 0) throw rangeError(`The message id passed to ${method}() must be a non-negative integer. Received ${id}`);
  return id;
}

