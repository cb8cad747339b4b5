/**
 * `persist-queue/tasks`: named tasks with workers, retries, results you can wait for, delays and schedules, on a
 * SQLite file. See docs/tasks.md.
 *
 * @module
 */
export * from './common/index.js';
export { TaskQueue, TaskQueueSync } from './tasks/queue.js';
export { Worker } from './tasks/worker.js';
export { TaskFailedError, TaskCancelledError, TaskTimeoutError, TaskNotFoundError } from './tasks/errors.js';
export type {
  Job,
  JobStatus,
  JobError,
  JobCounts,
  Backoff,
  EnqueueOptions,
  EnqueueItem,
  TaskQueueOptions,
  ResultOptions,
  SubmitOptions,
  ListOptions,
  PurgeOptions,
  ScheduleSpec,
  ScheduleJobOptions,
  ScheduleInfo,
  TaskContext,
  TaskHandler,
  TaskHandlerSpec,
  TaskHandlers,
  WorkerOptions,
  StopOptions,
} from './tasks/types.js';
export type { WorkerEvents } from './tasks/worker.js';
