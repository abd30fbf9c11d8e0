import type { Machine } from "../plan/cluster.js";
import { describeLayout, plan, type PlannedLayout } from "../plan/planner.js";
import { layoutConfig, layoutOf } from "../plan/layouts.js";
import type { Config } from "../train/config.js";

/** What a lever may look at besides the config: the ranks the trials run on and, for the planner, this machine. */
export interface TuneContext {
  /** Ranks of each trial (threads backend); 1 is one process. */
  ranks: number;
  /** CPU cores of this machine (loader workers share them with the training thread). */
  cores: number;
  /** This machine as the planner sees it (calibrated), for the parallel layout lever; null without ranks. */
  machine: Machine | null;
  /** Bytes of memory each rank may use (the planner keeps what fits). */
  memoryPerRank: number;
  /** The gpt's vocabulary size (1 for the classifiers). */
  vocab: number;
}

/**
 * One way to speed a config up ("accelerate"): `change` says why it does not apply to this
 * config (a sentence) or returns the changed config and what it changed, in a few words.
 */
export interface Lever {
  name: string;
  change(config: Config, context: TuneContext): { config: Config; what: string } | string;
}

const precision: Lever = {
  name: "precision",
  change(config) {
    if (config.train.precision !== "float32") return `already ${config.train.precision}`;
    return { config: { ...config, train: { ...config.train, precision: "bfloat16" } }, what: "train.precision bfloat16" };
  },
};

const compiledStep: Lever = {
  name: "compiled step",
  change(config) {
    if (config.train.compile) return "already on";
    return { config: { ...config, train: { ...config.train, compile: true } }, what: "train.compile true" };
  },
};

const loaderWorkers: Lever = {
  name: "loader workers",
  change(config, { cores }) {
    const data = config.data;
    if (!("numWorkers" in data)) return `data.kind ${data.kind} has no loader workers`;
    if (data.numWorkers > 0) return `already ${data.numWorkers} workers`;
    // Leave a core to the training thread's kernels.
    const workers = Math.max(1, Math.min(4, cores - 1));
    return { config: { ...config, data: { ...data, numWorkers: workers } } as Config, what: `data.numWorkers ${workers}` };
  },
};

const largerMicroBatches: Lever = {
  name: "batch size",
  change(config) {
    const k = config.train.accumulate;
    if (k % 2 !== 0) return `train.accumulate ${k}: no larger batch keeps the global batch`;
    const batchSize = config.data.batchSize * 2;
    return {
      config: { ...config, data: { ...config.data, batchSize }, train: { ...config.train, accumulate: k / 2 } } as Config,
      what: `data.batchSize ${batchSize} × train.accumulate ${k / 2}`,
    };
  },
};

const checkpointing: Lever = {
  name: "activation checkpointing",
  change(config) {
    if (config.model.kind !== "gpt") return `model.kind ${config.model.kind} has no checkpointing`;
    if (config.model.checkpoint) return "already on";
    return { config: { ...config, model: { ...config.model, checkpoint: true } }, what: "model.checkpoint true" };
  },
};

const compression: Lever = {
  name: "gradient compression",
  change(config, { ranks }) {
    if (ranks === 1) return "1 rank: no gradients to send";
    const p = config.parallel;
    const layout = layoutOf(config, ranks);
    if (layout.data === 1) return "no data parallelism";
    if (layout.zero !== 0 || layout.tensor > 1 || layout.pipeline > 1) return "compression hooks plain DDP (zero 0, no tensor or pipeline)";
    if (p.compression.kind !== "none") return `already ${p.compression.kind}`;
    return { config: { ...config, parallel: { ...p, compression: { ...p.compression, kind: "bf16" } } }, what: "parallel.compression bf16" };
  },
};

const parallelLayout: Lever = {
  name: "parallel layout",
  change(config, { ranks, machine, memoryPerRank, vocab }) {
    if (ranks === 1 || !machine) return "1 rank: nothing to lay out";
    const current = layoutOf(config, ranks);
    const globalBatch = current.data * current.batchSize * current.accumulate;
    let best: PlannedLayout | undefined;
    try {
      best = plan(config, { ranks, memoryPerRank, machine, globalBatch, vocab, current }).fitting[0];
    } catch (error) {
      if (error instanceof RangeError) return error.message;
      throw error;
    }
    if (!best) return "the planner finds no layout that fits";
    if (describeLayout(best.layout) === describeLayout(current)) return `the planner's choice is the config's (${describeLayout(current)})`;
    return { config: layoutConfig(config, best.layout), what: describeLayout(best.layout) };
  },
};

/**
 * The levers `turbine tune` tries, in order: the seeds' compute levers first (bf16 autocast, the
 * compiled step's replay without the framework's per-op work), then data (loader workers), batch size with accumulation (the global batch kept), memory
 * (activation checkpointing: faster only when memory was the limit), and with ranks
 * communication (compression) and the planner's parallel layout.
 *
 * @example for (const lever of LEVERS) console.log(lever.name, lever.change(config, context));
 */
export const LEVERS: readonly Lever[] = [precision, compiledStep, loaderWorkers, largerMicroBatches, checkpointing, compression, parallelLayout];
