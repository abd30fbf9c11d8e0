import { z } from "zod";

import { dataSection } from "./config_data.js";
import { distillSection } from "./config_distill.js";
import { federatedSection } from "./config_federated.js";
import { modelSection } from "./config_model.js";
import { optimizerSection, scheduleSection } from "./config_optimizer.js";
import { parallelSection } from "./config_parallel.js";
import { pruneSection } from "./config_prune.js";
import { checkpointSection, loggingSection, trainSection } from "./config_train.js";

/**
 * The run configuration: one schema (zod) validates every config file and `--set` override,
 * and its descriptions are the config reference (`turbine train --help-config`, the README).
 * Unknown or wrong fields are errors that name the field, the value and what is allowed.
 * Each section's fields live in a file of their own (config_model.ts, config_data.ts,
 * config_optimizer.ts, config_train.ts, config_parallel.ts, config_distill.ts, config_prune.ts,
 * config_federated.ts).
 */

export { MAX_KERNEL_THREADS } from "./config_train.js";

export const configSchema = z
  .strictObject({
    name: z.string().min(1).optional().describe("run name (default: the model kind); each run writes a new folder <outDir>/<name>/version_N"),
    outDir: z.string().default("runs").describe("folder for runs: <name>/version_N/ holds each run's metrics.jsonl, checkpoints/ and config.json"),
    model: modelSection,
    data: dataSection,
    optimizer: optimizerSection,
    schedule: scheduleSection,
    train: trainSection,
    checkpoint: checkpointSection,
    logging: loggingSection,
    parallel: parallelSection,
    distill: distillSection,
    prune: pruneSection,
    federated: federatedSection,
  })
  .describe("config");

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/** The built-in default run of `turbine train`: the cnn on Fashion-MNIST, a few epochs. */
export const DEFAULT_CONFIG: ConfigInput = {
  model: { kind: "cnn" },
  data: { kind: "fashion-mnist", batchSize: 128 },
  optimizer: { kind: "adamw", lr: 2e-3 },
  schedule: { warmup: 100, decay: "cosine", floor: 0.1 },
  train: { epochs: 4, clipGradNorm: 1.0, logEvery: 50 },
};
