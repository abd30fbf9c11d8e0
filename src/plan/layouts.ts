import type { ScheduleName } from "../parallel/pipeline/schedule.js";
import type { Config } from "../train/config.js";
import { ConfigError } from "../train/config_file.js";
import { checkLayout } from "../train/strategy_for.js";
import type { ModelDescription } from "./model_description.js";

/**
 * One way to train a config on a number of ranks: the mesh, the ZeRO stage, offload,
 * activation checkpointing, and how a rank's share of the global batch is cut into
 * accumulation steps and pipeline micro-batches.
 */
export interface Layout {
  data: number;
  tensor: number;
  pipeline: number;
  zero: 0 | 1 | 2 | 3;
  offload: "none" | "disk";
  checkpoint: boolean;
  /** Accumulation steps per optimizer step (train.accumulate). */
  accumulate: number;
  /** Samples per rank per accumulation step (data.batchSize). */
  batchSize: number;
  /** Pipeline micro-batches per accumulation step (1 without a pipeline). */
  microBatches: number;
  /** Pipeline schedule (the config's without a pipeline). */
  schedule: ScheduleName;
  /** Model chunks per pipeline rank (interleaved; 1 otherwise). */
  virtualStages: number;
}

/** What the enumeration may vary; each list's values are tried in every combination. */
export interface LayoutSpace {
  zero: readonly (0 | 1 | 2 | 3)[];
  offload: readonly ("none" | "disk")[];
  checkpoint: readonly boolean[];
  schedules: readonly ScheduleName[];
  /** Accumulation steps tried: the divisors of a rank's share of the batch up to this. */
  maxAccumulate: number;
  /** Pipeline micro-batches tried: the divisors of the per-step batch up to this. */
  maxMicroBatches: number;
}

/** Every stage, offload and checkpointing choice, the three schedules, accumulation and micro-batches up to 8 and 16. */
export const FULL_SPACE: LayoutSpace = {
  zero: [0, 1, 2, 3],
  offload: ["none", "disk"],
  checkpoint: [false, true],
  schedules: ["gpipe", "1f1b", "interleaved"],
  maxAccumulate: 8,
  maxMicroBatches: 16,
};

const divisors = (n: number, max = n): number[] => Array.from({ length: Math.min(n, max) }, (_, i) => i + 1).filter((d) => n % d === 0);

/**
 * The config that trains `layout`: the given config with its parallel block, batch size,
 * accumulation and (gpt) activation checkpointing replaced.
 *
 * @example layoutConfig(config, layouts[0]).parallel.zero
 */
export function layoutConfig(config: Config, layout: Layout): Config {
  const model = config.model.kind === "gpt" ? { ...config.model, checkpoint: layout.checkpoint } : config.model;
  return {
    ...config,
    model,
    data: { ...config.data, batchSize: layout.batchSize },
    train: { ...config.train, accumulate: layout.accumulate },
    parallel: {
      ...config.parallel,
      data: layout.data,
      tensor: layout.tensor,
      pipeline: layout.pipeline,
      zero: layout.zero,
      offload: layout.offload,
      microBatches: layout.microBatches,
      schedule: layout.schedule,
      virtualStages: layout.virtualStages,
      stageLayers: undefined,
      sequenceParallel: layout.tensor > 1 && config.parallel.sequenceParallel,
    },
  } as Config;
}

/**
 * The layout a config asks for on `ranks` ranks (its mesh by checkLayout: a ConfigError when
 * turbine would refuse it); the inverse of layoutConfig.
 *
 * @example layoutOf(config, 2)   // { data: 2, tensor: 1, pipeline: 1, zero: 0, … }
 */
export function layoutOf(config: Config, ranks: number): Layout {
  const shape = checkLayout(config, ranks);
  const p = config.parallel;
  const piped = shape.pipeline > 1;
  return {
    data: shape.data,
    tensor: shape.tensor,
    pipeline: shape.pipeline,
    zero: p.zero,
    offload: p.offload,
    checkpoint: config.model.kind === "gpt" && config.model.checkpoint,
    accumulate: config.train.accumulate,
    batchSize: config.data.batchSize,
    microBatches: piped ? p.microBatches : 1,
    schedule: p.schedule,
    virtualStages: piped && p.schedule === "interleaved" ? p.virtualStages : 1,
  };
}

/**
 * Why turbine would not run `layout`, or null when it would: `checkLayout`'s rule (the one
 * strategyFor applies, shared, not copied), what the pipeline finds when it cuts the model
 * (a model it cannot cut, fewer layers than parts), and micro-batches that do not divide the
 * batch (they run, cut unevenly, but the planner's per-micro-batch figures assume equal ones).
 * `verdicts` caches checkLayout's answers across the batch sizes of one enumeration.
 *
 * @example layoutRefusal(config, layout, 8, model)   // null, or "parallel.zero 1 with parallel.pipeline 2 is not supported yet; …"
 */
export function layoutRefusal(config: Config, layout: Layout, ranks: number, model: ModelDescription, verdicts?: Map<string, string | null>): string | null {
  if (layout.checkpoint && config.model.kind !== "gpt") return `model.checkpoint is the gpt's; model.kind is ${config.model.kind}`;
  if (layout.pipeline > 1) {
    if (!model.pipelineable) return `pipeline: the ${model.kind} cannot be cut into stages`;
    const parts = layout.pipeline * layout.virtualStages;
    if (model.layers.length < parts) return `pipeline: ${model.layers.length} layers cannot be cut into ${parts} parts`;
    if (layout.batchSize % layout.microBatches !== 0) return `pipeline: ${layout.microBatches} micro-batches do not divide the batch of ${layout.batchSize}`;
  }
  // checkLayout reads the parallel block, the model and the optimizer, not the batch: one
  // verdict serves every batch size and accumulation of a parallel layout.
  const key =
    verdicts &&
    `${layout.data}/${layout.tensor}/${layout.pipeline}/${layout.zero}/${layout.offload}/${layout.checkpoint}/${layout.microBatches}/${layout.schedule}/${layout.virtualStages}`;
  const known = key === undefined ? undefined : verdicts!.get(key);
  if (known !== undefined) return known;
  let verdict: string | null = null;
  try {
    checkLayout(layoutConfig(config, layout), ranks);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    verdict = error.message;
  }
  if (key !== undefined) verdicts!.set(key, verdict);
  return verdict;
}

/**
 * Every layout of `config`'s model on `ranks` ranks for a global batch of `globalBatch` samples
 * per optimizer step that turbine runs: data × tensor × pipeline = ranks, each ZeRO stage,
 * offload, checkpointing, accumulation and pipeline micro-batches and schedules from `space`.
 *
 * @example enumerateLayouts(config, 8, 256, describeModel(config.model, 65)).length
 */
export function enumerateLayouts(config: Config, ranks: number, globalBatch: number, model: ModelDescription, space: LayoutSpace = FULL_SPACE): Layout[] {
  // Most candidates are refused by a thrown ConfigError; without stack traces a refusal costs
  // microseconds instead of tens of them (a 32-rank space has tens of thousands of candidates).
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return candidates(config, ranks, globalBatch, model, space);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

function candidates(config: Config, ranks: number, globalBatch: number, model: ModelDescription, space: LayoutSpace): Layout[] {
  const layouts: Layout[] = [];
  const verdicts = new Map<string, string | null>();
  for (const tensor of divisors(ranks)) {
    for (const pipeline of divisors(ranks / tensor)) {
      const data = ranks / (tensor * pipeline);
      if (globalBatch % data !== 0) continue;
      const perRank = globalBatch / data;
      for (const accumulate of divisors(perRank, space.maxAccumulate)) {
        const batchSize = perRank / accumulate;
        const pipes =
          pipeline === 1
            ? [{ microBatches: 1, schedule: config.parallel.schedule, virtualStages: 1 }]
            : space.schedules.flatMap((schedule) =>
                divisors(batchSize, space.maxMicroBatches).map((microBatches) => ({
                  microBatches,
                  schedule,
                  virtualStages: schedule === "interleaved" ? config.parallel.virtualStages : 1,
                })),
              );
        for (const pipe of pipes)
          for (const zero of space.zero)
            for (const offload of space.offload)
              for (const checkpoint of space.checkpoint) {
                const layout: Layout = { data, tensor, pipeline, zero, offload, checkpoint, accumulate, batchSize, ...pipe };
                if (layoutRefusal(config, layout, ranks, model, verdicts) === null) layouts.push(layout);
              }
      }
    }
  }
  return layouts;
}
