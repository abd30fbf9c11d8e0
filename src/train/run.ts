import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";

import { DistributedDataParallel } from "../parallel/ddp.js";
import type { ProcessGroup } from "../parallel/process_group.js";
import { memory } from "../tensor/memory.js";
import { native } from "../tensor/native.js";
import { stepsPerEpoch } from "./accumulate.js";
import { type Callback, CheckpointCallback, EarlyStopping, MetricsFile } from "./callbacks.js";
import { loadLatestCheckpoint } from "./checkpoint.js";
import type { Config } from "./config.js";
import { buildRun } from "./build.js";
import { peakMemory, type PeakMemory } from "./memory_report.js";
import { Progress } from "./progress.js";
import { linesTo, progressMode, stderrProgressOutput } from "./progress_output.js";
import { TensorBoardLogger } from "./tensorboard.js";
import { Trainer } from "./trainer.js";

export interface RunOptions {
  /** A run's checkpoint folder or one checkpoint: continue from the newest valid one. */
  resume?: string;
  /** Show progress (a bar on a terminal, lines otherwise); evaluation results are shown either way. */
  progress?: boolean;
  /** Where warnings and progress lines go (default: stderr, progress as a bar on a terminal). */
  log?: (line: string) => void;
  /**
   * Train data-parallel over this group (turbine launch): each rank trains on its data shard
   * with DDP; rank 0 writes the run folder, metrics and checkpoints and shows progress.
   */
  group?: ProcessGroup;
}

/** The outcome of `turbine train`, also its --json line. */
export interface RunSummary {
  steps: number;
  /** Complete epochs. */
  epochs: number;
  /** Optimizer steps per epoch (a run's share of an epoch is steps / steps_per_epoch). */
  steps_per_epoch: number;
  /** Data-parallel ranks; samples_per_s is the job's, samples_per_s / ranks each rank's. */
  ranks: number;
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
  const group = options.group, lead = (group?.rank ?? 0) === 0;
  if (lead) {
    mkdirSync(runDir, { recursive: true });
    writeFileSync(join(runDir, "config.json"), `${JSON.stringify(config, null, 2)}\n`);
  }
  const parts = buildRun(config, group && { rank: group.rank, worldSize: group.size });
  const checkpoints = new CheckpointCallback(join(runDir, "checkpoints"), config.checkpoint);
  const callbacks: Callback[] = lead ? [new MetricsFile(join(runDir, "metrics.jsonl"), config.train.logEvery), checkpoints] : [];
  if (config.train.earlyStopping) callbacks.push(new EarlyStopping(config.train.earlyStopping));
  const stepsOfEpoch = stepsPerEpoch(parts.train.length, config.train.accumulate);
  if (lead) {
    if (config.logging.tensorboard) callbacks.push(new TensorBoardLogger(runDir, { unit: parts.task.unit, ranks: group?.size ?? 1 }));
    const output = options.log ? linesTo(options.log) : stderrProgressOutput(progressMode(), group?.rank);
    callbacks.push(new Progress({ totalSteps: parts.totalSteps, stepsPerEpoch: stepsOfEpoch, unit: parts.task.unit, every: config.train.logEvery, ranks: group?.size ?? 1, steps: options.progress ?? false, output }));
  }
  // Rank 0's initial weights go to every rank; a resume then loads the same checkpoint on each.
  const ddp = group ? new DistributedDataParallel(parts.model, group) : null;
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
    prepareBatch: parts.prepareBatch,
    dataParallel: ddp,
  });
  let result;
  try {
    if (options.resume) {
      const checkpoint = loadLatestCheckpoint(options.resume, log);
      trainer.restore(checkpoint);
      log(`resumed from ${checkpoint.dir} at step ${trainer.step}`);
    }
    memory.resetPeak();
    result = trainer.fit({ steps: parts.totalSteps });
  } finally {
    ddp?.dispose();
    parts.train.close();
  }
  const peak = peakMemory(memory.report());
  return {
    steps: result.steps,
    epochs: result.epochs,
    steps_per_epoch: stepsOfEpoch,
    ranks: group?.size ?? 1,
    train_s: result.trainSeconds,
    // Every rank trains on as many samples per step: the job's throughput is size × this rank's.
    samples_per_s: result.throughput * (group?.size ?? 1),
    unit: result.unit,
    eval: result.eval,
    checkpoint: checkpoints.last,
    run_dir: runDir,
    stopped: result.stopReason,
    data_wait_s: result.dataWaitSeconds,
    peak_bytes: peak,
  };
}
