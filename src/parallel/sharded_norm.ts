import type { NormCombine } from "../optim/clip.js";
import { tensor } from "../tensor/create.js";
import type { ProcessGroup } from "./process_group.js";

/**
 * The NormCombine of ranks that each hold a different shard of the gradients: this rank's sum
 * of squares (or largest |g|) is all-reduced over the group, so clipping scales every shard by
 * the norm of the whole model's gradients. Every rank of the group must call it together.
 *
 * @example
 * // each rank holds its own slice of the gradients (ZeRO-2):
 * const norm = clipGradNorm(myShardParams, 1.0, 2, shardedNorm(group));
 */
export function shardedNorm(group: ProcessGroup): NormCombine {
  return (partial, op) => {
    // float32, as PyTorch's all-reduce of the norm: 7 digits are plenty for a clip factor.
    const value = tensor([partial]);
    try {
      group.allReduce(value, op);
      return value.item();
    } finally {
      value.dispose();
    }
  };
}
