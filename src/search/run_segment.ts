import { cpSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { Worker } from "node:worker_threads";

import { listCheckpoints } from "../train/checkpoint.js";
import type { Config } from "../train/config.js";
import type { Job } from "./scheduler.js";

/** What a trial's worker thread is given (its workerData). */
export interface TrialWorkerData {
  config: Config;
  runDir: string;
  /** Continue from the run folder's newest checkpoint (else a new run in runDir). */
  resume: boolean;
  untilStep: number;
  /** Keep the config's optimizer hyperparameters over the checkpoint's (PBT after a copy). */
  configHyperparameters: boolean;
  /** An Int32Array's buffer: nonzero asks the trial to stop after its step, with a checkpoint. */
  stop: SharedArrayBuffer;
  /** The trial's log file (warnings, resume lines, a failure's stack). */
  logFile: string;
}

/** How a segment ended: its evaluation and checkpoint, a stop, or a failure. */
export interface SegmentOutcome {
  eval: { loss: number; accuracy?: number } | null;
  checkpoint: string | null;
  /** The step training reached. */
  steps: number;
  train_s: number;
  /** Stopped by the search's stop before its end (the segment runs again when the search continues). */
  interrupted: boolean;
  /** Why training failed (one line; the trial's log has the rest). */
  error?: string;
}

/**
 * Gets a trial's run folder ready for a segment and says whether it resumes: PBT's copy of
 * another trial's checkpoint (replacing the trial's own), else the trial's newest checkpoint, else
 * a new run (a folder a killed first segment left without a checkpoint is emptied).
 * @example const resume = prepareTrialFolder(job, "runs/search/trials/3");
 */
export function prepareTrialFolder(job: Job, runDir: string): boolean {
  const checkpoints = join(runDir, "checkpoints");
  if (job.copyFrom && existsSync(job.copyFrom.checkpoint)) {
    rmSync(checkpoints, { recursive: true, force: true });
    cpSync(job.copyFrom.checkpoint, join(checkpoints, basename(job.copyFrom.checkpoint)), { recursive: true });
    return true;
  }
  if (listCheckpoints(checkpoints).length > 0) return true;
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true });
  return false;
}

/**
 * Trains one segment in a worker thread of this process; resolves with how it ended (a crash of
 * the worker is a failure, never a rejection).
 * @example const outcome = await runSegment({ config, runDir, resume, untilStep: 30, configHyperparameters: false, stop, logFile });
 */
export function runSegment(data: TrialWorkerData): Promise<SegmentOutcome> {
  return new Promise((resolve) => {
    const worker = new Worker(new URL("./trial_worker.js", import.meta.url), { workerData: data });
    let outcome: SegmentOutcome | null = null;
    const failed = (error: string): SegmentOutcome => ({ eval: null, checkpoint: null, steps: 0, train_s: 0, interrupted: false, error });
    worker.on("message", (message: SegmentOutcome) => void (outcome = message));
    worker.on("error", (error) => void (outcome ??= failed(`the trial's worker thread failed: ${error.message}`)));
    worker.on("exit", (code) => resolve(outcome ?? failed(`the trial's worker thread exited with code ${code} before it reported`)));
  });
}
