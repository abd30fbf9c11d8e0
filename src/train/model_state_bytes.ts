import type { Module } from "../nn/module.js";
import type { Optimizer } from "../optim/optimizer.js";
import type { MemoryReport } from "../tensor/memory.js";

/** A rank's model states in bytes: parameters (with bf16 copies), gradients, optimizer state in memory and on disk (with offloaded masters). */
export interface ModelStateBytes {
  parameters: number;
  gradients: number;
  /** Optimizer state held in memory (Adam's two moments; in turbine the f32 parameters are the master weights). */
  optimizer: number;
  /** Optimizer state, and any offloaded f32 master weights, in the offload file (parallel.offload "disk"), not in memory. */
  offloaded: number;
  /** parameters + gradients + optimizer: what the rank holds in memory. */
  resident: number;
}

export interface ModelStateLayout {
  /** Ψ: parameter elements of the whole model. */
  parameters: number;
  /** L: elements of the largest parameter (its own gradient is whole before ZeRO moves it into a unit). Default 0. */
  largestParameter?: number;
  /**
   * B: elements of the largest communication unit (a DDP bucket, a ZeRO unit; at least the
   * largest parameter's): its buffer is the in-flight part of the gradients. Default: Ψ capped at
   * 25 MiB (the default bucket), 0 on one rank at stage 0.
   */
  bucketElements?: number;
  /**
   * G, stage 3: parameter elements gathered whole at once: the unit in use and the prefetched one
   * (a unit is freed when the module that may still read it returns, its parent, or itself
   * inside a Sequential, and backward gathers it again). Default 2B.
   */
  gatheredElements?: number;
  /** Elements of the parameters autocast keeps a bf16 copy of (the weights of low-precision ops; 0 in float32). */
  lowPrecisionParameters?: number;
  /** N: data-parallel ranks the states are sharded over. */
  ranks?: number;
  /** ZeRO stage: 0 replicates everything (one process, DDP), 1 shards the optimizer state and master weights, 2 also the gradients, 3 also the parameters. */
  stage?: 0 | 1 | 2 | 3;
  /** The optimizer state in a file instead of memory. */
  offload?: "none" | "disk";
  /**
   * M, stage 0 with offload "disk" under bf16 autocast: elements whose f32 master weights are in
   * the file too (the weights forward reads only through their bf16 copies). Default 0.
   */
  offloadedMasters?: number;
  /** float32 state values per parameter element: 2 for Adam/AdamW, 1 for SGD with momentum. */
  stateValues?: number;
}

/** Elements of the default 25 MiB bucket of DDP and ZeRO. */
const DEFAULT_BUCKET_ELEMENTS = (25 * 2 ** 20) / 4;

/**
 * The peak model-state bytes one rank holds, by turbine's layout: float32 parameters that are
 * the master weights at stage 0 (autocast adds a bf16 copy, 2 bytes, of each low-precision op's
 * weight), float32 gradients, Adam's two float32 moments. A sharded tensor takes S = ⌈Ψ/N⌉
 * elements per rank (units are padded to a multiple of N, so any N works). Peaks, so the
 * transient buffers of a step count: B, the largest unit's flat buffer in flight, and L, a
 * parameter's own whole gradient before ZeRO moves it into its unit.
 *
 * | stage | parameters | gradients | optimizer |
 * |---|---|---|---|
 * | 0 | 4Ψ + 2Ψ_low (4(Ψ − M) + 2Ψ_low offloaded) | 4Ψ + 4B (B = 0 on one rank) | 8Ψ |
 * | 1 | 4Ψ + 4S + 4Ψ + 2Ψ_low | 4Ψ + 4S + 4L | 8S |
 * | 2 | 4Ψ + 4S + 4Ψ + 2Ψ_low | 4S + 4L + 4B | 8S |
 * | 3 | 4S + 4G (4S + 6G under bf16) | 4S + 4L + 4B | 8S |
 *
 * Stages 1 and 2 keep the whole f32 model for forward beside this rank's f32 master slice (4S)
 * and all-gather the updated slices through flat buffers of the whole model (the second 4Ψ,
 * during the step); stage 1 keeps the flat gradient buffers (4Ψ) from step to step, stage 2
 * frees each unit's after its reduce-scatter. Stage 3 holds only the f32 slices, plus the G
 * elements gathered for the modules in use (gatheredElements), which under bf16 autocast
 * travel as bf16 and are kept both ways (the bf16 copies and their f32 upcast). With offload
 * "disk" the optimizer column moves to `offloaded`, and at stage 0 under bf16 so do the M
 * offloaded masters' 4 bytes each (offloadedMasters). Activations are not model states.
 *
 * @example
 * modelStateBytes({ parameters: 1e9, ranks: 4, stage: 3, bucketElements: 0 }).optimizer   // 2e9 = 8 bytes × 1e9 / 4
 */
export function modelStateBytes(layout: ModelStateLayout): ModelStateBytes {
  const { parameters: psi, largestParameter: largest = 0, lowPrecisionParameters: low = 0, ranks = 1, stage = 0, offload = "none", stateValues = 2 } = layout;
  if (!Number.isInteger(ranks) || ranks < 1) throw new RangeError(`modelStateBytes: ranks must be an integer ≥ 1, got ${ranks}`);
  const masters = offload === "disk" && stage === 0 ? (layout.offloadedMasters ?? 0) : 0;
  const bucket = layout.bucketElements ?? (ranks === 1 && stage === 0 ? 0 : Math.max(largest, Math.min(psi, DEFAULT_BUCKET_ELEMENTS)));
  const gathered = layout.gatheredElements ?? 2 * bucket;
  const shard = Math.ceil(psi / ranks);
  const parameters = [4 * (psi - masters) + 2 * low, 8 * psi + 4 * shard + 2 * low, 8 * psi + 4 * shard + 2 * low, 4 * shard + (low > 0 ? 6 : 4) * gathered][
    stage
  ]!;
  const gradients = [4 * psi + 4 * bucket, 4 * psi + 4 * shard + 4 * largest, 4 * shard + 4 * largest + 4 * bucket, 4 * shard + 4 * largest + 4 * bucket][
    stage
  ]!;
  const state = 4 * stateValues * (stage === 0 ? psi : shard);
  const optimizer = offload === "disk" ? 0 : state;
  return { parameters, gradients, optimizer, offloaded: state - optimizer + 4 * masters, resident: parameters + gradients + optimizer };
}

/**
 * What the memory tracker measured of a rank's model states: the peak of each of its
 * parameter, gradient and optimizer categories, and the optimizer's bytes on disk.
 *
 * @example
 * const measured = measuredModelStateBytes(memory.report(), optimizer);
 */
export function measuredModelStateBytes(report: MemoryReport, optimizer: Optimizer<any>): ModelStateBytes {
  const { parameter, gradient, optimizer: state } = report.peak;
  return { parameters: parameter, gradients: gradient, optimizer: state, offloaded: optimizer.offloadedBytes(), resident: parameter + gradient + state };
}

/** Ψ of a module: its parameters' elements. @example parameterCount(model) // 818,944 */
export function parameterCount(model: Module): number {
  return model.parameters().reduce((n, p) => n + p.size, 0);
}

/** L of a module: its largest parameter's elements. @example largestParameter(model) // 262,144 */
export function largestParameter(model: Module): number {
  return model.parameters().reduce((n, p) => Math.max(n, p.size), 0);
}
