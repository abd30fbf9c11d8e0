import { totalmem } from "node:os";

import type { Config } from "./config.js";
import { ConfigError } from "./config_file.js";
import { formatBytes } from "./memory_report.js";
import { modelStateBytes } from "./model_state_bytes.js";

/**
 * The least memory a config's run can take, worked out from the config alone, before anything
 * is built or loaded: so a size that is a valid number but cannot be honoured (`--set
 * model.layers=100000000`) is refused at once with the field's name, instead of building for
 * minutes until the machine runs out. Every figure is a lower bound (what turbine's layout
 * holds at the least), so a run this refuses could not have trained here.
 */

/** The images the mlp and cnn train on: Fashion-MNIST's 1×28×28, 10 classes. */
const IMAGE = { side: 28, pixels: 28 * 28, classes: 10 } as const;

/**
 * Parameter elements (Ψ) of a config's model, without building it. A gpt's vocabulary comes
 * from its data, known only once the text is read: without `vocabSize` it counts as 1 (so the
 * figure is a lower bound). Equals `parameterCount` of the built model.
 * @example configParameterCount({ kind: "mlp", hidden: [1024, 1024], init: "default" }) // 1,863,690
 */
export function configParameterCount(model: Config["model"], vocabSize = 1): number {
  const linear = (inputs: number, outputs: number, bias = true): number => inputs * outputs + (bias ? outputs : 0);
  if (model.kind === "mlp") {
    const widths = [IMAGE.pixels, ...model.hidden, IMAGE.classes];
    return widths.slice(1).reduce((n, w, i) => n + linear(widths[i]!, w), 0);
  }
  if (model.kind === "cnn") {
    const stages = cnnStages(model.channels);
    const convs = stages.reduce((n, s) => n + linear(9 * s.inputs, s.channels), 0);
    const last = stages.at(-1)!;
    return convs + linear(last.channels * last.side * last.side, model.hidden) + linear(model.hidden, IMAGE.classes);
  }
  const w = model.width,
    inner = model.heads * (model.headDim ?? w / model.heads),
    hidden = model.mlpHidden ?? 4 * w;
  const mlp = model.moe
    ? linear(w, model.moe.experts, false) + model.moe.experts * (linear(w, 4 * w) + linear(4 * w, w))
    : linear(w, hidden) + linear(hidden, w);
  const block = 2 * w + linear(w, 3 * inner) + linear(inner, w) + 2 * w + mlp;
  const head = model.tiedHead ? 0 : linear(w, vocabSize, false);
  return vocabSize * w + model.context * w + model.layers * block + 2 * w + head;
}

/** Each conv+pool stage of the cnn: its input and output channels and the side of its pooled output. */
function cnnStages(channels: readonly number[]): { inputs: number; channels: number; side: number }[] {
  let side: number = IMAGE.side,
    inputs = 1;
  return channels.map((c, i) => {
    side = Math.floor((side - 2) / 2);
    if (side < 1) {
      throw new ConfigError(
        `config: model.channels has ${channels.length} stages; a ${IMAGE.side}×${IMAGE.side} image allows at most ${i} (each 3×3 convolution and 2×2 pooling takes ${IMAGE.side}→13→5→1)`,
      );
    }
    const stage = { inputs, channels: c, side };
    inputs = c;
    return stage;
  });
}

/** float32 values of optimizer state per parameter element, at the least (Muon keeps one for its matrices, two for the rest). */
function stateValues(optimizer: Config["optimizer"]): number {
  if (optimizer.kind === "sgd") return (optimizer.momentum ?? 0) > 0 ? 1 : 0;
  return optimizer.kind === "lion" || optimizer.kind === "muon" ? 1 : 2;
}

/**
 * Activation bytes one rank keeps for backward, at the least: the batch itself, and what
 * activation checkpointing would still keep (each layer's input for the mlp and cnn, each
 * transformer block's input for the gpt, split by pipeline stages and micro-batches and, with
 * sequence parallelism, by the tensor ranks).
 */
function activationFloor(config: Config): number {
  const { model, data, parallel } = config;
  const batch = data.batchSize;
  const low = config.train.precision === "float32" ? 4 : 2;
  if (model.kind === "mlp") return batch * (4 * IMAGE.pixels + low * (model.hidden.reduce((a, b) => a + b, 0) + IMAGE.classes));
  if (model.kind === "cnn") {
    const pooled = cnnStages(model.channels).reduce((n, s) => n + s.channels * s.side * s.side, 0);
    return batch * (4 * IMAGE.pixels + low * (pooled + model.hidden + IMAGE.classes));
  }
  const microBatch = Math.max(1, Math.floor(batch / parallel.microBatches));
  const layers = Math.ceil(model.layers / parallel.pipeline);
  const split = parallel.sequenceParallel ? parallel.tensor : 1;
  // The token ids of the whole batch, and one micro-batch's block inputs (the residual stream stays float32).
  return 4 * batch * model.context + (4 * microBatch * model.context * model.width * layers) / split;
}

/** Where a run's ranks are: how many in the job, and how many share this machine's memory. */
export interface RankPlacement {
  /** Ranks of the job (default 1). */
  ranks?: number;
  /** Ranks on this machine (default: ranks): worker threads of `turbine launch` all share it. */
  ranksHere?: number;
  /** A gpt's vocabulary when known (default 1: a lower bound). */
  vocabSize?: number;
}

/** The least memory of a run, in bytes, and its parts. */
export interface MemoryFloor {
  /** Ψ, the model's parameter elements. */
  parameters: number;
  /** One rank's parameters, gradients and optimizer state (modelStateBytes of its share). */
  modelStates: number;
  /** One rank's activations and batch. */
  activations: number;
  /** (modelStates + activations) × the ranks on this machine. */
  total: number;
}

/**
 * The least memory a config's run takes on this machine: each rank's share of the model states
 * (its 1/(tensor × pipeline) of the parameters, ZeRO-sharded over the data ranks by
 * `modelStateBytes` with no buffers) and of the activations, times the ranks on this machine.
 * @example memoryFloor(config, { ranks: 4 }).total
 */
export function memoryFloor(config: Config, placement: RankPlacement = {}): MemoryFloor {
  const { tensor, pipeline, zero, offload } = config.parallel;
  const ranks = placement.ranks ?? 1;
  const parameters = configParameterCount(config.model, placement.vocabSize);
  const dataRanks = Math.max(1, config.parallel.data ?? Math.floor(ranks / (tensor * pipeline)));
  const states = modelStateBytes({
    parameters: Math.ceil(parameters / (tensor * pipeline)),
    ranks: dataRanks,
    stage: zero,
    offload,
    stateValues: stateValues(config.optimizer),
    bucketElements: 0,
    gatheredElements: 0,
  });
  const activations = activationFloor(config);
  return { parameters, modelStates: states.resident, activations, total: (states.resident + activations) * (placement.ranksHere ?? ranks) };
}

/**
 * The memory this process may use: the machine's, or less where a control group limits it.
 * @example availableMemory() // 137,438,953,472 on a 128 GiB machine
 */
export function availableMemory(): number {
  const limit = process.constrainedMemory?.() ?? 0;
  return limit > 0 ? Math.min(limit, totalmem()) : totalmem();
}

/** The model's size fields and their values, e.g. "model.layers 100000000, model.width 256". */
function sizeFields(model: Config["model"]): string {
  const fields: [string, unknown][] =
    model.kind === "gpt"
      ? [
          ["layers", model.layers],
          ["width", model.width],
          ["context", model.context],
          ...(model.moe ? [["moe.experts", model.moe.experts] as [string, unknown]] : []),
        ]
      : model.kind === "mlp"
        ? [["hidden", model.hidden]]
        : [
            ["channels", model.channels],
            ["hidden", model.hidden],
          ];
  return fields.map(([name, value]) => `model.${name} ${JSON.stringify(value)}`).join(", ");
}

/**
 * Refuses, with a ConfigError (exit 2) naming the fields, a config whose least memory (memoryFloor)
 * exceeds this machine's (`memory`, default availableMemory()): the model's size fields and its
 * parameter count when the model states weigh more, data.batchSize otherwise.
 * @example checkMemoryFloor(parseConfig(raw, "big.json"));   // throws: config: the model (model.layers 100000000, ...) has ...
 */
export function checkMemoryFloor(config: Config, placement: RankPlacement & { memory?: number } = {}): void {
  const memory = placement.memory ?? availableMemory();
  const floor = memoryFloor(config, placement);
  if (floor.total <= memory) return;
  const ranksHere = placement.ranksHere ?? placement.ranks ?? 1;
  const perRank = ranksHere > 1 ? ` per rank, ${ranksHere} ranks on this machine,` : "";
  const cause =
    floor.modelStates >= floor.activations
      ? `the model (${sizeFields(config.model)}) has ${floor.parameters.toLocaleString("en-US")} parameters, ${formatBytes(floor.modelStates)} with their gradients and ${config.optimizer.kind} state${perRank}`
      : `a batch of data.batchSize ${config.data.batchSize}${config.model.kind === "gpt" ? ` × model.context ${config.model.context} tokens` : ""} keeps at least ${formatBytes(floor.activations)} of activations${perRank}`;
  throw new ConfigError(
    `config: ${cause} and this machine has ${formatBytes(memory)} of memory; lower ${floor.modelStates >= floor.activations ? "the model's sizes" : "data.batchSize"}`,
  );
}
