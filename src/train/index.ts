export { Trainer, NonFiniteLossError, type TrainerOptions, type FitResult } from "./trainer.js";
export { classification, languageModel, type Task, type Batch, type EvalCounts } from "./task.js";
export { distillation, softTargetKL, type DistillOptions } from "./distill.js";
export { loadTrainedModel, modelOfConfig, type TrainedModel } from "./trained_model.js";
export { CheckpointCallback, EarlyStopping, MetricsFile, type Callback, type StepInfo, type EvalInfo } from "./callbacks.js";
export { Progress, type ProgressOptions } from "./progress.js";
export { progressMode, stderrProgressOutput, linesTo, PROGRESS_ENV, type ProgressMode, type ProgressOutput } from "./progress_output.js";
export { TensorBoardLogger } from "./tensorboard.js";
export {
  saveCheckpoint,
  loadCheckpoint,
  loadLatestCheckpoint,
  listCheckpoints,
  pruneCheckpoints,
  checkpointName,
  removeInterruptedWrites,
  assertSameModel,
  CheckpointError,
  type CheckpointContent,
  type CheckpointMeta,
  type LoadedCheckpoint,
} from "./checkpoint.js";
export { consolidateCheckpoint, type Consolidated } from "./consolidate.js";
export { configSchema, DEFAULT_CONFIG, type Config, type ConfigInput } from "./config.js";
export { parseConfig, readConfigFile, applyOverrides, configReference, ConfigError, asConfigError, type ConfigField } from "./config_file.js";
export { buildRun, buildOptimizer, buildSchedule, type RunParts } from "./build.js";
export { scheduleWarnings } from "./schedule_fit.js";
export { runTraining, InterruptedBeforeTraining, type RunOptions, type RunSummary } from "./run.js";
export { configParameterCount, memoryFloor, checkMemoryFloor, availableMemory, type MemoryFloor, type RankPlacement } from "./memory_floor.js";
export { newRunFolder, resumeTarget, runVersions, writeRunConfig, type ResumeTarget } from "./run_folder.js";
export { resumeConfig, configDifferences, RESUME_SAFE_FIELDS } from "./resume_config.js";
export { watchStopSignals, stopSignalReceived } from "./stop_signals.js";
export { stepsPerEpoch, microBatchesOfStep } from "./accumulate.js";
export { peakMemory, formatPeakMemory, formatModelStateBytes, formatBytes, type PeakMemory } from "./memory_report.js";
export {
  modelStateBytes,
  measuredModelStateBytes,
  parameterCount,
  largestParameter,
  type ModelStateBytes,
  type ModelStateLayout,
} from "./model_state_bytes.js";
export { checkLayout } from "./strategy_for.js";
