import { CharTokenizer } from "../data/tokenizer.js";
import { GPT, type GPTConfig } from "../models/gpt.js";
import { cnn } from "../models/cnn.js";
import { mlp } from "../models/mlp.js";
import type { Module } from "../nn/module.js";
import { wholeModel } from "../parallel/state.js";
import { isOutOfMemory } from "../tensor/memory.js";
import type { Tensor } from "../tensor/tensor.js";
import { CheckpointError, type LoadedCheckpoint, loadLatestCheckpoint } from "./checkpoint.js";
import type { Config } from "./config.js";
import { parseConfig } from "./config_file.js";

/** A model rebuilt from `turbine train`'s checkpoint, with the config that trained it. */
export interface TrainedModel {
  model: Module;
  config: Config;
  /** The checkpoint's meta: `tokenizer` for a gpt. */
  meta: Record<string, unknown>;
  step: number;
  dir: string;
}

/**
 * The model of a config, built whole and unsharded (dropout off): what a checkpoint's weights
 * load into. A gpt needs its vocabulary size (its tokenizer's).
 * @example const model = modelOfConfig(config.model, 65);
 */
export function modelOfConfig(m: Config["model"], vocabSize = 0): Module {
  if (m.kind === "mlp") return mlp({ inputs: 784, hidden: m.hidden, classes: 10, init: m.init as never });
  if (m.kind === "cnn") return cnn({ input: [1, 28, 28], channels: m.channels, hidden: m.hidden, classes: 10, init: m.init as never });
  return new GPT({ ...gptConfigOf(m, vocabSize), dropout: 0, checkpoint: false });
}

/**
 * The GPTConfig of a config's gpt model, for a vocabulary of vocabSize.
 * @example new GPT(gptConfigOf(config.model, tokenizer.vocabSize))
 */
export function gptConfigOf(m: Extract<Config["model"], { kind: "gpt" }>, vocabSize: number): GPTConfig {
  const { context, layers, heads, width, headDim, mlpHidden, tiedHead, dropout, checkpoint, moe } = m;
  return { vocabSize, context, layers, heads, width, headDim, mlpHidden, tiedHead, dropout, checkpoint, moe };
}

/**
 * The whole model that a checkpoint's meta.json describes (its config, and for a gpt its
 * tokenizer), loaded with `tensors` (the checkpoint's whole weights, by stateDict name). A
 * checkpoint whose config, tokenizer and weights do not make one model (its files agree with
 * their checksums, so it was written that way or edited) is a CheckpointError naming its folder.
 * @example const { model } = modelOfCheckpoint(checkpoint, wholeModel(checkpoint.reader));
 */
export function modelOfCheckpoint(checkpoint: LoadedCheckpoint, tensors: Record<string, Tensor>): { model: Module; config: Config } {
  const config: Config = parseConfig(checkpoint.meta.config, `${checkpoint.dir}/meta.json`);
  const tokenizer = (checkpoint.meta as unknown as Record<string, unknown>).tokenizer;
  try {
    const model = modelOfConfig(config.model, tokenizer === undefined ? 0 : CharTokenizer.fromJSON(tokenizer).vocabSize);
    model.loadStateDict(tensors);
    return { model, config };
  } catch (error) {
    if (!(error instanceof Error) || isOutOfMemory(error)) throw error;
    throw new CheckpointError(`${checkpoint.dir}: its weights do not fit the model its meta.json describes (${error.message})`, { cause: error });
  }
}

/**
 * Rebuilds the model of a trained run from its newest verified checkpoint (`path`: a run
 * folder, its checkpoints/ folder or one checkpoint), whatever world size and layout wrote it.
 * @example const { model, config } = loadTrainedModel("runs/mlp/version_0", console.warn);
 */
export function loadTrainedModel(path: string, warn: (line: string) => void): TrainedModel {
  const checkpoint = loadLatestCheckpoint(path, warn);
  try {
    const tensors = wholeModel(checkpoint.reader);
    try {
      const { model, config } = modelOfCheckpoint(checkpoint, tensors);
      return { model: model.eval(), config, meta: checkpoint.meta as unknown as Record<string, unknown>, step: checkpoint.meta.step, dir: checkpoint.dir };
    } finally {
      for (const t of Object.values(tensors)) t.dispose();
    }
  } finally {
    checkpoint.close();
  }
}
