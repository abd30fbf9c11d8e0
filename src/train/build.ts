import { FrozenVarianceAdam } from "../parallel/compression/frozen_variance_adam.js";
import { frozenVarianceCompression } from "../parallel/compression/index.js";
import { OneBitAdam } from "../parallel/compression/onebit_adam.js";
import { DataLoader } from "../data/dataloader.js";
import { DistributedSampler } from "../data/distributed_sampler.js";
import { FashionMNIST } from "../data/fashion_mnist.js";
import { loadTextCorpus } from "../data/corpus.js";
import { CurriculumSampler, readScores } from "../data/curriculum.js";
import { SeqLenWarmup } from "../data/seq_len_warmup.js";
import { TooFewTokensError } from "../data/text.js";
import { TokenFileDataset } from "../data/token_dataset.js";
import { TokenFile } from "../data/token_file.js";
import { GPT } from "../models/gpt.js";
import { deferInit } from "../nn/deferred.js";
import type { Module } from "../nn/module.js";
import type { Precision } from "../amp/autocast.js";
import { Adam } from "../optim/adam.js";
import { AdamW } from "../optim/adamw.js";
import { GradScaler } from "../optim/grad_scaler.js";
import { Lamb } from "../optim/lamb.js";
import { Lion } from "../optim/lion.js";
import { Muon } from "../optim/muon.js";
import type { Optimizer } from "../optim/optimizer.js";
import { constant, cosine, linearDecay, linearWarmup, LRScheduler, type Schedule, sequential, stepDecay, warmupStableDecay } from "../optim/schedule.js";
import { SGD } from "../optim/sgd.js";
import { Pruner } from "../prune/pruner.js";
import { structuresOf } from "../prune/structured.js";
import { manualSeed } from "../tensor/random.js";
import type { Tensor } from "../tensor/tensor.js";
import type { TransformSpec } from "../data/transforms/compose.js";
import { stepsPerEpoch } from "./accumulate.js";
import type { Config } from "./config.js";
import type { AugmentConfig } from "./config_data.js";
import { ConfigError } from "./config_file.js";
import { muonSplit } from "./muon_split.js";
import { distillation } from "./distill.js";
import { classification, languageModel, type Batch, type Task } from "./task.js";
import { gptConfigOf, loadTrainedModel, modelOfConfig, type TrainedModel } from "./trained_model.js";

/** Everything a config describes, built: model, data, optimizer, schedule and task. */
export interface RunParts {
  model: Module;
  optimizer: Optimizer<any>;
  scheduler: LRScheduler;
  task: Task;
  train: DataLoader<any, Batch>;
  eval: DataLoader<any, Batch>;
  totalSteps: number;
  /** The autocast dtype of forward and loss (float32: none). */
  precision: Precision;
  /** Loss scaling: always for float16, never otherwise. */
  gradScaler: GradScaler | null;
  /** Saved with every checkpoint besides the config (a GPT's tokenizer). */
  meta: Record<string, unknown>;
  /** Applied to each training batch before its step (a GPT's sequence-length warm-up). */
  prepareBatch?: (batch: Batch, step: number) => Batch;
  /** The weight masks of `prune` (kinds magnitude and nm), or null. */
  pruner: Pruner | null;
}

/** This rank's place in a data-parallel job: its training data is shard `rank` of `worldSize`. */
export interface Shard {
  rank: number;
  worldSize: number;
}

/**
 * Builds a run from a validated config; the seed makes initialisation and shuffling repeatable.
 * `placeModel` gives the module this rank trains (its tensor-parallel part, say) before the
 * optimizer is made for it.
 * With a shard, the config's batch size is per rank (PyTorch DDP's convention: the global
 * batch is batchSize × worldSize) and each rank trains on its shard of the global order.
 */
export function buildRun(config: Config, shard?: Shard, placeModel?: (model: Module) => Module): RunParts {
  manualSeed(config.train.seed);
  const built = buildModelAndData(config, shard);
  const { train, eval: evalLoader, meta, prepareBatch } = built;
  const task = config.distill ? distillation(built.task, teacherOf(config, meta), config.distill) : built.task;
  const model = placeModel ? placeModel(built.model) : built.model;
  const totalSteps = config.train.steps ?? (config.train.epochs ?? 1) * stepsPerEpoch(train.length, config.train.accumulate);
  const optimizer = buildOptimizer(config, model);
  const scheduler = new LRScheduler(optimizer, buildSchedule(config, totalSteps));
  const { precision, lossScale } = config.train;
  const gradScaler = precision === "float16" ? new GradScaler(lossScale ?? {}) : null;
  const pruner = prunerOf(config, model, totalSteps);
  return { model, optimizer, scheduler, task, train, eval: evalLoader, totalSteps, precision, gradScaler, meta, prepareBatch, pruner };
}

/**
 * The Pruner of a masking `prune` block; pruning needs each rank to hold whole weights (one
 * process or DDP). A structured block has no masks: the run cuts the model (structured_run.ts).
 */
function prunerOf(config: Config, model: Module, totalSteps: number): Pruner | null {
  const p = config.prune;
  if (!p) return null;
  const { zero, tensor, pipeline, expert, offload } = config.parallel;
  if (zero > 0 || tensor > 1 || pipeline > 1 || expert > 1 || offload !== "none") {
    throw new ConfigError(
      `config: prune needs whole weights on every rank (one process or DDP), got parallel.zero ${zero}, tensor ${tensor}, pipeline ${pipeline}, expert ${expert}, offload ${offload}`,
    );
  }
  if (p.kind !== "structured") return new Pruner(model, { ...p, kind: p.kind });
  const has = structuresOf(config.model),
    targets = p.targets ?? has;
  if (!targets.some((t) => has.includes(t))) {
    throw new ConfigError(`config: prune.targets ${targets.join(", ")} removes nothing from a ${config.model.kind} (it has ${has.join(", ")})`);
  }
  if (p.schedule.end >= totalSteps) {
    throw new ConfigError(`config: prune.schedule.end ${p.schedule.end} (the structured cut) leaves no step to fine-tune: the run has ${totalSteps} steps`);
  }
  if (config.parallel.mode === "ps") throw new ConfigError("config: structured pruning runs in one process or under DDP, not under parallel.mode ps");
  return null;
}

/** The teacher of `distill`: a trained run of the same task and, for a gpt, the same vocabulary and a context at least the student's. */
function teacherOf(config: Config, meta: Record<string, unknown>): Module {
  const path = config.distill!.teacher;
  if (config.parallel.tensor > 1 || config.parallel.pipeline > 1) {
    throw new ConfigError("config: distill runs with data parallelism only (parallel.tensor and parallel.pipeline must be 1)");
  }
  let teacher: TrainedModel;
  try {
    teacher = loadTrainedModel(path, (line) => process.stderr.write(`distill: ${line}\n`));
  } catch (error) {
    throw new ConfigError(`config: distill.teacher ${JSON.stringify(path)}: ${(error as Error).message}`);
  }
  const language = (c: Config): boolean => c.model.kind === "gpt";
  if (language(teacher.config) !== language(config)) {
    throw new ConfigError(
      `config: distill.teacher ${JSON.stringify(path)} is a ${teacher.config.model.kind}; a ${config.model.kind} learns from a ${language(config) ? "gpt" : "mlp or cnn"}`,
    );
  }
  if (JSON.stringify(teacher.meta.tokenizer ?? null) !== JSON.stringify(meta.tokenizer ?? null)) {
    throw new ConfigError(`config: distill.teacher ${JSON.stringify(path)} was trained on another vocabulary than this run's text`);
  }
  // The teacher reads the student's windows: up to the student's context.
  if (teacher.config.model.kind === "gpt" && config.model.kind === "gpt" && teacher.config.model.context < config.model.context) {
    throw new ConfigError(
      `config: distill.teacher ${JSON.stringify(path)} reads at most ${teacher.config.model.context} tokens, but this run's windows are model.context ${config.model.context}; lower model.context or give a teacher trained on longer windows`,
    );
  }
  return teacher.model;
}

function mismatch(config: Config): ConfigError {
  return new ConfigError(
    `config: model.kind ${JSON.stringify(config.model.kind)} cannot train on data.kind ${JSON.stringify(config.data.kind)} ` +
      "(mlp and cnn take fashion-mnist, gpt takes text or tokens)",
  );
}

type ModelAndData = Omit<RunParts, "optimizer" | "scheduler" | "totalSteps" | "precision" | "gradScaler" | "pruner">;

/** The model, its data and its task; a GPT's tokenizer goes into `meta` for checkpoints. */
function buildModelAndData(config: Config, shard?: Shard): ModelAndData {
  const m = config.model,
    data = config.data;
  if (m.kind !== "gpt") return buildClassifier(config, shard);
  if (data.kind !== "text" && data.kind !== "tokens") throw mismatch(config);
  try {
    return buildLanguageModel(config, shard);
  } catch (error) {
    if (!(error instanceof TooFewTokensError)) throw error;
    const share = Math.round(100 * (1 - data.trainFraction));
    throw new ConfigError(
      `config: ${error.message}; give a longer text or a smaller model.context (${m.context}); validation takes ` +
        `data.valBatches × data.batchSize = ${data.valBatches * data.batchSize} windows from the last ${share}% (data.trainFraction ${data.trainFraction})`,
    );
  }
}

/** A GPT on a text or token file. */
function buildLanguageModel(config: Config, shard?: Shard): ModelAndData {
  const m = config.model,
    data = config.data,
    seed = config.train.seed;
  if (m.kind === "gpt" && (data.kind === "text" || data.kind === "tokens")) {
    for (const [field, set] of [
      ["headDim", m.headDim],
      ["mlpHidden", m.mlpHidden],
    ] as const) {
      if (set !== undefined && config.parallel.tensor > 1)
        throw new ConfigError(`config: model.${field} (a structurally pruned gpt) trains with parallel.tensor 1`);
    }
    if (m.mlpHidden !== undefined && m.moe)
      throw new ConfigError("config: model.mlpHidden sizes the dense MLP; a gpt with model.moe has none (its experts are 4 × width)");
    if (m.headDim === undefined && m.width % m.heads !== 0)
      throw new ConfigError(`config: model.width ${m.width} is not a multiple of model.heads ${m.heads}; each head takes width / heads of the embedding`);
    if (m.moe && (m.moe.topK > m.moe.experts || config.parallel.tensor > 1 || config.parallel.pipeline > 1)) {
      throw new ConfigError(
        m.moe.topK > m.moe.experts
          ? `config: model.moe.topK ${m.moe.topK} exceeds model.moe.experts ${m.moe.experts}`
          : "config: model.moe runs with data parallelism only (parallel.tensor and parallel.pipeline must be 1)",
      );
    }
    const corpus =
      data.kind === "text"
        ? loadTextCorpus({ path: data.path, context: m.context, trainFraction: data.trainFraction })
        : (() => {
            const file = TokenFile.open(data.path);
            return { tokenizer: file.tokenizer, ...TokenFileDataset.split(file, { context: m.context, trainFraction: data.trainFraction }) };
          })();
    const gpt = (): GPT => new GPT(gptConfigOf(m, corpus.tokenizer.vocabSize));
    // Split across ranks, each materialises only its part: built without weights here.
    const { tensor, pipeline, expert } = config.parallel;
    const model = tensor > 1 || pipeline > 1 || expert > 1 ? deferInit(gpt) : gpt();
    if (data.seqLenWarmup && data.seqLenWarmup.start > m.context) {
      throw new ConfigError(
        `config: data.seqLenWarmup.start ${data.seqLenWarmup.start} exceeds model.context ${m.context}; the warm-up grows the context up to it`,
      );
    }
    const warmup = data.seqLenWarmup && new SeqLenWarmup({ ...data.seqLenWarmup, full: m.context });
    return {
      model,
      task: languageModel(),
      train: corpus.train.loader({
        batchSize: data.batchSize,
        seed,
        // Token files are read a window at a time in the training thread (they have no worker spec).
        ...(data.kind === "text" ? { numWorkers: data.numWorkers, prefetchFactor: data.prefetchFactor } : {}),
        ...(data.batchesPerEpoch ? { batchesPerEpoch: data.batchesPerEpoch } : {}),
        ...(shard ? { shard } : {}),
      }),
      eval: corpus.val.fixedLoader({ batchSize: data.batchSize, batches: data.valBatches }),
      meta: { tokenizer: corpus.tokenizer.toJSON() },
      ...(warmup ? { prepareBatch: (batch: Batch, step: number) => warmup.crop(batch, step) } : {}),
    };
  }
  throw mismatch(config);
}

/** An mlp or cnn on Fashion-MNIST. */
function buildClassifier(config: Config, shard?: Shard): ModelAndData {
  const m = config.model,
    data = config.data,
    seed = config.train.seed;
  if (m.kind === "gpt" || data.kind !== "fashion-mnist") throw mismatch(config);
  const model = modelOfConfig(m);
  return {
    model,
    task: classification(),
    train: fashionTrainLoader(data, seed, shard),
    eval: new DataLoader(FashionMNIST.load({ split: "test", root: data.root, cache: data.cache }), { batchSize: data.evalBatchSize }),
    meta: {},
  };
}

/**
 * The Fashion-MNIST training loader: shuffled, or in curriculum order when data.curriculum is
 * set, sharded by rank in a distributed job; batches made by data.numWorkers worker threads
 * with data.augment's transforms.
 */
function fashionTrainLoader(data: Extract<Config["data"], { kind: "fashion-mnist" }>, seed: number, shard?: Shard): DataLoader<any, Batch> {
  const train = FashionMNIST.load({ split: "train", root: data.root, cache: data.cache });
  const ranks = shard?.worldSize ?? 1;
  if (data.batchSize * ranks > train.length) {
    const job = ranks > 1 ? ` × ${ranks} ranks = ${data.batchSize * ranks}` : "";
    throw new ConfigError(
      `config: data.batchSize ${data.batchSize}${job} is larger than the training set (${train.length} samples); give data.batchSize ≤ ${Math.floor(train.length / ranks)}`,
    );
  }
  const common = {
    batchSize: data.batchSize,
    seed,
    numWorkers: data.numWorkers,
    prefetchFactor: data.prefetchFactor,
    transform: augmentTransforms(data.augment),
  };
  const c = data.curriculum;
  const order = c
    ? new CurriculumSampler({
        scores: readScores(c.scores, train.length),
        pacing: { kind: c.pacing, start: c.start, steps: c.steps },
        ...(c.per === "step" ? { batchSize: data.batchSize } : {}),
        seed,
      })
    : null;
  if (shard)
    return new DataLoader(train, {
      ...common,
      sampler: order ? new DistributedSampler(order, shard) : new DistributedSampler(train.length, { ...shard, shuffle: data.shuffle, seed }),
    });
  return order ? new DataLoader(train, { ...common, sampler: order }) : new DataLoader(train, { ...common, shuffle: data.shuffle });
}

/** The transforms of `data.augment`, with a crop's "black" fill as Fashion-MNIST's normalised black. */
function augmentTransforms(augment: AugmentConfig): TransformSpec[] {
  return augment.map((t) => (t.kind === "randomCrop" ? { ...t, fill: t.fill === "black" ? FashionMNIST.black : t.fill } : t));
}

/**
 * The optimizer of a config; with decayOn "matrices", vectors (biases, norms) get no weight
 * decay. Muon orthogonalises the hidden matrices (muonSplit) and hands the rest to its AdamW
 * part at adamLr.
 */
export function buildOptimizer(config: Config, model: Module): Optimizer<any> {
  const o = config.optimizer;
  const decayGroups = (params: Tensor[]): { params: Tensor[]; weightDecay?: number }[] =>
    o.decayOn === "matrices"
      ? [{ params: params.filter((p) => p.ndim >= 2) }, { params: params.filter((p) => p.ndim < 2), weightDecay: 0 }].filter((g) => g.params.length > 0)
      : [{ params }];
  const groups = decayGroups(model.parameters());
  const common = { lr: o.lr, ...(o.weightDecay !== undefined ? { weightDecay: o.weightDecay } : {}) };
  const betas = o.betas ? { betas: o.betas } : {};
  const eps = o.eps !== undefined ? { eps: o.eps } : {};
  switch (o.kind) {
    case "sgd":
      return new SGD(groups, { ...common, momentum: o.momentum ?? 0, dampening: o.dampening ?? 0, nesterov: o.nesterov ?? false });
    case "adam":
      return new Adam(groups, { ...common, ...betas, ...eps });
    case "adamw": {
      const compression = config.parallel.compression;
      if (compression.target !== "momentum") return new AdamW(groups, { ...common, ...betas, ...eps });
      // The momentum compressed after the variance freezes (on one process: the same frozen
      // variance, nothing to compress), so a run's steps do not depend on its rank count.
      return new FrozenVarianceAdam(groups, { ...common, ...betas, ...eps, freezeStep: compression.warmupSteps, ...frozenVarianceCompression(compression) });
    }
    case "lamb":
      return new Lamb(groups, { ...common, ...betas, ...eps });
    case "lion":
      return new Lion(groups, { ...common, ...betas });
    case "onebitadam":
      return new OneBitAdam(groups, { ...common, ...betas, ...eps, ...(o.freezeStep !== undefined ? { freezeStep: o.freezeStep } : {}) });
    case "muon": {
      const { matrices, others } = muonSplit(model);
      const adam = decayGroups(others).map((g) => ({ ...g, useMuon: false, lr: o.adamLr ?? 3e-4 }));
      const muonGroups = matrices.length > 0 ? [{ params: matrices }] : [];
      return new Muon([...muonGroups, ...adam], {
        ...common,
        ...betas,
        ...eps,
        ...(o.momentum !== undefined ? { momentum: o.momentum } : {}),
        ...(o.nesterov !== undefined ? { nesterov: o.nesterov } : {}),
        // The reference iterates in bf16; under bf16 autocast so does turbine (f32 otherwise, where
        // the fixtures pin the update to 1e-5).
        nsBf16: config.train.precision === "bfloat16",
      });
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
    s.decay === "cosine"
      ? cosine(rest, s.floor)
      : s.decay === "linear"
        ? linearDecay(rest, s.floor)
        : s.decay === "step"
          ? stepDecay(s.stepSize, s.gamma)
          : constant();
  return warmup > 0 ? sequential([linearWarmup(warmup), tail], [warmup]) : tail;
}
