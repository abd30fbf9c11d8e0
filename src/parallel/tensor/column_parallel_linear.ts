import { linear } from "../../ops/matmul.js";
import type { Linear } from "../../nn/linear.js";
import type { Tensor } from "../../tensor/tensor.js";
import type { ProcessGroup } from "../process_group.js";
import { copyToRegion, gatherFromRegion } from "../region_ops.js";
import { TensorParallelModule } from "./parallel_module.js";
import { splitOf } from "./split.js";

export interface ColumnParallelOptions {
  /**
   * The output features as consecutive blocks each split by ranks (3 for a packed q, k, v
   * projection, so every rank gets whole heads of each); default 1.
   */
  blocks?: number;
  /**
   * The input is this rank's chunk of the rows (sequence parallelism): all-gathered before the
   * matmul, its gradient reduce-scattered back. Default false: the input is replicated and
   * enters through Megatron's f (its gradient all-reduced).
   */
  sequenceParallel?: boolean;
}

/**
 * Megatron's column-parallel Linear: this rank holds its chunk of the output features (rows of
 * the [out, in] weight, and of the bias) and computes its chunk of y = x·Wᵀ + b. Built from a
 * full Linear's weights (meta ones, under deferInit, give meta chunks that `nn.materialize`
 * fills with this rank's part only), so any group size starts from the same model. An output size that does not divide by
 * the ranks is padded with zero rows (a vocabulary head); only with one block.
 * @example const fc = new ColumnParallelLinear(deferInit(() => new Linear(256, 1024)), tp);   // [.., 256] -> [.., 1024/t]
 */
export class ColumnParallelLinear extends TensorParallelModule {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly sequenceParallel: boolean;

  constructor(full: Linear, group: ProcessGroup, options: ColumnParallelOptions = {}) {
    super(group);
    const split = { dim: 0, blocks: options.blocks ?? 1 };
    this.sequenceParallel = options.sequenceParallel ?? false;
    this.weight = this.addSplitParameter("weight", splitOf(full.weight, split, group), split, full.weight.shape);
    this.bias = full.bias ? this.addSplitParameter("bias", splitOf(full.bias, split, group), split, full.bias.shape) : null;
  }

  forward(x: Tensor): Tensor {
    const input = this.sequenceParallel ? gatherFromRegion(x, this.group, { dim: 0, backward: "reduceScatter" }) : copyToRegion(x, this.group);
    const out = linear(input, this.weight, this.bias);
    input.dispose();
    return out;
  }
}
