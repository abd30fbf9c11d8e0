import type { Params } from "./space.js";

/** What a search's schedulers share: the segments of training they hand out and what comes back. */

/** One segment of a trial's training that a scheduler asks for. */
export interface Job {
  trial: number;
  /** The values the trial trains with. */
  params: Params;
  /** The step the trial starts the segment from (0: a new trial). */
  fromStep: number;
  /** The step it trains to: a rung, the end of a PBT interval, or the budget. */
  toStep: number;
  /** Hyperband's bracket (ASHA's is 0). */
  bracket?: number;
  /** PBT's exploit: the segment starts from this trial's checkpoint (weights, optimizer state, step) instead of its own. */
  copyFrom?: { trial: number; checkpoint: string };
}

/** A finished segment: its score (higher is better: accuracy, or minus the loss), null when training failed. */
export interface SegmentResult {
  job: Job;
  score: number | null;
  loss: number | null;
  accuracy: number | null;
  /** The checkpoint written at the segment's end, or null. */
  checkpoint: string | null;
  /** Why training failed, when it did. */
  error?: string;
}

/**
 * A trial scheduler: decides which segment runs next from the results so far. `started` and
 * `finished` are also how a resumed search replays its log into a fresh scheduler.
 * @example
 * const job = scheduler.next(); // null: nothing to start until a running segment finishes
 * if (job) scheduler.started(job);
 */
export interface Scheduler {
  /** The next segment to run, or null when none can start now. */
  next(): Job | null;
  /** A segment was handed out (next's, or one replayed from the log). */
  started(job: Job): void;
  /** A segment ended. */
  finished(result: SegmentResult): void;
}

/** The scheduler kinds of `turbine search --scheduler`. */
export const SCHEDULER_KINDS = ["random", "asha", "hyperband", "pbt"] as const;
export type SchedulerKind = (typeof SCHEDULER_KINDS)[number];
