/**
 * Errors of the task layer. Each extends the library's {@link QueueError} and has a stable `.code`.
 *
 * @module
 */
import { QueueError } from '../common/errors.js';
import type { Job } from './types.js';

/** The job failed for good (its attempts are used up); `.job.error` holds the last failure. Code `ERR_TASK_FAILED`. */
export class TaskFailedError extends QueueError {
  /** The failed job as stored. */
  readonly job: Job;
  constructor(job: Job) {
    super(`task ${job.task} #${job.id} failed after ${job.attempts} attempt(s): ${job.error?.message ?? 'unknown error'}`, 'ERR_TASK_FAILED');
    this.job = job;
  }
}

/** The job was cancelled. Code `ERR_TASK_CANCELLED`. */
export class TaskCancelledError extends QueueError {
  /** The cancelled job as stored (undefined when it is not known, e.g. an attempt aborted by `cancel()`). */
  readonly job: Job | undefined;
  constructor(message: string, job?: Job) {
    super(message, 'ERR_TASK_CANCELLED');
    this.job = job;
  }
}

/** A wait ran out (`result()`/`submit()` timeout), or an attempt ran past its `timeout`. Code `ERR_TASK_TIMEOUT`. */
export class TaskTimeoutError extends QueueError {
  constructor(message: string) {
    super(message, 'ERR_TASK_TIMEOUT');
  }
}

/** No job with this id exists (never did, or it was removed). Code `ERR_TASK_NOT_FOUND`. */
export class TaskNotFoundError extends QueueError {
  /** The id asked for. */
  readonly id: number;
  constructor(id: number) {
    super(`no task job with id ${id}`, 'ERR_TASK_NOT_FOUND');
    this.id = id;
  }
}
