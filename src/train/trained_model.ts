import { CharTokenizer } from "../data/tokenizer.js";
import { GPT, type GPTConfig } from "../models/gpt.js";
import { cnn } from "../models/cnn.js";
import { mlp } from "../models/mlp.js";
import type { Module } from "../nn/module.js";
import { wholeModel } from "../parallel/state.js";
import { loadLatestCheckpoint } from "./checkpoint.js";
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
 * Rebuilds the model of a trained run from its newest verified checkpoint (`path`: a run
 * folder, its checkpoints/ folder or one checkpoint), whatever world size and layout wrote it.
 * @example const { model, config } = loadTrainedModel("runs/mlp/version_0", console.warn);
 */
export function loadTrainedModel(path: string, warn: (line: string) => void): TrainedModel {
  const checkpoint = loadLatestCheckpoint(path, warn);
  try {
    const config: Config = parseConfig(checkpoint.meta.config, `${checkpoint.dir}/meta.json`);
    const meta = checkpoint.meta as unknown as Record<string, unknown>;
    const model = modelOfConfig(config.model, meta.tokenizer === undefined ? 0 : CharTokenizer.fromJSON(meta.tokenizer).vocabSize);
    const tensors = wholeModel(checkpoint.reader);
    try {
      model.loadStateDict(tensors);
    } finally {
      for (const t of Object.values(tensors)) t.dispose();
    }
    return { model: model.eval(), config, meta, step: checkpoint.meta.step, dir: checkpoint.dir };
  } finally {
    checkpoint.close();
  }
}
