/**
 * Error classes of persist-queue. Every error the library raises on purpose is a {@link QueueError} with a stable
 * `.code`, or a `TypeError`/`RangeError` with one of Node's argument codes (see {@link ArgumentCode}).
 *
 * @module
 */

/** Stable codes carried by {@link QueueError} and its subclasses. */
export type QueueErrorCode =
  | 'ERR_QUEUE_EMPTY'
  | 'ERR_QUEUE_FULL'
  | 'ERR_QUEUE_CLOSED'
  | 'ERR_QUEUE_CORRUPT'
  | 'ERR_QUEUE_LOCKED'
  | 'ERR_QUEUE_SERIALIZATION'
  | 'ERR_QUEUE_TASK_DONE'
  | 'ERR_QUEUE_IO'
  | 'ERR_QUEUE_FOREIGN_MESSAGE'
  | 'ERR_QUEUE_CLIENT_MISSING'
  | 'ERR_QUEUE_CONNECTION'
  | 'ERR_TASK_FAILED'
  | 'ERR_TASK_CANCELLED'
  | 'ERR_TASK_TIMEOUT'
  | 'ERR_TASK_NOT_FOUND';

/** Node's codes used on the `TypeError`/`RangeError` thrown for bad arguments and options. */
export type ArgumentCode = 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE' | 'ERR_OUT_OF_RANGE';

/**
 * Base class of every queue error. `code` is stable across versions; `cause` holds the underlying error where one
 * exists (an `fs` error, a SQLite error).
 */
export class QueueError extends Error {
  /** Stable machine-readable code, e.g. `ERR_QUEUE_EMPTY`. */
  readonly code: QueueErrorCode;

  /**
   * @param message - human-readable description
   * @param code - stable code
   * @param options - `cause`, the underlying error
   */
  constructor(message: string, code: QueueErrorCode, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/** The queue had no item for `get()` within the wait (or `block: false` on an empty queue). Code `ERR_QUEUE_EMPTY`. */
export class QueueEmptyError extends QueueError {
  constructor(message = 'queue is empty') {
    super(message, 'ERR_QUEUE_EMPTY');
  }
}

/** The queue stayed at `maxSize` for the whole wait of a `put()`. Code `ERR_QUEUE_FULL`. */
export class QueueFullError extends QueueError {
  constructor(message = 'queue is full') {
    super(message, 'ERR_QUEUE_FULL');
  }
}

/** The queue was closed; every call after `close()` throws this. Code `ERR_QUEUE_CLOSED`. */
export class QueueClosedError extends QueueError {
  constructor(message = 'queue is closed') {
    super(message, 'ERR_QUEUE_CLOSED');
  }
}

/**
 * Stored bytes failed their checksum. Code `ERR_QUEUE_CORRUPT`. `id` is the damaged item's id where it is known (a
 * SQLite row): pass it to `remove()` (plain queues) or `ackFailed()` to get past it, or open with `skipCorrupt`.
 */
export class QueueCorruptError extends QueueError {
  /** The id of the damaged item, where known. */
  readonly id: number | undefined;
  constructor(message: string, options?: { cause?: unknown; id?: number }) {
    super(message, 'ERR_QUEUE_CORRUPT', options);
    this.id = options?.id;
  }
}

/** Another process holds the queue's lock longer than this call may wait, or took the lock over. Code `ERR_QUEUE_LOCKED`. */
export class QueueLockedError extends QueueError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_QUEUE_LOCKED', options);
  }
}

/**
 * The serializer could not encode an item (nothing was written), or could not decode stored bytes (the item stays
 * where it was; `id` names it). Code `ERR_QUEUE_SERIALIZATION`.
 */
export class SerializationError extends QueueError {
  /** For a stored item that cannot be decoded: its id (pass it to `remove()` or `ackFailed()`, or open with `skipCorrupt`). */
  readonly id: number | undefined;
  constructor(message: string, options?: { cause?: unknown; id?: number }) {
    super(message, 'ERR_QUEUE_SERIALIZATION', options);
    this.id = options?.id;
  }
}

/**
 * A message handed out by another queue instance (another queue, table, file, or another instance of this queue)
 * was passed to `ack()`, `nack()`, `ackFailed()` or `update()`. Nothing changed. Code `ERR_QUEUE_FOREIGN_MESSAGE`.
 */
export class ForeignMessageError extends QueueError {
  constructor(message: string) {
    super(message, 'ERR_QUEUE_FOREIGN_MESSAGE');
  }
}

/** A `TypeError` with Node's `code` property. */
export function argTypeError(message: string): TypeError & { code: ArgumentCode } {
  const err = new TypeError(message) as TypeError & { code: ArgumentCode };
  err.code = 'ERR_INVALID_ARG_TYPE';
  return err;
}

/** A `TypeError` for a value of the right type but not an allowed one, with code `ERR_INVALID_ARG_VALUE`. */
export function argValueError(message: string): TypeError & { code: ArgumentCode } {
  const err = new TypeError(message) as TypeError & { code: ArgumentCode };
  err.code = 'ERR_INVALID_ARG_VALUE';
  return err;
}

/** A `RangeError` with code `ERR_OUT_OF_RANGE`. */
export function rangeError(message: string): RangeError & { code: ArgumentCode } {
  const err = new RangeError(message) as RangeError & { code: ArgumentCode };
  err.code = 'ERR_OUT_OF_RANGE';
  return err;
}

/** Describes a value for an error message the way Node does (`Received type number (42)`). */
export function describe(value: unknown): string {
  if (value === null) return 'Received null';
  if (value === undefined) return 'Received undefined';
  if (typeof value === 'function') return `Received function ${value.name || '<anonymous>'}`;
  if (typeof value === 'object') {
    const ctor = (value as object).constructor;
    return ctor && ctor.name ? `Received an instance of ${ctor.name}` : 'Received an object';
  }
  let shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return `Received type ${typeof value} (${shown})`;
}

/** The `code` of a Node.js system error (`'ENOENT'`, ...), or undefined. */
export function errnoOf(err: unknown): string | undefined {
  const c = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof c === 'string' ? c : undefined;
}

/** `taskDone()` called more times than items (`what`) were taken: QueueError `ERR_QUEUE_TASK_DONE`. */
export function taskDoneExcess(what: 'items' | 'messages' = 'items'): QueueError {
  return new QueueError(`taskDone() called more times than ${what} were taken`, 'ERR_QUEUE_TASK_DONE');
}
