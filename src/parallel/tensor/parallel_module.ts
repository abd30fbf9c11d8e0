import { Module } from "../../nn/module.js";
import type { Tensor } from "../../tensor/tensor.js";
import type { ProcessGroup } from "../process_group.js";
import type { TensorSplit } from "./split.js";

/** How a rank's parameter is cut from the full one, and the full one's shape. */
export interface SplitParameter {
  split: TensorSplit;
  shape: readonly number[];
}

/**
 * A module whose parameters are split across a tensor-parallel group: each split parameter
 * records how it is cut from the full model's (the strategy gathers checkpoints and sums
 * gradient norms with it); a parameter without a split is replicated on every rank.
 */
export abstract class TensorParallelModule extends Module {
  /** The split of each of this module's own split parameters, and the full parameter's shape. */
  readonly splits = new Map<Tensor, SplitParameter>();

  protected constructor(readonly group: ProcessGroup) {
    super();
  }

  /** Registers a parameter that is this rank's part of a full one. */
  protected addSplitParameter(name: string, t: Tensor, split: TensorSplit, shape: readonly number[]): Tensor {
    this.splits.set(this.addParameter(name, t), { split, shape: [...shape] });
    return t;
  }
}

/**
 * The split of every split parameter of a module tree (tensor-parallel modules anywhere in it).
 * @example const splits = splitsOf(model);   // Map<parameter, SplitParameter>
 */
export function splitsOf(module: Module): Map<Tensor, SplitParameter> {
  const out = new Map<Tensor, SplitParameter>();
  for (const [, m] of module.namedModules()) if (m instanceof TensorParallelModule) for (const [t, s] of m.splits) out.set(t, s);
  return out;
}
