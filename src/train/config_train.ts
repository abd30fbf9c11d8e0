import { z } from "zod";

import { int, positive } from "./config_fields.js";

/** The config's `train`, `checkpoint` and `logging` sections: the loop's length, cadences, precision and outputs. */

/** The most OpenMP threads the kernels take (their setNumThreads refuses more). */
export const MAX_KERNEL_THREADS = 1024;

const earlyStopping = z
  .strictObject({
    metric: z.enum(["loss", "accuracy"]).default("loss").describe("evaluation metric watched"),
    mode: z.enum(["min", "max"]).default("min").describe("whether lower or higher is better"),
    patience: int(1).default(3).describe("evaluations without improvement before stopping"),
    minDelta: z.number().min(0).default(0).describe("smallest change that counts as an improvement"),
  })
  .describe("earlyStopping");

const lossScale = z
  .strictObject({
    initScale: positive()
      .default(2 ** 16)
      .describe("starting loss scale"),
    growthFactor: z.number().gt(1).default(2).describe("factor on the scale after growthInterval steps without inf/NaN gradients"),
    backoffFactor: z.number().gt(0).lt(1).default(0.5).describe("factor on the scale after a step with inf/NaN gradients (the step is skipped)"),
    growthInterval: int(1).default(2000).describe("clean steps in a row before the scale grows"),
  })
  .describe("lossScale");

/** The `train` section: length, accumulation, clipping, seed, threads, cadences, precision, compile. @example trainSection.parse({ steps: 1000 }) */
export const trainSection = z
  .strictObject({
    epochs: int(1).optional().describe("passes over the training set (default 1 when steps is not set)"),
    steps: int(1).optional().describe("optimizer steps; overrides epochs"),
    accumulate: int(1).default(1).describe("gradient accumulation: micro-batches (of data.batchSize) per optimizer step, each loss weighted 1/accumulate"),
    clipGradNorm: positive().nullable().default(null).describe("clip the global gradient norm to this (null: no clipping)"),
    seed: int(0).default(0).describe("seed of initialisation, shuffling and dropout"),
    threads: int(1).max(MAX_KERNEL_THREADS).optional().describe(`OpenMP threads of the kernels, 1 to ${MAX_KERNEL_THREADS} (default: all cores)`),
    logEvery: int(1).default(50).describe("steps between metric lines"),
    evalEvery: int(1).nullable().default(null).describe("steps between evaluations (null: at the end of every epoch)"),
    earlyStopping: earlyStopping.optional(),
    precision: z
      .enum(["float32", "bfloat16", "float16"])
      .default("float32")
      .describe("autocast dtype of matmul, convolution and attention (weights, optimizer state, norms and losses stay float32)"),
    lossScale: lossScale.optional().describe("dynamic loss scaling (GradScaler) settings; float16 always scales, with these or the defaults"),
    compile: z
      .boolean()
      .default(false)
      .describe(
        "compile each whole step (forward, backward, the optimizer's part): recorded on the first two steps of each batch shape, then replayed as a flat list of kernel calls over one planned arena, natively where it can (one process and ddp)",
      ),
    compileCacheSize: int(1)
      .default(8)
      .describe("most batch shapes compiled (a sequence-length warm-up makes several); steps of further shapes run eagerly, with one message"),
  })
  .default({ accumulate: 1, clipGradNorm: null, seed: 0, logEvery: 50, evalEvery: null, precision: "float32", compile: false, compileCacheSize: 8 })
  .describe("train");

/** The `checkpoint` section: when checkpoints are written and how many are kept. @example checkpointSection.parse({ every: 500 }) */
export const checkpointSection = z
  .strictObject({
    every: int(1).nullable().default(null).describe("steps between checkpoints (null: only at the end)"),
    keep: int(1).default(3).describe("how many recent checkpoints are kept"),
    atEnd: z.boolean().default(true).describe("save a checkpoint when training ends"),
  })
  .default({ every: null, keep: 3, atEnd: true })
  .describe("checkpoint");

/** The `logging` section: outputs besides metrics.jsonl. @example loggingSection.parse({ tensorboard: true }) */
export const loggingSection = z
  .strictObject({
    tensorboard: z
      .boolean()
      .default(false)
      .describe(
        "also write TensorBoard event files (events.out.tfevents.*) to the run folder: train loss, learning rate, throughput and gradient norm per step, evaluation loss and accuracy",
      ),
  })
  .default({ tensorboard: false })
  .describe("logging");
