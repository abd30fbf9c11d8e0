import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";

import { memory } from "../tensor/memory.js";
import { native } from "../tensor/native.js";
import { type Callback, CheckpointCallback, EarlyStopping, MetricsFile } from "./callbacks.js";
import { loadLatestCheckpoint } from "./checkpoint.js";
import type { Config } from "./config.js";
import { buildRun } from "./build.js";
import { peakMemory, type PeakMemory } from "./memory_report.js";
import { Progress } from "./progress.js";
import { Trainer } from "./trainer.js";

export interface RunOptions {
  /** A run's checkpoint folder or one checkpoint: continue from the newest valid one. */
  resume?: string;
  /** Show progress (a bar on a terminal, lines otherwise). */
  progress?: boolean;
  /** Where warnings and progress lines go. */
  log?: (line: string) => void;
}

/** The outcome of `turbine train`, also its --json line. */
export interface RunSummary {
  steps: number;
  epochs: number;
  train_s: number;
  samples_per_s: number;
  unit: "samples" | "tokens";
  eval: { loss: number; accuracy?: number } | null;
  checkpoint: string | null;
  run_dir: string;
  stopped: string | null;
  data_wait_s: number;
  /** Peak bytes during training (from the start of fit), by category, from the memory tracker. */
  peak_bytes: PeakMemory;
}

/**
 * Runs a config end to end: threads and seed, the run folder (config.json, metrics.jsonl,
 * checkpoints/), resume, training with evaluation, checkpoints and early stopping.
 * @example const summary = runTraining(parseConfig(raw, "cnn.json"), { progress: true });
 */
export function runTraining(config: Config, options: RunOptions = {}): RunSummary {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  native.setNumThreads(config.train.threads ?? availableParallelism());
  const runDir = join(config.outDir, config.name ?? config.model.kind);
  mkdirSync(runDir, { recursive: true });
  writeFileSync(join(runDir, "config.json"), `${JSON.stringify(config, null, 2)}\n`);
  const parts = buildRun(config);
  const checkpoints = new CheckpointCallback(join(runDir, "checkpoints"), config.checkpoint);
  const callbacks: Callback[] = [new MetricsFile(join(runDir, "metrics.jsonl"), config.train.logEvery), checkpoints];
  if (config.train.earlyStopping) callbacks.push(new EarlyStopping(config.train.earlyStopping));
  if (options.progress) callbacks.push(new Progress(parts.totalSteps, parts.task.unit, config.train.logEvery));
  const trainer = new Trainer({
    model: parts.model,
    optimizer: parts.optimizer,
    scheduler: parts.scheduler,
    task: parts.task,
    train: parts.train,
    eval: parts.eval,
    accumulate: config.train.accumulate,
    clipGradNorm: config.train.clipGradNorm,
    evalEvery: config.train.evalEvery,
    callbacks,
    meta: { config, ...parts.meta },
  });
  if (options.resume) {
    const checkpoint = loadLatestCheckpoint(options.resume, log);
    trainer.restore(checkpoint);
    log(`resumed from ${checkpoint.dir} at step ${trainer.step}`);
  }
  memory.resetPeak();
  const result = trainer.fit({ steps: parts.totalSteps });
  const peak = peakMemory(memory.report());
  return {
    steps: result.steps,
    epochs: result.epochs,
    train_s: result.trainSeconds,
    samples_per_s: result.throughput,
    unit: result.unit,
    eval: result.eval,
    checkpoint: checkpoints.last,
    run_dir: runDir,
    stopped: result.stopReason,
    data_wait_s: result.dataWaitSeconds,
    peak_bytes: peak,
  };
}
