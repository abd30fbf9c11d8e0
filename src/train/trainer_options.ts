import type { Precision } from "../amp/autocast.js";
import type { CompileStats } from "../compile/index.js";
import type { DataLoader } from "../data/dataloader.js";
import type { Module } from "../nn/module.js";
import type { GradScaler } from "../optim/grad_scaler.js";
import type { Optimizer } from "../optim/optimizer.js";
import type { LRScheduler } from "../optim/schedule.js";
import type { Pruner } from "../prune/pruner.js";
import type { Strategy } from "../parallel/strategy.js";
import type { Callback } from "./callbacks.js";
import type { Batch, Task } from "./task.js";

/** What a Trainer is made of (TrainerOptions) and what its fit returns (FitResult). */

/**
 * The parts and settings of a Trainer: model, optimizer, task, data, and what runs around each step.
 * @example new Trainer({ model, optimizer, task: classification(), train: loader, accumulate: 4 })
 */
export interface TrainerOptions {
  model: Module;
  optimizer: Optimizer<any>;
  scheduler?: LRScheduler;
  task: Task;
  train: DataLoader<any, Batch>;
  eval?: Iterable<Batch>;
  /** Micro-batches per optimizer step (gradient accumulation, default 1); see accumulate.ts. */
  accumulate?: number;
  /** Clip the global gradient norm to this before each step. */
  clipGradNorm?: number | null;
  /** Evaluate every this many steps (default: at the end of every epoch). */
  evalEvery?: number | null;
  callbacks?: Callback[];
  /** Saved with every checkpoint (the config, a tokenizer...). */
  meta?: Record<string, unknown>;
  /**
   * Replaces each training batch just before its step, given the 0-based step it is for (a
   * sequence-length warm-up crops token windows); it owns the batch it is given.
   */
  prepareBatch?: (batch: Batch, step: number) => Batch;
  /** Autocast dtype of forward and loss, in training and evaluation (default float32: none). */
  precision?: Precision;
  /** Loss scaling (float16): the loss is scaled, gradients unscaled before clipping, inf/NaN steps skipped. */
  gradScaler?: GradScaler | null;
  /**
   * How this rank trains in parallel (default: SingleProcess on `model`): it runs backward
   * (with accumulation, all but the last micro-batch of a step without sync), clips by the whole
   * model's gradient norm, steps the optimizer and gives this rank's part of a checkpoint.
   */
  strategy?: Strategy;
  /**
   * Polled after every step (a signal flag, a deadline): a reason ends training there, without
   * the final evaluation; the callbacks' onTrainEnd still runs, so a checkpoint is written. Under
   * data parallelism every rank must get the same answer at the same step.
   */
  stopRequested?: () => string | null;
  /**
   * Compile each step's forward and backward (src/compile): recorded on the first two steps of
   * each batch shape, replayed after, with the optimizer, unscaling and clipping run as before.
   * One process and DDP only. Absent or null: eager.
   */
  compile?: { cacheSize?: number; log?: (line: string) => void } | null;
  /**
   * Masks weights during training (src/prune): pruned gradients are zeroed before clipping and
   * the step, masks updated and pruned weights zeroed after it; its masks go into checkpoints.
   */
  pruner?: Pruner | null;
}

/** What Trainer.fit returns: where training ended, its time and throughput, the last evaluation. @example const { steps, eval: last } = trainer.fit({ steps: 100 }); */
export interface FitResult {
  steps: number;
  epochs: number;
  trainSeconds: number;
  throughput: number;
  unit: "samples" | "tokens";
  eval: { loss: number; accuracy?: number } | null;
  stopReason: string | null;
  /** Seconds the training thread waited for batches. */
  dataWaitSeconds: number;
  /** Optimizer steps the GradScaler skipped for inf/NaN gradients (0 without one). */
  skippedSteps: number;
  /** Why training was interrupted (TrainerOptions.stopRequested), or null. */
  interrupted: string | null;
  /** Compilations, replays and compile time under TrainerOptions.compile, else null. */
  compile: CompileStats | null;
}
