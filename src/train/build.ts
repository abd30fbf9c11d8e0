import { DataLoader } from "../data/dataloader.js";
import { FashionMNIST } from "../data/fashion_mnist.js";
import { cnn } from "../models/cnn.js";
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
import type { Config } from "./config.js";
import { classification, type Batch, type Task } from "./task.js";

/** Everything a config describes, built: model, data, optimizer, schedule and task. */
export interface RunParts {
  model: Module;
  optimizer: Optimizer<any>;
  scheduler: LRScheduler;
  task: Task;
  train: DataLoader<any, Batch>;
  eval: DataLoader<any, Batch>;
  totalSteps: number;
}

/** Builds a run from a validated config; the seed makes initialisation and shuffling repeatable. */
export function buildRun(config: Config): RunParts {
  manualSeed(config.train.seed);
  const data = config.data;
  const trainSet = FashionMNIST.load({ split: "train", root: data.root });
  const testSet = FashionMNIST.load({ split: "test", root: data.root });
  const train = new DataLoader(trainSet, { batchSize: data.batchSize, shuffle: data.shuffle, seed: config.train.seed });
  const evalLoader = new DataLoader(testSet, { batchSize: data.evalBatchSize });
  const model = buildModel(config);
  const totalSteps = config.train.steps ?? (config.train.epochs ?? 1) * train.length;
  const optimizer = buildOptimizer(config, model);
  const scheduler = new LRScheduler(optimizer, buildSchedule(config, totalSteps));
  return { model, optimizer, scheduler, task: classification(), train, eval: evalLoader, totalSteps };
}

function buildModel(config: Config): Module {
  const m = config.model;
  switch (m.kind) {
    case "mlp":
      return mlp({ inputs: 784, hidden: m.hidden, classes: 10, init: m.init as never });
    case "cnn":
      return cnn({ input: [1, 28, 28], channels: m.channels, hidden: m.hidden, classes: 10, init: m.init as never });
  }
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
