/**
 * The words of a DataLoader's shared control array, which the training thread and the worker
 * threads (worker_pool.ts, loader_worker.ts) read and write with Atomics: per batch slot
 * [done seq, status, wanted seq], then one word per worker holding its kernel thread id.
 * This module imports nothing, so a worker can load it before anything that might fail.
 */
export const SLOT_WORDS = 3;
/** The seq of the last job the worker finished in the slot (waited on with Atomics.wait). */
export const DONE = 0;
/** STATUS_OK, or STATUS_ERROR when the worker posted an error report for that job. */
export const STATUS = 1;
/** The seq the training thread wants next from the slot; queued jobs with another seq are skipped. */
export const WANT = 2;
export const STATUS_OK = 0;
export const STATUS_ERROR = 1;
