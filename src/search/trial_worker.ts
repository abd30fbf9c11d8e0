import { appendFileSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";

import { InterruptedBeforeTraining, runTraining } from "../train/run.js";
import type { SegmentOutcome, TrialWorkerData } from "./run_segment.js";

// One segment of one trial, in a worker thread of the search's process (run_segment.ts starts it).
const data = workerData as TrialWorkerData;
const stop = new Int32Array(data.stop);
const log = (line: string): void => appendFileSync(data.logFile, `${line}\n`);
let outcome: SegmentOutcome;
try {
  const summary = runTraining(data.config, {
    ...(data.resume ? { resume: data.runDir } : { runDir: data.runDir }),
    untilStep: data.untilStep,
    configHyperparameters: data.configHyperparameters,
    progress: false,
    log,
    stopRequested: () => (Atomics.load(stop, 0) !== 0 ? "the search's stop" : null),
  });
  outcome = { eval: summary.eval, checkpoint: summary.checkpoint, steps: summary.steps, train_s: summary.train_s, interrupted: summary.interrupted !== null };
} catch (error) {
  if (error instanceof InterruptedBeforeTraining) outcome = { eval: null, checkpoint: null, steps: 0, train_s: 0, interrupted: true };
  else {
    const message = error instanceof Error ? error.message : String(error);
    log(`failed: ${error instanceof Error ? (error.stack ?? message) : message}`);
    outcome = { eval: null, checkpoint: null, steps: 0, train_s: 0, interrupted: false, error: message.split("\n")[0]! };
  }
}
parentPort!.postMessage(outcome);
