import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";

import { CharTokenizer } from "../data/tokenizer.js";
import { wholeState } from "../parallel/replicated_state.js";
import { buildOptimizer } from "../train/build.js";
import { checkpointName, saveCheckpoint } from "../train/checkpoint.js";
import type { Config } from "../train/config.js";
import { ConfigError } from "../train/config_file.js";
import { writeRunConfig } from "../train/run_folder.js";
import { loadTrainedModel, modelOfConfig } from "../train/trained_model.js";
import { pruneStructured, type StructureKind, structuresOf } from "./structured.js";

/** What `turbine prune` wrote. */
export interface PrunedRun {
  /** The run folder of the smaller model (config.json, checkpoints/step-00000000). */
  dir: string;
  checkpoint: string;
  config: Config;
  /** Trainable parameters before and after. */
  parameters: { before: number; after: number };
}

/**
 * Rebuilds a trained run's model smaller (pruneStructured) and writes it as a new run folder at
 * step 0: its config.json (the smaller model, and `steps` fine-tuning steps if given) and one
 * checkpoint of its weights, so `turbine train --resume DIR` fine-tunes it (fresh optimizer,
 * schedule and data order) and anything that loads a trained run (distill.teacher, sample,
 * loadTrainedModel) evaluates it.
 * @example pruneRun("runs/cnn/version_0", { fraction: 0.5, targets: ["conv"], out: "runs/cnn-pruned" }, console.warn);
 */
export function pruneRun(
  from: string,
  options: { fraction: number; targets: readonly StructureKind[]; out: string; steps?: number },
  warn: (line: string) => void,
): PrunedRun {
  if (existsSync(options.out) && readdirSync(options.out).length > 0) throw new ConfigError(`prune: the output folder ${options.out} is not empty`);
  const trained = loadTrainedModel(from, warn);
  const kind = trained.config.model.kind,
    has = structuresOf(trained.config.model);
  if (!options.targets.some((t) => has.includes(t))) {
    throw new ConfigError(`prune: --targets ${options.targets.join(",")} removes nothing from a ${kind} (it has ${has.join(", ")})`);
  }
  const pruned = pruneStructured(trained.config.model, trained.model.stateDict(), options.fraction, options.targets);
  const { prune: _, ...rest } = trained.config;
  const config: Config = { ...rest, model: pruned.model, train: { ...trained.config.train, ...(options.steps ? { steps: options.steps } : {}) } };
  const tokenizer = trained.meta.tokenizer;
  const model = modelOfConfig(config.model, tokenizer === undefined ? 0 : CharTokenizer.fromJSON(tokenizer).vocabSize);
  model.loadStateDict(pruned.state);
  mkdirSync(options.out, { recursive: true });
  writeRunConfig(options.out, config);
  const checkpoint = join(options.out, "checkpoints", checkpointName(0));
  saveCheckpoint(checkpoint, {
    state: wholeState(model, buildOptimizer(config, model), "single"),
    meta: { step: 0, epoch: 0, config, ...(tokenizer === undefined ? {} : { tokenizer }) },
  });
  return { dir: options.out, checkpoint, config, parameters: { before: trained.model.parameterCount(), after: model.parameterCount() } };
}
