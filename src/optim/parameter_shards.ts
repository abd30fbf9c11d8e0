import type { Tensor } from "../tensor/tensor.js";

/** Where a tensor an optimizer updates lies in the whole parameter it is a slice of. */
export interface SliceOfParameter {
  /** The whole model parameter (its shape; under ZeRO-3 it may hold no values). */
  readonly whole: Tensor;
  /** The whole parameter's number, the same on every rank: 0 ≤ index < parameterCount. */
  readonly index: number;
  /** The slice's first element in the whole parameter (flat, row-major). */
  readonly start: number;
}

/**
 * What a strategy that hands an optimizer 1-D slices of its parameters (ZeRO's shards) tells it,
 * so an update that needs quantities of each whole parameter can get them from the other ranks:
 * LAMB's per-tensor norms (sumOverRanks of per-slice partial sums) and Muon's whole momentum
 * matrices (gatherWhole). Elementwise optimizers ignore it. Every rank's optimizer calls the
 * collective methods in the same order with the same arguments' sizes, as any collective.
 *
 * @example
 * const partial = new Float32Array(shards.parameterCount);
 * for (const p of sliceTensors) partial[shards.sliceOf(p)!.index] += sumOfSquares(p);
 * shards.sumOverRanks(partial);   // each whole parameter's Σ w², on every rank
 */
export interface ParameterShards {
  /** The slice `t` (a tensor of the optimizer's groups) is of its whole parameter; undefined for a tensor that is not a slice. */
  sliceOf(t: Tensor): SliceOfParameter | undefined;
  /** Whole parameters the slices' `index` numbers. */
  readonly parameterCount: number;
  /** The whole parameters group `group` of the optimizer held before slicing: the same on every rank, whichever slices this rank holds. */
  wholeParams(group: number): readonly Tensor[];
  /** Adds `values` element-wise over the ranks, in place (every rank calls it with as many values). */
  sumOverRanks(values: Float32Array): void;
  /**
   * The whole values of each `wanted` parameter this rank holds a slice of (a new float32 tensor of
   * the parameter's shape, the caller's to dispose), assembled from every rank's `valuesOf` of its
   * slices (a tensor of the slice's length, or null for zeros). Every rank calls it with the
   * same `wanted` (a test on whole parameters, true for the same ones on every rank).
   */
  gatherWhole(wanted: (whole: Tensor) => boolean, valuesOf: (slice: Tensor) => Tensor | null): Map<Tensor, Tensor>;
}
