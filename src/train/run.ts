import { writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { basename, join } from "node:path";

import { anyRank } from "../parallel/any_rank.js";
import type { ProcessGroup } from "../parallel/process_group.js";
import type { Strategy } from "../parallel/strategy.js";
import { tensor } from "../tensor/create.js";
import { memory } from "../tensor/memory.js";
import { kernels } from "../backends/index.js";
import { runWithStructuredCut } from "../prune/structured_run.js";
import { stepsPerEpoch } from "./accumulate.js";
import { type Callback, CheckpointCallback, EarlyStopping, MetricsFile } from "./callbacks.js";
import { loadLatestCheckpoint, removeInterruptedWrites } from "./checkpoint.js";
import type { Config } from "./config.js";
import { buildRun } from "./build.js";
import { scheduleWarnings } from "./schedule_fit.js";
import { peakMemory, type PeakMemory } from "./memory_report.js";
import { checkMemoryFloor } from "./memory_floor.js";
import { measuredModelStateBytes, type ModelStateBytes } from "./model_state_bytes.js";
import { offloadOptimizerState } from "./offload.js";
import { Progress } from "./progress.js";
import { linesTo, progressMode, stderrProgressOutput } from "./progress_output.js";
import { newRunFolder, resumeTarget, writeRunConfig } from "./run_folder.js";
import { psJobFor, serveRun } from "./ps_job.js";
import { meshFor, modelFor, strategyFor } from "./strategy_for.js";
import { TensorBoardLogger } from "./tensorboard.js";
import { type FitResult, Trainer } from "./trainer.js";

export interface RunOptions {
  /**
   * Continue a run in its own folder: the run folder, its checkpoints/ folder or one checkpoint
   * (the newest valid one from there on). The config should be the run's (resumeConfig).
   */
  resume?: string;
  /**
   * The run folder to write into when not resuming, made beforehand (by `turbine launch
   * --max-restarts`, which restarts the run there); default: a new version_N folder.
   */
  runDir?: string;
  /** Show progress (a bar on a terminal, lines otherwise); evaluation results are shown either way. */
  progress?: boolean;
  /** Where warnings and progress lines go (default: stderr, progress as a bar on a terminal). */
  log?: (line: string) => void;
  /**
   * Train data-parallel over this group (turbine launch): each rank trains on its data shard
   * with DDP; rank 0 writes the run folder, metrics and checkpoints and shows progress.
   */
  group?: ProcessGroup;
  /**
   * Polled after every step (a signal flag): a reason ends training there with a checkpoint and
   * no final evaluation (TrainerOptions.stopRequested). Under a group the ranks agree on it.
   */
  stopRequested?: () => string | null;
  /** Evaluate (every train.evalEvery steps, or per epoch, and at the end); default true. `turbine profile` times training only. */
  evaluate?: boolean;
  /**
   * More callbacks for the rank that writes the run folder (rank 0), made once the folder is
   * known; they run after the metrics file's, so they see each logged step's line (a report).
   */
  callbacks?: (runDir: string) => Callback[];
  /**
   * Train only up to this step (evaluated and checkpointed as a run's end is), the schedule still
   * spanning the whole run, so the run can be continued later with --resume as if never stopped:
   * a search trial's rung.
   */
  untilStep?: number;
  /**
   * On resume, keep this config's optimizer hyperparameters (learning rate, weight decay, betas)
   * instead of the checkpoint's, with the weights, optimizer state and position loaded: PBT's
   * explore step after it copied another trial's checkpoint.
   */
  configHyperparameters?: boolean;
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
  /** Why the run was interrupted (RunOptions.stopRequested), or null. */
  interrupted: string | null;
  data_wait_s: number;
  /** Peak bytes during training (from the start of fit), by category, from the memory tracker. */
  peak_bytes: PeakMemory;
  /** Bytes this rank sent per optimizer step to average gradients (data parallel; null without). */
  comm_bytes: number | null;
  /** This rank's model states (the tracker's peaks, and the optimizer state on disk); modelStateBytes gives the formula. */
  model_state_bytes: ModelStateBytes;
  /** Under train.compile: step shapes compiled, milliseconds spent compiling, steps replayed (null without). */
  compile: { compilations: number; compile_ms: number; replays: number } | null;
}

/**
 * Runs a config end to end: threads and seed, the check that its sizes fit this machine
 * (checkMemoryFloor), the build, the run folder (a new `<outDir>/<name>/version_N` of
 * config.json, metrics.jsonl, checkpoints/ and at the end summary.json, or the resumed run's
 * own, made only once the build is done), resume, training with evaluation, checkpoints and
 * early stopping. A stop requested during the build throws InterruptedBeforeTraining, with
 * nothing written. A config with `prune.kind: structured` trains the full model up to the cut
 * and the smaller one after it (runWithStructuredCut).
 * @example const summary = runTraining(parseConfig(raw, "cnn.json"), { progress: true });
 */
export function runTraining(config: Config, options: RunOptions = {}): RunSummary {
  return config.prune?.kind === "structured" ? runWithStructuredCut(config, options, runPhase) : runPhase(config, options, config);
}

/** Trains `config` as runTraining describes; `written` is the config.json of the run folder. */
function runPhase(config: Config, options: RunOptions, written: Config): RunSummary {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  kernels.setNumThreads(config.train.threads ?? availableParallelism());
  // Under parallel.mode "ps" the last ranks serve the parameters; the others train as a job of their own.
  const ps = psJobFor(config, options.group, options.resume !== undefined);
  if (ps && !ps.workers) return serveRun(config, ps);
  const group = ps?.workers ?? options.group,
    lead = (group?.rank ?? 0) === 0;
  // Parameter-server workers run at their own pace: stops and checkpoints are not agreed per step.
  const agreeing = ps ? undefined : group;
  // Sizes that cannot fit are refused before anything is built or written.
  checkMemoryFloor(config, { ranks: group?.size ?? 1, ranksHere: group ? ranksOnThisMachine(group) : 1 });
  const resume = options.resume === undefined ? null : resumeTarget(options.resume);
  // A stop (Ctrl-C, SIGTERM) while the run is built ends it before training, with nothing written.
  const stopBeforeTraining = (): void => {
    const reason = options.stopRequested?.() ?? null;
    if (reason !== null) throw new InterruptedBeforeTraining(reason);
  };
  // Ranks of one data-parallel index (tensor and pipeline peers) read the same batches.
  const mesh = meshFor(config, group);
  // Each data-parallel replica trains on its own batches (its tensor and pipeline peers on the same).
  const dataRanks = mesh?.shape.data ?? 1;
  stopBeforeTraining();
  const parts = buildRun(config, mesh ? { rank: mesh.coords.data, worldSize: mesh.shape.data } : undefined, (model) => {
    stopBeforeTraining();
    return modelFor(config, model, mesh);
  });
  let strategy: Strategy | undefined;
  try {
    // Rank 0's initial weights go to every rank; a resume then loads the same checkpoint on each.
    strategy = strategyFor(config, parts.model, group, mesh, ps);
    // The ranks agree, so that all of them stop here or none does.
    const reason = options.stopRequested ? (agreeing ? agreedStop(agreeing, options.stopRequested) : options.stopRequested)() : null;
    if (reason !== null) throw new InterruptedBeforeTraining(reason);
  } catch (error) {
    strategy?.dispose();
    parts.train.close();
    throw error;
  }
  const runDir = resume?.runDir ?? options.runDir ?? newRunFolderOfJob(join(config.outDir, config.name ?? config.model.kind), group);
  const checkpointDir = join(runDir, "checkpoints");
  if (lead) {
    writeRunConfig(runDir, written);
    removeInterruptedWrites(checkpointDir);
    for (const warning of scheduleWarnings(config.schedule, parts.totalSteps)) log(`warning: ${warning}`);
  }
  // Every rank writes its part of each checkpoint (rank 0 completes it).
  // (A parameter server's first worker writes the model it last pulled alone.)
  const checkpoints = new CheckpointCallback(checkpointDir, config.checkpoint, agreeing);
  const metrics = lead ? new MetricsFile(join(runDir, "metrics.jsonl"), config.train.logEvery) : null;
  const callbacks: Callback[] = [...(metrics ? [metrics] : []), ...(lead || !ps ? [checkpoints] : [])];
  if (config.train.earlyStopping) callbacks.push(new EarlyStopping(config.train.earlyStopping));
  const stepsOfEpoch = stepsPerEpoch(parts.train.length, config.train.accumulate);
  const tensorboard = lead && config.logging.tensorboard ? new TensorBoardLogger(runDir, { unit: parts.task.unit, ranks: dataRanks }) : null;
  const output = options.log ? linesTo(options.log) : stderrProgressOutput(progressMode(), group?.rank);
  const progress = lead
    ? new Progress({
        totalSteps: parts.totalSteps,
        stepsPerEpoch: stepsOfEpoch,
        unit: parts.task.unit,
        every: config.train.logEvery,
        ranks: dataRanks,
        steps: options.progress ?? false,
        output,
      })
    : null;
  for (const c of [tensorboard, progress]) if (c) callbacks.push(c);
  if (lead && options.callbacks) callbacks.push(...options.callbacks(runDir));
  const closeOffload = offloadOptimizerState(config, parts.model, parts.optimizer, runDir, group?.rank ?? 0);
  const trainer = new Trainer({
    model: parts.model,
    optimizer: parts.optimizer,
    scheduler: parts.scheduler,
    task: parts.task,
    train: parts.train,
    eval: options.evaluate === false ? undefined : parts.eval,
    accumulate: config.train.accumulate,
    clipGradNorm: config.train.clipGradNorm,
    evalEvery: config.train.evalEvery,
    callbacks,
    meta: { config, ...parts.meta },
    prepareBatch: parts.prepareBatch,
    precision: parts.precision,
    gradScaler: parts.gradScaler,
    strategy,
    pruner: parts.pruner,
    compile: config.train.compile ? { cacheSize: config.train.compileCacheSize, log: lead ? log : () => {} } : null,
    ...(options.stopRequested ? { stopRequested: agreeing ? agreedStop(agreeing, options.stopRequested) : options.stopRequested } : {}),
  });
  let result: FitResult;
  let firstStep = 0;
  try {
    if (resume) {
      const checkpoint = loadLatestCheckpoint(resume.checkpoint, log);
      // This config's hyperparameters, as built, before the checkpoint's replace them.
      const own = options.configHyperparameters ? parts.optimizer.paramGroups.map((g) => ({ ...g })) : null;
      try {
        trainer.restore(checkpoint);
      } finally {
        checkpoint.close();
      }
      if (own) {
        parts.optimizer.loadHyperparameters(own);
        // The schedule sets this step's learning rates from the restored peaks.
        parts.scheduler.loadStateDict(parts.scheduler.stateDict());
      }
      metrics?.truncateAfter(trainer.step);
      log(`resumed from ${checkpoint.dir} at step ${trainer.step}`);
    }
    memory.resetPeak();
    firstStep = trainer.step;
    result = trainer.fit({ steps: Math.min(options.untilStep ?? parts.totalSteps, parts.totalSteps) });
  } finally {
    // Also when training fails: the terminal gets its cursor back, the bar stops its redraw timer
    // (which would keep a launched worker thread alive) and the event file is closed.
    progress?.close();
    tensorboard?.close();
    strategy.dispose();
    closeOffload();
    parts.train.close();
  }
  const report = memory.report();
  const peak = peakMemory(report);
  const summary: RunSummary = {
    steps: result.steps,
    epochs: result.epochs,
    steps_per_epoch: stepsOfEpoch,
    ranks: dataRanks,
    train_s: result.trainSeconds,
    // Every data-parallel rank trains on as many samples per step (tensor and pipeline peers on
    // the same ones): the job's throughput is data × this rank's.
    samples_per_s: result.throughput * dataRanks,
    unit: result.unit,
    eval: result.eval,
    checkpoint: checkpoints.last,
    run_dir: runDir,
    stopped: result.interrupted === null ? result.stopReason : null,
    interrupted: result.interrupted,
    data_wait_s: result.dataWaitSeconds,
    peak_bytes: peak,
    model_state_bytes: measuredModelStateBytes(report, parts.optimizer),
    comm_bytes: strategy.commBytes === undefined ? null : strategy.commBytes / Math.max(result.steps - firstStep, 1),
    compile: result.compile && { compilations: result.compile.compilations, compile_ms: result.compile.compileMs, replays: result.compile.replays },
  };
  // The run folder keeps its outcome beside its metrics (turbine report shows it).
  if (lead) writeFileSync(join(runDir, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
  // Freed now, not left to the tracker as live: training that goes on in this process (after a
  // structured cut, the next search trial) counts only its own memory.
  parts.model.zeroGrad();
  parts.optimizer.clearState();
  for (const t of Object.values(parts.model.stateDict())) t.dispose();
  return summary;
}

/** A stop check every rank answers alike: any rank's request stops all of them after the same step. */
function agreedStop(group: ProcessGroup, local: () => string | null): () => string | null {
  return () => {
    const reason = local();
    // A rank that saw no request before the all-reduce asks again: the request may have come since.
    return anyRank(group, reason !== null) ? (reason ?? local() ?? "a stop requested on another rank") : null;
  };
}

/** Rank 0 creates the run's version folder (it owns the run folder); the other ranks learn its name. */
function newRunFolderOfJob(parent: string, group: ProcessGroup | undefined): string {
  if (!group) return newRunFolder(parent);
  const version = tensor([group.rank === 0 ? Number(basename(newRunFolder(parent)).slice("version_".length)) : 0]);
  try {
    group.broadcast(version, 0).wait();
    return join(parent, `version_${version.item()}`);
  } finally {
    version.dispose();
  }
}

/**
 * A stop (RunOptions.stopRequested: Ctrl-C, SIGTERM) that came while the run was being built,
 * before its first step: the run ended there and wrote nothing (no run folder, no checkpoint).
 * @example try { runTraining(config, { stopRequested }); } catch (e) { if (e instanceof InterruptedBeforeTraining) console.error(e.reason); }
 */
export class InterruptedBeforeTraining extends Error {
  constructor(readonly reason: string) {
    super(`interrupted by ${reason} before training started; nothing was written`);
  }
}

/** The ranks of a job that share this machine's memory: torchrun's LOCAL_WORLD_SIZE (turbine launch sets it on both backends), else this one. */
function ranksOnThisMachine(group: ProcessGroup): number {
  const local = Number(process.env.LOCAL_WORLD_SIZE);
  return Number.isSafeInteger(local) && local >= 1 && local <= group.size ? local : 1;
}
