/**
 * The file-system calls through which the file queue changes its files (segments, checkpoint). Internal: one mutable
 * object, so that the power-loss torture test can wrap these calls with a layer that records what was made durable
 * (test/torture/powerloss). Reads and the lock's calls do not go through it. Not part of the public API.
 *
 * @internal
 * @module
 */
import {
  closeSync,
  fdatasync,
  fdatasyncSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { errnoOf, QueueError } from '../common/errors.js';

/** The calls the store makes to change files; every call site reads them from here at call time. */
export const io = {
  openSync,
  closeSync,
  writeSync: writeSync as (fd: number, buf: Buffer, off?: number, len?: number) => number,
  ftruncateSync,
  fdatasync,
  fdatasyncSync,
  fsyncSync,
  renameSync,
  unlinkSync,
};

/** A failed file operation as a QueueError `ERR_QUEUE_IO` naming what was being done. */
export function ioError(context: string, err: unknown): QueueError {
  if (err instanceof QueueError) return err;
  const c = errnoOf(err);
  const why = c === 'EFBIG' || c === 'ENOSPC' || c === 'EDQUOT' ? ' (disk full or file size limit)' : '';
  return new QueueError(`${context}${why}: ${(err as Error)?.message ?? String(err)}`, 'ERR_QUEUE_IO', { cause: err });
}

/** An fs error (it has an errno code) escaping a store operation becomes a QueueError ERR_QUEUE_IO; others pass. */
export function typedIo(err: unknown, context: string): unknown {
  if (err instanceof QueueError || err instanceof Error === false) return err;
  const c = errnoOf(err);
  return c !== undefined && !c.startsWith('ERR_') ? ioError(context, err) : err;
}
