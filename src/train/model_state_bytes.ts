import type { Module } from "../nn/module.js";
import type { Optimizer } from "../optim/optimizer.js";
import type { MemoryReport } from "../tensor/memory.js";

/** A rank's model states in bytes: parameters (with bf16 copies), gradients, optimizer state in memory and on disk. */
export interface ModelStateBytes {
  parameters: number;
  gradients: number;
  /** Optimizer state held in memory (Adam's two moments; in turbine the f32 parameters are the master weights). */
  optimizer: number;
  /** Optimizer state in the offload file (parallel.offload "disk"), not in memory. */
  offloaded: number;
  /** parameters + gradients + optimizer: what the rank holds in memory. */
  resident: number;
}

export interface ModelStateLayout {
  /** Ψ: parameter elements of the whole model. */
  parameters: number;
  /** Elements of the parameters autocast keeps a bf16 copy of (the weights of low-precision ops; 0 in float32). */
  lowPrecisionParameters?: number;
  /** N: data-parallel ranks the states are sharded over. */
  ranks?: number;
  /** ZeRO stage: 0 replicates everything, 1 shards the optimizer state, 2 also the gradients, 3 also the parameters. */
  stage?: 0 | 1 | 2 | 3;
  /** The optimizer state in a file instead of memory. */
  offload?: "none" | "disk";
  /** float32 state values per parameter element: 2 for Adam/AdamW, 1 for SGD with momentum. */
  stateValues?: number;
}

/**
 * The model-state bytes one rank holds, by turbine's layout: float32 parameters that are also
 * the master weights (4Ψ; autocast adds a bf16 copy, 2 bytes, of each low-precision op's
 * weight), float32 gradients (4Ψ) and Adam's two float32 moments (8Ψ). A sharded part takes
 * ⌈Ψ/N⌉ elements per rank (padded, so any N works):
 *
 * | stage | parameters | gradients | optimizer |
 * |---|---|---|---|
 * | 0 | 4Ψ + 2Ψ_low | 4Ψ | 8Ψ |
 * | 1 | 4Ψ + 2Ψ_low | 4Ψ | 8⌈Ψ/N⌉ |
 * | 2 | 4Ψ + 2Ψ_low | 4⌈Ψ/N⌉ | 8⌈Ψ/N⌉ |
 * | 3 | 4⌈Ψ/N⌉ + 2⌈Ψ_low/N⌉ | 4⌈Ψ/N⌉ | 8⌈Ψ/N⌉ |
 *
 * With offload "disk" the optimizer column moves to `offloaded`. Not counted: activations,
 * communication buckets and, at stage 3, the layers gathered for the moment.
 *
 * @example
 * modelStateBytes({ parameters: 1e9, ranks: 4, stage: 3 }).resident   // 4e9 = 16 bytes × 1e9 / 4
 */
export function modelStateBytes(layout: ModelStateLayout): ModelStateBytes {
  const { parameters: psi, lowPrecisionParameters: low = 0, ranks = 1, stage = 0, offload = "none", stateValues = 2 } = layout;
  if (!Number.isInteger(ranks) || ranks < 1) throw new RangeError(`modelStateBytes: ranks must be an integer ≥ 1, got ${ranks}`);
  const shard = (elements: number): number => Math.ceil(elements / ranks);
  const parameters = stage === 3 ? 4 * shard(psi) + 2 * shard(low) : 4 * psi + 2 * low;
  const gradients = 4 * (stage >= 2 ? shard(psi) : psi);
  const state = 4 * stateValues * (stage >= 1 ? shard(psi) : psi);
  const optimizer = offload === "disk" ? 0 : state;
  return { parameters, gradients, optimizer, offloaded: state - optimizer, resident: parameters + gradients + optimizer };
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
