import { add } from "../../ops/binary.js";
import { linear } from "../../ops/matmul.js";
import type { Linear } from "../../nn/linear.js";
import { release } from "../../tensor/scope.js";
import type { Tensor } from "../../tensor/tensor.js";
import type { ProcessGroup } from "../process_group.js";
import { reduceFromRegion, reduceScatterToRegion } from "../region_ops.js";
import { TensorParallelModule } from "./parallel_module.js";
import { splitOf } from "./split.js";

/**
 * Megatron's row-parallel Linear: this rank holds its chunk of the input features (columns of
 * the [out, in] weight) and takes its chunk of x (a column-parallel layer's output); the ranks'
 * partial products are summed by Megatron's g (all-reduce), or with `sequenceParallel`
 * reduce-scattered so each rank keeps its chunk of the rows. The bias is replicated and added
 * after the sum. Built from a full Linear's weights as ColumnParallelLinear.
 * @example const proj = new RowParallelLinear(deferInit(() => new Linear(1024, 256)), tp);   // [.., 1024/t] -> [.., 256]
 */
export class RowParallelLinear extends TensorParallelModule {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    full: Linear,
    group: ProcessGroup,
    readonly options: { sequenceParallel?: boolean } = {},
  ) {
    super(group);
    const split = { dim: 1, blocks: 1 };
    this.weight = this.addSplitParameter("weight", splitOf(full.weight, split, group), split, full.weight.shape);
    this.bias = this.addParameter("bias", full.bias);
  }

  forward(x: Tensor): Tensor {
    const partial = linear(x, this.weight, null);
    const summed = this.options.sequenceParallel ? reduceScatterToRegion(partial, this.group, { dim: 0 }) : reduceFromRegion(partial, this.group);
    if (!this.bias) return release(summed, partial);
    return release(add(summed, this.bias), partial, summed);
  }
}
