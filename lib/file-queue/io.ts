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
