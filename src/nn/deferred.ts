import { materializeInPlace, materializeRange, materializeSlice } from "../tensor/materialize.js";
import type { Tensor } from "../tensor/tensor.js";
import { withDeferredInit } from "../tensor/init_recipe.js";
import type { Module } from "./module.js";

/**
 * Builds a module without allocating its weights: inside fn the creation functions (zeros,
 * ones, full, empty) make meta tensors (shape and dtype, no memory) and the init schemes record
 * their fills and random draws, reserving the generator's counters as eager init does. The
 * module's parameters are then materialised whole (`materialize`) or a rank takes only its
 * shard (`materializeShard`), with the values eager init gives on the same seed.
 *
 * @example
 * manualSeed(0);
 * const model = nn.deferInit(() => new models.GPT(config));   // no weight memory yet
 * nn.materialize(model);                                        // as `new models.GPT(config)`
 */
export function deferInit<T>(fn: () => T): T {
  return withDeferredInit(fn);
}

/**
 * Gives every meta parameter and buffer of a module its elements, in place (the module's fields
 * keep pointing at them).
 * @example nn.materialize(model);
 */
export function materialize(module: Module): void {
  for (const [, t] of [...module.namedParameters(), ...module.namedBuffers()]) if (t.isMeta) materializeInPlace(t);
}

/** Which part of a parameter one rank holds. */
export type Shard =
  /** Flat elements [start, end) (row-major), as sharded data parallelism splits a flat buffer. */
  | { start: number; end: number }
  /** Chunk `index` of `parts` equal chunks along `dim` (a tensor-parallel rank's columns or rows). */
  | { dim: number; index: number; parts: number };

/**
 * The values of one shard of a meta parameter (built under deferInit), as a new tensor: the
 * elements eager init gives it on the same seed, without materialising the rest.
 * @example const mine = nn.materializeShard(model.fc.weight, { dim: 0, index: rank, parts: ranks });
 */
export function materializeShard(t: Tensor, shard: Shard): Tensor {
  if ("dim" in shard) return materializeSlice(t, shard.dim, shard.index, shard.parts);
  return materializeRange(t, shard.start, shard.end - shard.start);
}
