import { DataLoader } from "../data/dataloader.js";
import { FashionMNIST } from "../data/fashion_mnist.js";
import { loadTextCorpus } from "../data/corpus.js";
import { cnn } from "../models/cnn.js";
import { GPT } from "../models/gpt.js";
import { mlp } from "../models/mlp.js";
import type { Module } from "../nn/module.js";
import { Adam } from "../optim/adam.js";
import { AdamW } from "../optim/adamw.js";
import type { Optimizer } from "../optim/optimizer.js";
import {
  constant,
  cosine,
  linearDecay,
  linearWarmup,
  LRScheduler,
  type Schedule,
  sequential,
  stepDecay,
  warmupStableDecay,
} from "../optim/schedule.js";
import { SGD } from "../optim/sgd.js";
import { manualSeed } from "../tensor/random.js";
import type { Tensor } from "../tensor/tensor.js";
import { stepsPerEpoch } from "./accumulate.js";
import type { Config } from "./config.js";
import { ConfigError } from "./config_file.js";
import { classification, languageModel, type Batch, type Task } from "./task.js";

/** Everything a config describes, built: model, data, optimizer, schedule and task. */
export interface RunParts {
  model: Module;
  optimizer: Optimizer<any>;
  scheduler: LRScheduler;
  task: Task;
  train: DataLoader<any, Batch>;
  eval: DataLoader<any, Batch>;
  totalSteps: number;
  /** Saved with every checkpoint besides the config (a GPT's tokenizer). */
  meta: Record<string, unknown>;
}

/** Builds a run from a validated config; the seed makes initialisation and shuffling repeatable. */
export function buildRun(config: Config): RunParts {
  manualSeed(config.train.seed);
  const { model, task, train, eval: evalLoader, meta } = buildModelAndData(config);
  const totalSteps = config.train.steps ?? (config.train.epochs ?? 1) * stepsPerEpoch(train.length, config.train.accumulate);
  const optimizer = buildOptimizer(config, model);
  const scheduler = new LRScheduler(optimizer, buildSchedule(config, totalSteps));
  return { model, optimizer, scheduler, task, train, eval: evalLoader, totalSteps, meta };
}

function mismatch(config: Config): ConfigError {
  return new ConfigError(
    `config: model.kind ${JSON.stringify(config.model.kind)} cannot train on data.kind ${JSON.stringify(config.data.kind)} ` +
      "(mlp and cnn take fashion-mnist, gpt takes text)",
  );
}

/** The model, its data and its task; a GPT's tokenizer goes into `meta` for checkpoints. */
function buildModelAndData(config: Config): Omit<RunParts, "optimizer" | "scheduler" | "totalSteps"> {
  const m = config.model, data = config.data, seed = config.train.seed;
  if (m.kind === "gpt") {
    if (data.kind !== "text") throw mismatch(config);
    const corpus = loadTextCorpus({ path: data.path, context: m.context, trainFraction: data.trainFraction });
    const model = new GPT({ vocabSize: corpus.tokenizer.vocabSize, context: m.context, layers: m.layers, heads: m.heads, width: m.width, tiedHead: m.tiedHead, dropout: m.dropout, checkpoint: m.checkpoint });
    return {
      model,
      task: languageModel(),
      train: corpus.train.loader({ batchSize: data.batchSize, seed, ...(data.batchesPerEpoch ? { batchesPerEpoch: data.batchesPerEpoch } : {}) }),
      eval: corpus.val.fixedLoader({ batchSize: data.batchSize, batches: data.valBatches }),
      meta: { tokenizer: corpus.tokenizer.toJSON() },
    };
  }
  if (data.kind !== "fashion-mnist") throw mismatch(config);
  const model =
    m.kind === "mlp"
      ? mlp({ inputs: 784, hidden: m.hidden, classes: 10, init: m.init as never })
      : cnn({ input: [1, 28, 28], channels: m.channels, hidden: m.hidden, classes: 10, init: m.init as never });
  return {
    model,
    task: classification(),
    train: new DataLoader(FashionMNIST.load({ split: "train", root: data.root }), { batchSize: data.batchSize, shuffle: data.shuffle, seed }),
    eval: new DataLoader(FashionMNIST.load({ split: "test", root: data.root }), { batchSize: data.evalBatchSize }),
    meta: {},
  };
}

/** The optimizer of a config; with decayOn "matrices", vectors (biases, norms) get no weight decay. */
export function buildOptimizer(config: Config, model: Module): Optimizer<any> {
  const o = config.optimizer;
  const params = model.parameters();
  const groups: { params: Tensor[]; weightDecay?: number }[] =
    o.decayOn === "matrices"
      ? [{ params: params.filter((p) => p.ndim >= 2) }, { params: params.filter((p) => p.ndim < 2), weightDecay: 0 }].filter((g) => g.params.length > 0)
      : [{ params }];
  const common = { lr: o.lr, ...(o.weightDecay !== undefined ? { weightDecay: o.weightDecay } : {}) };
  switch (o.kind) {
    case "sgd":
      return new SGD(groups, { ...common, momentum: o.momentum ?? 0, dampening: o.dampening ?? 0, nesterov: o.nesterov ?? false });
    case "adam":
    case "adamw": {
      const options = { ...common, ...(o.betas ? { betas: o.betas } : {}), ...(o.eps !== undefined ? { eps: o.eps } : {}) };
      return o.kind === "adam" ? new Adam(groups, options) : new AdamW(groups, options);
    }
  }
}

/** The learning-rate factor schedule of a config over a run of totalSteps. */
export function buildSchedule(config: Config, totalSteps: number): Schedule {
  const s = config.schedule;
  const warmup = Math.min(s.warmup, totalSteps);
  const rest = Math.max(1, totalSteps - warmup);
  if (s.decay === "wsd") {
    const decay = Math.max(1, Math.round(s.decayFraction * totalSteps));
    return warmupStableDecay({ warmup: Math.max(1, warmup), stable: Math.max(1, totalSteps - warmup - decay), decay, floor: s.floor });
  }
  const tail =
    s.decay === "cosine" ? cosine(rest, s.floor) : s.decay === "linear" ? linearDecay(rest, s.floor) : s.decay === "step" ? stepDecay(s.stepSize, s.gamma) : constant();
  return warmup > 0 ? sequential([linearWarmup(warmup), tail], [warmup]) : tail;
}
